"""nb02's projection at its start: hours per fold and the 12-hour sessions the run needs.

:func:`log_projection` feeds this run's rows (nb01's clips and labelled windows, a fold's
share), epochs, folds and processes to the planner's arithmetic
(:func:`common.budget.model.train_projection`) with the measured speeds of this device (a
device without figures of its own is projected as Kaggle's T4) and logs the result, so a
long run says up front how many sessions it will take to resume through.
"""

from __future__ import annotations

import logging

import torch

from common.budget.facts import device_name, load_limits, load_throughputs
from common.budget.model import Projection, train_projection
from common.budget.speeds import training_speeds
from common.data.prep_data import PrepData
from common.stages.train.config import TrainConfig

log = logging.getLogger(__name__)

__all__ = ["log_projection"]


def log_projection(cfg: TrainConfig, prep: PrepData, n_folds: int, n_processes: int,
                   device: torch.device) -> Projection | None:
    """Log (and return) the run's projection; ``None`` when no speed is known for the model."""
    thr, lim = load_throughputs(), load_limits()
    backbone = cfg.model.backbone
    try:
        speeds, key = training_speeds(thr, device_name(device), backbone,
                                      max(1, lim.cpu_cores // max(1, n_processes)))
        checkpoint_gb = thr.rate("checkpoint_mb", "any", backbone) / 1e3
    except KeyError as err:
        log.info("budget: no projection (%s)", err)
        return None
    k = max(1, prep.n_folds)
    labelled = len(prep.soundscape_df) * cfg.data.use_soundscapes
    rows = int((k - 1) / k * (len(prep.train_df) + labelled * cfg.data.soundscape_repeats))
    if cfg.optim.max_steps_per_epoch > 0:
        rows = min(rows, cfg.optim.max_steps_per_epoch * cfg.optim.batch_size)
    session = cfg.session.session_hours or lim.session_hours
    proj = train_projection(rows, int((len(prep.train_df) + labelled) / k), cfg.optim.epochs,
                            n_folds, max(1, n_processes), speeds, session,
                            lim.gpu_weekly_hours, checkpoint_gb, lim.output_gb,
                            f"{n_folds} folds x {cfg.optim.epochs} epochs x {rows} rows")
    log.info("budget: %s projected at %.1f h on %d process(es) (%s speeds): %s", proj.work,
             proj.hours, n_processes, key, "; ".join(proj.notes))
    for problem in proj.problems:
        log.warning("budget: %s", problem)
    return proj
