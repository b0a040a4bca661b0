"""nb03 inside one session: sized at its start, kept round by round, from the notebook's start.

:func:`pseudo_work` turns this run's real counts (files to score, teacher models, training
rows) and the measured throughputs into a :class:`common.budget.fit.PseudoWork`;
:func:`fit_to_session` cuts ``max_windows``, ``student_epochs`` and ``rounds`` until the
projection fits ``session_hours`` (:func:`common.budget.fit.fit_pseudo`);
:func:`round_fits` says whether one more round fits the time left before the deadline, which
counts from the notebook's start (:class:`common.budget.clock.Deadline`), not the round's.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import torch

from common.budget.clock import Deadline
from common.budget.facts import Throughputs, device_name, load_limits, load_throughputs
from common.budget.fit import PUBLISH_RESERVE_HOURS, PseudoChoice, PseudoWork, fit_pseudo
from common.budget.speeds import training_speeds
from common.data.prep_data import PrepData
from common.model.frontend import FrontendConfig
from common.stages.infer.tta import fold_duplicate_views
from common.stages.pseudo.config import PseudoConfig
from common.stages.train.config import TrainConfig

log = logging.getLogger(__name__)

__all__ = ["fit_to_session", "pseudo_work", "round_fits", "windows_per_file"]


def pseudo_work(cfg: PseudoConfig, teacher: TrainConfig, prep: PrepData, n_files: int,
                windows_per_file: int, n_members: int, device: torch.device,
                thr: Throughputs | None = None) -> PseudoWork:
    """The counts and speeds behind this run's hours (see :class:`PseudoWork`).

    ``n_files`` files of ``windows_per_file`` windows are scored by ``n_members`` models;
    students train on a fold's share of nb01's clips and labelled windows plus the pseudo
    windows, with the teacher's recipe (``teacher``).
    """
    thr = thr or load_throughputs()
    cores = load_limits().cpu_cores
    n_gpus = max(1, torch.cuda.device_count())
    k = max(1, prep.n_folds)
    labelled = len(prep.soundscape_df) * teacher.data.use_soundscapes
    base_rows = int((k - 1) / k * (len(prep.train_df) + labelled * teacher.data.soundscape_repeats))
    frontend: FrontendConfig = teacher.frontend
    speeds, key = training_speeds(thr, device_name(device), teacher.model.backbone,
                                  cores // n_gpus)
    log.info("budget: nb03 projected with %s speeds (%s)", key,
             thr.source("train_step", key, teacher.model.backbone))
    return PseudoWork(
        pool_windows=n_files * windows_per_file, n_members=n_members,
        n_passes=len(fold_duplicate_views(cfg.predict.views, frontend)),
        score_rate=speeds.evaluate,
        decode_seconds=n_files * windows_per_file * frontend.clip_seconds,
        decode_rate=thr.rate("decode", "kaggle_cpu"), cores=cores,
        base_train_rows=base_rows, val_rows=int((len(prep.train_df) + labelled) / k),
        n_folds=k, n_gpus=n_gpus,
        speeds=speeds,
        repeats=cfg.pseudo_repeats)


def fit_to_session(cfg: PseudoConfig, work: PseudoWork, teacher_epochs: int
                   ) -> tuple[PseudoConfig, PseudoChoice]:
    """``cfg`` with ``max_windows``, ``student_epochs`` and ``rounds`` that fit
    ``session_hours`` (unchanged when they already fit), and the choice, logged."""
    epochs = cfg.student_epochs or teacher_epochs
    choice = fit_pseudo(work, cfg.max_windows, epochs, cfg.rounds,
                        cfg.session_hours - PUBLISH_RESERVE_HOURS, cfg.min_windows,
                        cfg.min_student_epochs)
    log.info("budget: %s", choice.reason)
    if not choice.fits:
        log.warning("budget: nb03 is projected past session_hours=%g even at its floors; it "
                    "stops at the deadline and publishes the rounds it finished",
                    cfg.session_hours)
    asked_windows = cfg.max_windows if cfg.max_windows > 0 else work.pool_windows
    changes = {}
    if choice.windows < asked_windows:
        changes["max_windows"] = choice.windows
    if choice.epochs != epochs:
        changes["student_epochs"] = choice.epochs
    if choice.rounds != cfg.rounds:
        changes["rounds"] = choice.rounds
    return dataclasses.replace(cfg, **changes), choice


def round_fits(deadline: Deadline, work: PseudoWork | None, windows: int, epochs: int,
               train_student: bool) -> bool:
    """Whether one more round (scoring, and students when trained) is projected to end
    before ``deadline``; always true without a deadline or a projection."""
    if not deadline.enabled or work is None:
        return True
    score_h, student_h = work.round_hours(windows, epochs)
    needed = score_h + (student_h if train_student else 0.0) + PUBLISH_RESERVE_HOURS
    left = deadline.hours_left()
    if needed > left:
        log.warning("budget: the next round needs %.2f h but %.2f h are left of "
                    "session_hours=%g (counted from the notebook's start): stopping here",
                    needed, max(left, 0.0), deadline.hours)
        return False
    return True


def windows_per_file(clip_seconds: float, window_seconds: float) -> int:
    """Windows in one scored file (the last partial window counts)."""
    return max(1, math.ceil(clip_seconds / window_seconds))
