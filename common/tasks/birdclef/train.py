"""nb02 for BirdCLEF: what a fold trains and validates on, and the run's out-of-fold tables.

- :func:`fold_data`: the shared training rows (focal clips and labelled soundscape windows of
  the other folds, extra tables), validated on every 5-s window of the fold's labelled
  soundscapes and on its focal clips;
- :func:`make_validation`: :class:`common.stages.train.validation.WindowValidation`
  (soundscape macro ROC-AUC picks the epoch; the focal-clip AUC when a fold has no call);
- :func:`summarize_training`: the folds' ``oof_soundscapes.csv`` / ``oof_focal.csv`` merged,
  the CV estimate of the leaderboard metric over them, per-species AUC (``per_class_auc.csv``
  and its figure), and the log-mel logistic-regression reference on the same folds
  (:mod:`.reference`, ``oof_logreg.csv``), the floor the CNN must clear;
- :func:`check_train_config`: binary targets take ``wave_augment.label_smoothing``, not the
  cross-entropy smoothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.core.metrics import per_class_auc
from common.data.loaders import AudioSource
from common.data.prep_data import PrepData
from common.data.windows import WindowItems, soundscape_eval_items
from common.report import training_plots as plots
from common.report.plots import save_figure
from common.stages.train.items import (
    FoldData,
    background_items,
    held_out_focal,
    held_out_soundscape_files,
    training_items,
)
from common.stages.train.summary import TaskSummary, nanmean, read_fold_csvs
from common.stages.train.validation import WindowValidation, soundscape_auc
from common.tasks.birdclef.reference import logreg_reference

if TYPE_CHECKING:
    from common.stages.train.config import TrainConfig
    from common.tasks.base import Task

__all__ = ["check_train_config", "fold_data", "make_validation", "soundscape_truth",
           "summarize_training"]

OOF_COLUMNS = ("row_id", "key", "start_seconds")  # then the species, then "fold"


def check_train_config(task: Task, cfg: TrainConfig) -> None:
    """Multi-label targets are smoothed by the augmenter, not by the (softmax) loss."""
    if cfg.label_smoothing > 0:
        raise ValueError("label_smoothing is cross_entropy's (single-label); for the "
                         f"multi-label task {task.name!r} set wave_augment.label_smoothing")


def fold_data(cfg: TrainConfig, prep: PrepData, fold: int) -> FoldData:
    """Training rows of the other folds; the fold's labelled soundscapes (every window) and
    focal clips held out; background from every soundscape except the held-out ones."""
    val_files = held_out_soundscape_files(prep, fold)
    return FoldData(
        train=training_items(cfg, prep, fold),
        val_soundscapes=soundscape_eval_items(prep.soundscape_df, prep.index_df, prep.classes,
                                              val_files),
        val_focal=held_out_focal(cfg, prep, fold),
        background_df=background_items(cfg, prep, val_files))


def make_validation(task: Task, source: AudioSource, *, soundscapes: WindowItems,
                    focal: WindowItems, clip_samples: int, batch_size: int, fold: int,
                    classes: list[str]) -> WindowValidation:
    """Soundscape windows and focal clips (:class:`WindowValidation`)."""
    return WindowValidation(soundscapes, focal, source, clip_samples=clip_samples,
                            batch_size=batch_size, task=task, fold=fold, classes=classes)


def _merged(dirs: list[Path], name: str, classes: list[str]) -> pd.DataFrame:
    """The folds' ``name`` OOF files as one table (``row_id, key, start_seconds, <species>,
    fold``); species headers stay strings through the CSV round trip."""
    columns = [*OOF_COLUMNS, *classes, "fold"]
    parts = read_fold_csvs(dirs, name, dtype={"row_id": str, "key": str})
    if not parts:
        return pd.DataFrame(columns=columns)
    df = pd.concat(parts, ignore_index=True)
    df.columns = [str(c) for c in df.columns]
    return df[columns]


def soundscape_truth(prep: PrepData) -> pd.DataFrame:
    """The labels of every window of the labelled soundscapes, ``(windows, species)``, indexed
    by ``row_id`` (what ``oof_soundscapes.csv`` rows are scored against)."""
    items = soundscape_eval_items(prep.soundscape_df, prep.index_df, prep.classes,
                                  sorted(prep.soundscape_df["filename"].astype(str).unique()))
    return pd.DataFrame(items.targets, columns=prep.classes).assign(
        row_id=items.table_df["row_id"].to_numpy()).set_index("row_id")


def summarize_training(cfg: TrainConfig, prep: PrepData, fold_dirs: list[Path],
                       summary_df: pd.DataFrame) -> TaskSummary:
    """Merged OOF files, their soundscape macro AUC (the CV estimate of the leaderboard) and
    per-species AUC on soundscape windows and on focal clips."""
    out, classes = cfg.output_dir, prep.classes
    oof_df = _merged(fold_dirs, "oof_soundscapes.csv", classes)
    focal_df = _merged(fold_dirs, "oof_focal.csv", classes)
    oof_df.to_csv(out / "oof_soundscapes.csv", index=False)
    focal_df.to_csv(out / "oof_focal.csv", index=False)

    # Out-of-fold scores over all finished folds: the CV estimate of the leaderboard metric.
    truth = soundscape_truth(prep)
    oof_auc, sc_class_auc = float("nan"), pd.Series(np.nan, index=classes, dtype=float)
    if len(oof_df):
        y = truth.loc[oof_df["row_id"], classes].to_numpy()
        probs = oof_df[classes].to_numpy(dtype=float)
        items = WindowItems(oof_df[["row_id"]].assign(
            key="", crop="window", start_seconds=0.0, weight=1.0, source="oof", fold=-1), y)
        oof_auc = soundscape_auc(items, probs, classes)
        sc_class_auc = per_class_auc((y >= 0.5).astype(float), probs, classes)
    focal_class_auc = pd.Series(np.nan, index=classes, dtype=float)
    if len(focal_df):
        labels = prep.train_df.set_index("filename")["primary_label"]
        y = np.array([[float(labels.get(k) == c) for c in classes] for k in focal_df["key"]])
        focal_class_auc = per_class_auc(y, focal_df[classes].to_numpy(dtype=float), classes)
    per_class_df = pd.DataFrame({
        "primary_label": classes,
        "class_name": prep.species_df["class_name"].to_numpy(),
        "n_soundscape_windows": prep.species_df["n_soundscape_windows"].to_numpy(),
        "n_focal_clips": prep.species_df["n_focal_clips"].to_numpy(),
        "oof_soundscape_auc": sc_class_auc.to_numpy(),
        "oof_focal_auc": focal_class_auc.to_numpy(),
    })
    per_class_df.to_csv(out / "per_class_auc.csv", index=False)
    figures = {}
    if per_class_df[["oof_soundscape_auc", "oof_focal_auc"]].notna().any().any():
        figures["per_class_auc"] = save_figure(plots.per_class_auc(per_class_df),
                                               out / "figures" / "per_class_auc.png")
    logreg_auc, logreg_df = logreg_reference(
        cfg, prep, sorted(int(k) for k in oof_df["fold"].unique()) if len(oof_df) else [])
    logreg_df.to_csv(out / "oof_logreg.csv", index=False)
    report = {
        "oof_soundscape_auc": oof_auc,
        "mean_fold_soundscape_auc": nanmean(summary_df.get("val_soundscape_auc")),
        "mean_fold_focal_auc": nanmean(summary_df.get("val_focal_auc")),
        "logreg_reference_auc": logreg_auc,
        "cnn_minus_logreg": oof_auc - logreg_auc,
    }
    scores_df = pd.DataFrame([
        {"model": "cnn", "oof_macro_roc_auc": oof_auc, "n_windows": len(oof_df)},
        {"model": "logreg (log-mel reference)", "oof_macro_roc_auc": logreg_auc,
         "n_windows": len(logreg_df)}])
    return TaskSummary(
        oof_df=oof_df, per_class_df=per_class_df, model_scores_df=scores_df, report=report,
        figures=figures, weakest_by="oof_soundscape_auc",
        curves={"val_soundscape_auc": "val soundscape AUC",
                "val_focal_auc": "val focal-clip AUC"},
        reference_lines={"val_soundscape_auc": 0.5})
