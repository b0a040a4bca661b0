"""What one fold trains and validates on: nb01's tables split by fold into window tables.

The task decides what a fold holds (:meth:`common.tasks.base.Task.fold_data`); this module
has the pieces every task builds it from:

- :func:`training_items`: the rows a fold trains on, the same for every task: focal clips
  (or training clips) of the other folds that pass the rating filter, the labelled soundscape
  windows of the other folds (``data.use_soundscapes``, repeated ``data.soundscape_repeats``
  times; with ``data.soundscape_negatives`` every window of those files, the unlisted ones as
  all-negative rows: :func:`labelled_soundscape_items`) and every ``extra_windows`` table
  (nb03's pseudo labels, named subsets), rows of the fold itself held out, with the teacher's
  distillation term when ``distill`` is on (:mod:`common.stages.train.distill`);
- :func:`held_out_focal`, :func:`held_out_soundscape_files`, :func:`background_items`: the
  fold's held-out clips and soundscapes, and the real no-call audio the augmenter mixes in;
- :class:`FoldData`: the tables of one fold, as :func:`common.stages.train.fold.train_fold`
  reads them;
- :func:`audio_source`, :func:`check_sample_rate`, :func:`class_balance_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.core.paths import find_competition_dir
from common.data.loaders import AudioSource
from common.data.prep_data import PrepData
from common.data.windows import (
    WindowItems,
    background_windows,
    focal_items,
    read_extra_windows,
    soundscape_eval_items,
    soundscape_items,
)
from common.stages.train.distill import apply_distill
from common.stages.train.layout import extra_windows_path

if TYPE_CHECKING:
    from common.stages.train.config import TrainConfig

__all__ = ["FoldData", "fold_data", "training_items", "held_out_focal",
           "held_out_soundscape_files", "labelled_soundscape_items", "background_items",
           "audio_source", "check_sample_rate", "class_balance_weights"]


@dataclass
class FoldData:
    """Training and validation tables of one fold (empty tables where a task has none)."""

    train: WindowItems
    val_soundscapes: WindowItems  # every window of the held-out labelled soundscapes
    val_focal: WindowItems  # held-out focal (training) clips, one crop each
    background_df: pd.DataFrame  # key, start_seconds
    val_clips: WindowItems | None = None  # whole-clip tasks: every window of held-out clips


def fold_data(cfg: TrainConfig, prep: PrepData, fold: int) -> FoldData:
    """The tables of ``fold``, as the task builds them
    (:meth:`common.tasks.base.Task.fold_data`)."""
    return cfg.task_spec.fold_data(cfg, prep, fold)


def _focal(cfg: TrainConfig, prep: PrepData) -> WindowItems:
    return focal_items(prep.train_df, prep.classes, cfg.objective.secondary_mode,
                       cfg.objective.secondary_value)


def held_out_focal(cfg: TrainConfig, prep: PrepData, fold: int) -> WindowItems:
    """The fold's focal clips, one ``crop="clip"`` row each, every rating kept."""
    focal = _focal(cfg, prep)
    return focal.select(focal.table_df["fold"].to_numpy() == fold)


def held_out_soundscape_files(prep: PrepData, fold: int) -> list[str]:
    """File names of the fold's labelled soundscapes, sorted."""
    sc_df = prep.soundscape_df
    return sorted(sc_df.loc[sc_df["fold"] == fold, "filename"].astype(str).unique())


