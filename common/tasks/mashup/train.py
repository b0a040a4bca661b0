"""nb02 for the mashup task: whole clips in, one genre per clip out.

- :func:`fold_data`: the training mashups of the other folds (random 5-s crops, set by the
  task's ``data.crop_mode``), validated on every 5-s window of the fold's held-out mashups;
  the background is nb01's cached noise clips;
- :func:`make_validation`: :class:`common.stages.train.validation.ClipValidation`, windows
  pooled per clip and scored by :func:`common.tasks.mashup.baselines.clip_scores` (macro F1
  picks the epoch; accuracy is reported);
- :func:`summarize_training`: the clip OOF (``oof_clips.csv``), per-genre F1, confusion
  matrices, and with ``feature_baseline`` the feature models and their OOF blend
  (:func:`common.tasks.mashup.baselines.report_clip_models`);
- :func:`check_train_config`: refuses what makes multi-label targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from common.core.runtime import resolve_workers
from common.data.loaders import AudioSource
from common.data.prep_data import PrepData
from common.data.windows import WindowItems, clip_window_items
from common.stages.train.items import (
    FoldData,
    background_items,
    held_out_focal,
    training_items,
)
from common.stages.train.summary import TaskSummary, nanmean, read_fold_csvs
from common.stages.train.validation import SCORE_LABELS, ClipValidation
from common.tasks.mashup.baselines import clip_scores, report_clip_models

if TYPE_CHECKING:
    from common.tasks.base import Task
    from common.tasks.mashup.train_config import MashupTrainConfig

__all__ = ["check_train_config", "fold_data", "make_validation", "summarize_training"]


def check_train_config(task: Task, cfg: MashupTrainConfig) -> None:
    """One genre per clip: no in-batch soundscape simulation (it unions the mixed clips'
    labels), no binary label smoothing, no (multi-label) soundscape windows."""
    problems = []
    if cfg.wave_augment.p_simulate > 0:
        problems.append("wave_augment.p_simulate=0 (the soundscape simulator unions labels)")
    if cfg.wave_augment.label_smoothing > 0:
        problems.append("wave_augment.label_smoothing=0 (binary smoothing; use label_smoothing)")
    if cfg.data.use_soundscapes:
        problems.append("use_soundscapes=false (soundscape windows are multi-label)")
    if problems:
        raise ValueError(f"the single-label task {task.name!r} needs " + ", ".join(problems))


def fold_data(cfg: MashupTrainConfig, prep: PrepData, fold: int) -> FoldData:
    """Training mashups of the other folds; every window of the fold's mashups held out."""
    held_out = prep.train_df["fold"].astype(int).to_numpy() == fold
    return FoldData(
        train=training_items(cfg, prep, fold),
        val_soundscapes=WindowItems.concat([], len(prep.classes)),
        val_focal=held_out_focal(cfg, prep, fold),
        background_df=background_items(cfg, prep, []),
        val_clips=clip_window_items(prep.train_df[held_out], prep.index_df, prep.classes,
                                    cfg.frontend.clip_seconds))


def make_validation(task: Task, source: AudioSource, *, clips: WindowItems | None,
                    clip_samples: int, batch_size: int, fold: int,
                    classes: list[str]) -> ClipValidation:
    """Windows of the held-out clips pooled per clip, scored with the task metric."""
    if clips is None:
        raise ValueError(f"task {task.name!r} validates whole clips: pass the held-out "
                         "clips' windows (common.data.windows.clip_window_items)")

    def score(keys, targets, probs):
        return clip_scores(task, keys, targets, probs, classes)

    return ClipValidation(clips, source, score=score,
                          score_names=(f"val_{task.metric}", "val_accuracy"),
                          clip_samples=clip_samples, batch_size=batch_size, task=task,
                          fold=fold, classes=classes)


def summarize_training(cfg: MashupTrainConfig, prep: PrepData, fold_dirs: list[Path],
                       summary_df: pd.DataFrame) -> TaskSummary:
    """Clip OOF of the CNN, its scores and the feature baseline's (see the module doc)."""
    task, classes = cfg.task_spec, prep.classes
    selection = f"val_{task.metric}"
    parts = read_fold_csvs(fold_dirs, "oof_clips.csv", dtype={"key": str})
    oof_df = (pd.concat(parts, ignore_index=True) if parts
              else pd.DataFrame(columns=["key", "fold", *classes]))[["key", "fold", *classes]]
    oof_df.to_csv(cfg.output_dir / "oof_clips.csv", index=False)
    clip_report = report_clip_models(
        prep, oof_df, cfg.output_dir, task=task,
        feature_models=cfg.feature_models if cfg.feature_baseline else (),
        workers=resolve_workers(cfg.feature_workers), seed=cfg.seed)
    return TaskSummary(
        oof_df=oof_df, per_class_df=clip_report.per_class_df,
        model_scores_df=clip_report.scores_df,
        report={f"mean_fold_{selection}": nanmean(summary_df.get(selection)),
                **clip_report.report},
        figures=clip_report.figures, weakest_by="f1_cnn",
        curves={selection: f"{SCORE_LABELS.get(selection, selection)} (clips)",
                "val_accuracy": "val accuracy (clips)"})
