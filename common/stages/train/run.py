"""nb02, training: K-fold SED models, one per fold of nb01, with out-of-fold validation.

For every requested fold k the model trains on the other folds' rows (:mod:`.items`: focal or
training clips, labelled soundscape windows, nb01's always-train rows, any extra windows
tables) and is validated each epoch on fold k as the task decides (:mod:`.validation`):
BirdCLEF on every 5-s window of the held-out labelled soundscapes with the competition metric
(plus the held-out focal clips); a whole-clip task on the pooled windows of its held-out clips
with its metric. The selection score picks the epoch kept as ``*_best.pt`` (or the last epoch,
when the fold's validation is too small to choose by: ``optim.checkpoint_selection``).

Outputs in the working dir (published as the ``models`` dataset):

- ``<backbone-short>_fold<k>_best.pt`` / ``_last.pt``: self-describing checkpoints
  (:func:`common.model.checkpoint.save_checkpoint`; ``meta["classes"]`` = submission columns,
  ``meta["config"]`` = this config);
- ``training_log.csv`` (fold, epoch, lr, train loss, validation scores, seconds),
  ``fold_summary.csv``, ``train_config.json``, ``train_report.json``, ``figures/*.png``,
  ``dataset-metadata.json``, and the task's out-of-fold files (BirdCLEF:
  ``oof_soundscapes.csv``, ``oof_focal.csv``, ``per_class_auc.csv``; see the task's
  ``summarize_training``);
- ``tracking/``: the run in the experiment tracker (``tracking.tracker``: ``csv`` files by
  default, a Weights & Biases run with ``wandb``; :mod:`.track`);
- ``folds/<short>_fold<k>/``: per-fold history and OOF files, merged into the above
  (:mod:`.summary`);
- ``resume/<short>_fold<k>.pt``: the resume state, written atomically after every epoch and
  deleted once the fold is done (``keep_resume_state``). A stopped session (Kaggle's 12 h) run
  again with the same working dir continues where it stopped; ``--folds`` splits a run across
  sessions (:mod:`.resume`). On Kaggle the working dir starts empty: nb02 first copies back
  its previous output when it is attached as an input (``kaggle_push --resume``,
  :mod:`common.stages.restore`).

Several GPUs: folds train in parallel, one process per GPU (:mod:`.multigpu`); with one GPU or
on CPU the folds run one after the other here. The epoch loop is :mod:`.fold`.
"""

from __future__ import annotations

import json
import logging
import time

import torch

from common.budget.clock import stage_started_at
from common.core.config import save_config
from common.core.gpu import check_gpu
from common.data.prep_data import load_prep
from common.stages.train.budget import log_projection
from common.stages.train.config import TrainConfig, check_config, resolve_folds
from common.stages.train.distill import prepare_distill
from common.stages.train.items import check_sample_rate
from common.stages.train.layout import json_default
from common.stages.train.multigpu import prep_dir, resolve_processes, run_parallel, train_folds
from common.stages.train.summary import TrainResult, summarize_run
from common.stages.train.track import track_training

log = logging.getLogger(__name__)

__all__ = ["run_training"]


def run_training(cfg: TrainConfig) -> TrainResult:
    """Run nb02 for the requested folds, then merge every finished fold's outputs."""
    check_config(cfg)
    t0 = time.time()
    # Inputs first: a missing prep dataset or a rate mismatch stops here, before any write
    # (the log file included); then the GPU, before any training.
    prep = load_prep(prep_dir(cfg))
    check_sample_rate(cfg, prep)
    check_gpu("training")  # nb02, and each nb03 student
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "train_config.json")
    folds = resolve_folds(cfg, prep.n_folds)
    n_processes = resolve_processes(cfg, len(folds))
    distill = prepare_distill(cfg, prep) if cfg.distill.enabled else None
    log.info("training %s on folds %s with %d process(es); %d classes", cfg.model.backbone,
             list(folds), n_processes, len(prep.classes))
    log_projection(cfg, prep, len(folds), n_processes,
                   torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if n_processes > 1:
        run_parallel(cfg, folds, n_processes)
    else:
        # The session counts from the notebook's start (nb03 calls this once per round).
        train_folds(cfg, prep, folds, session_start=stage_started_at(t0), progress=True)
    result = summarize_run(cfg, prep)
    result.report["seconds"] = round(time.time() - t0, 1)
    if distill is not None:
        result.report["distill"] = distill
    (out / "train_report.json").write_text(json.dumps(result.report, indent=2,
                                                      default=json_default) + "\n")
    track_training(cfg, result)
    return result