def training_items(cfg: TrainConfig, prep: PrepData, fold: int) -> WindowItems:
    """Every row fold ``fold`` trains on (see the module docstring), in source order."""
    classes = prep.classes
    focal = _focal(cfg, prep)
    folds = focal.table_df["fold"].to_numpy()
    rated = np.ones(len(focal), bool)
    if cfg.data.min_rating > 0 and "rating" in prep.train_df:
        # Unrated clips (rating 0, e.g. iNat) are kept: no rating is not a bad rating.
        rating = pd.to_numeric(prep.train_df["rating"], errors="coerce").fillna(0.0).to_numpy()
        rated = (rating >= cfg.data.min_rating) | (rating <= 0)
    parts = [focal.select((folds != fold) & rated)]
    sc_df = prep.soundscape_df
    if cfg.data.use_soundscapes and len(sc_df):
        parts += [labelled_soundscape_items(cfg, prep, fold)] * max(
            1, cfg.data.soundscape_repeats)
    for path in cfg.extra_windows:
        extra = read_extra_windows(extra_windows_path(path, fold), classes)
        parts += [extra.select(extra.table_df["fold"].to_numpy() != fold)] * max(
            1, cfg.data.extra_repeats)
    items = WindowItems.concat(parts, len(classes))
    return apply_distill(cfg, items, classes) if cfg.distill.enabled else items


def labelled_soundscape_items(cfg: TrainConfig, prep: PrepData, fold: int) -> WindowItems:
    """The labelled soundscape windows of the other folds, weighted ``data.soundscape_weight``.

    With ``data.soundscape_negatives`` every 5-s window of those files is a row, unlisted
    windows all-negative: the annotators listed every call they heard, so an unlisted window is
    a verified negative in the test domain, the only one the training set has (focal clips all
    hold some species). Otherwise only the listed (call) windows.
    """
    sc_df = prep.soundscape_df
    if cfg.data.soundscape_negatives:
        files = sorted(sc_df.loc[sc_df["fold"] != fold, "filename"].astype(str).unique())
        sc = soundscape_eval_items(sc_df, prep.index_df, prep.classes, files)
        sc.table_df["weight"] = float(cfg.data.soundscape_weight)
        return sc
    sc = soundscape_items(sc_df, prep.classes, cfg.data.soundscape_weight)
    return sc.select(sc.table_df["fold"].to_numpy() != fold)


def background_items(cfg: TrainConfig, prep: PrepData, exclude_files: list[str]) -> pd.DataFrame:
    """``key, start_seconds`` of real no-call audio for background mixing (none when
    ``data.background_mixing`` is off); ``exclude_files``: the fold's validation soundscapes."""
    if not cfg.data.background_mixing:
        return pd.DataFrame(columns=["key", "start_seconds"])
    return background_windows(prep.soundscape_df, prep.index_df, exclude_files=exclude_files)


def class_balance_weights(items: WindowItems) -> np.ndarray:
    """Sampling probability per row, ``(rows,)`` summing to 1, ~ ``1/sqrt(rows of its class)``.

    A row's class is its strongest target (rows with no target >= 0.5, e.g. negatives, form
    one group of their own). The square root is the usual middle ground: rare classes are seen
    more often without repeating their few clips as often as the common ones.
    """
    targets = items.targets
    group = np.where(targets.max(axis=1) >= 0.5, targets.argmax(axis=1), -1) if len(items) \
        else np.zeros(0, int)
    _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
    weights = 1.0 / np.sqrt(counts[inverse].astype(float))
    return weights / weights.sum()


def audio_source(cfg: TrainConfig, prep: PrepData) -> AudioSource:
    """Where a fold's audio is read: the extra tables' caches (nb03 writes one next to its
    tables), nb01's cache, then the competition's files (decoded on the fly)."""
    extra_caches = [Path(p).parent / "cache" for p in cfg.extra_windows]
    try:
        audio_root = find_competition_dir(cfg.input_root, cfg.competition)
    except FileNotFoundError:
        audio_root = None  # everything must then be cached
    return AudioSource([*extra_caches, prep.cache_dir], audio_root, cfg.frontend.sample_rate)


def check_sample_rate(cfg: TrainConfig, prep: PrepData) -> None:
    """The cache must hold audio at the frontend's rate (the task's, unless overridden):
    slices are cut in samples."""
    rates = sorted({int(r) for r in prep.index_df["sample_rate"]})
    if rates and rates != [cfg.frontend.sample_rate]:
        raise ValueError(f"{prep.cache_dir} holds audio at {rates} Hz but frontend.sample_rate "
                         f"is {cfg.frontend.sample_rate}: run nb01 and nb02 with the same task "
                         "(or set --frontend.sample-rate to the cache's rate)")
