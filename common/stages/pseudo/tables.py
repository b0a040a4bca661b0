"""nb03's pseudo-label tables: pure functions from teacher probabilities to the CSVs students
train on (nb02 extra windows tables, :mod:`common.data.windows`) and the views that summarise them.

Windowed, multi-label tasks (BirdCLEF: one row per 5-s window of a soundscape):

- :func:`window_frame`: ``filename, start, end, row_id`` of every window nb04's engine scored;
- :func:`pseudo_label_table`: the soft table (:data:`META_COLUMNS` then one column per
  species): targets ``probs ** target_power`` on windows whose top-class probability is at
  least ``min_confidence``, at most ``max_windows`` of them;
- :func:`hard_label_table` (0/1 at a threshold) and :func:`class_counts` (windows per species).

Whole-clip, single-label tasks (one music genre per clip: one row per clip):

- :func:`clip_probs_table`: every scored clip's pooled probabilities, top probability and
  label (written as :data:`CLIP_PROBS_NAME`);
- :func:`clip_pseudo_label_table`: the table (:data:`CLIP_META_COLUMNS` then one column per
  class) of the clips whose top probability reaches ``min_confidence``, with one-hot or
  sharpened soft targets (:data:`CLIP_TARGET_MODES`);
- :func:`clip_class_counts`: per class, clips scored and kept.

Nothing here reads or writes files; :mod:`common.stages.pseudo.run` (the stage) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.data import competition as comp
from common.data.windows import SOUNDSCAPE_PREFIX

if TYPE_CHECKING:
    from common.stages.infer.predictor import Predictions

__all__ = ["window_frame", "pseudo_label_table", "hard_label_table", "class_counts",
           "clip_probs_table", "clip_pseudo_label_table", "clip_class_counts", "META_COLUMNS",
           "CLIP_META_COLUMNS", "CLIP_PROBS_NAME", "CLIP_TARGET_MODES"]

# Leading columns of a pseudo-label table; one column per species follows, in class order.
META_COLUMNS = ["filename", "start", "end", "key", "start_seconds", "row_id", "fold", "weight",
                "confidence"]
# Whole-clip tasks: leading columns of a clip pseudo-label table (one column per class follows);
# no start_seconds, so nb02 crops the clip like a training clip.
CLIP_META_COLUMNS = ["filename", "key", "id", "fold", "weight", "confidence", "label"]
CLIP_PROBS_NAME = "pseudo_clip_probs.csv"  # whole-clip tasks: every scored clip's probabilities
CLIP_TARGET_MODES = ("hard", "soft")  # one-hot arg-max, or sharpened pooled probabilities


# ---------------------------------------------------------------------------------------------
# Windowed tasks.


def window_frame(predictions: Predictions) -> pd.DataFrame:
    """``filename, start, end`` (seconds) per predicted window, files in order."""
    names = [p.name for p, n in zip(predictions.paths, predictions.n_windows) for _ in range(n)]
    starts = [float(comp.WINDOW_SECONDS * w) for n in predictions.n_windows for w in range(n)]
    frame = pd.DataFrame({"filename": names, "start": starts})
    frame["end"] = frame["start"] + comp.WINDOW_SECONDS
    frame["row_id"] = predictions.row_ids
    return frame


def pseudo_label_table(windows_df: pd.DataFrame, probs: np.ndarray, classes: list[str],
                       file_folds: dict[str, int], *, min_confidence: float = 0.0,
                       target_power: float = 1.0, max_windows: int = 0, weight: float = 1.0
                       ) -> pd.DataFrame:
    """The soft pseudo-label table (``META_COLUMNS`` then ``classes``) of scored windows.

    Args:
        windows_df: ``filename, start, end, row_id`` per row of ``probs``.
        probs: ``(windows, classes)`` probabilities; NaN rows (not scored) are dropped.
        file_folds: CV fold of labelled soundscapes by file name; other files get -1.
        min_confidence: keep rows whose top-class probability is at least this.
        target_power: targets are ``probs ** target_power``.
        max_windows: keep the most confident ones (0 = all); ties keep file order.
        weight: the ``weight`` column (loss weight in nb02).

    Rows stay in file and time order.
    """
    probs = np.asarray(probs, dtype=np.float64)
    scored = ~np.isnan(probs).any(axis=1)
    confidence = np.where(scored, np.nan_to_num(probs).max(axis=1), -1.0)
    keep = scored & (confidence >= min_confidence)
    if max_windows > 0 and keep.sum() > max_windows:
        order = np.argsort(-np.where(keep, confidence, -np.inf), kind="stable")[:max_windows]
        keep = np.zeros_like(keep)
        keep[order] = True
    rows = np.flatnonzero(keep)
    meta = windows_df.iloc[rows].reset_index(drop=True)
    table = pd.DataFrame({
        "filename": meta["filename"].astype(str),
        "start": meta["start"].astype(float),
        "end": meta["end"].astype(float),
        "key": SOUNDSCAPE_PREFIX + meta["filename"].astype(str),
        "start_seconds": meta["start"].astype(float),
        "row_id": meta["row_id"].astype(str),
        "fold": [int(file_folds.get(f, -1)) for f in meta["filename"]],
        "weight": float(weight),
        "confidence": confidence[rows],
    })
    targets = np.clip(probs[rows], 0.0, 1.0) ** target_power
    return pd.concat([table, pd.DataFrame(targets.astype(np.float32), columns=classes)], axis=1)


def hard_label_table(soft_df: pd.DataFrame, classes: list[str], threshold: float = 0.5
                     ) -> pd.DataFrame:
    """The same rows with 0/1 targets: 1 where the soft target is >= ``threshold``."""
    hard = soft_df.copy()
    hard[classes] = (soft_df[classes].to_numpy() >= threshold).astype(np.int8)
    return hard


def class_counts(soft_df: pd.DataFrame, classes: list[str], threshold: float = 0.5,
                 species_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Windows per species at ``threshold`` plus the sum of soft targets, most first."""
    values = soft_df[classes].to_numpy(dtype=float) if len(soft_df) else np.zeros(
        (0, len(classes)))
    df = pd.DataFrame({"primary_label": classes,
                       "n_windows": (values >= threshold).sum(axis=0).astype(int),
                       "soft_sum": values.sum(axis=0).round(3)})
    if species_df is not None and "class_name" in species_df:
        df = df.merge(species_df[["primary_label", "class_name"]], on="primary_label",
                      how="left")
    return df.sort_values(["n_windows", "soft_sum"], ascending=False, kind="mergesort"
                          ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Whole-clip tasks.


def clip_probs_table(keys: Sequence[str], probs: np.ndarray, classes: list[str]
                     ) -> pd.DataFrame:
    """Whole-clip tasks: one row per scored clip, ``filename, key, id, confidence, label`` and
    one probability column per class.

    Args:
        keys: ``(clips,)`` path of each clip relative to the competition folder
            (``test/<id>.wav``).
        probs: ``(clips, classes)`` probabilities (windows pooled per clip); NaN rows (a clip
            that failed to decode) are dropped.

    ``id`` is the file stem (the submission's id), ``confidence`` the top probability and
    ``label`` its class (ties: the first class in ``classes`` order).
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(len(keys), len(classes))
    scored = ~np.isnan(probs).any(axis=1)
    rows = np.flatnonzero(scored)
    kept = [str(keys[i]) for i in rows]
    values = probs[rows]
    top = values.argmax(axis=1) if len(rows) else np.zeros(0, int)
    table = pd.DataFrame({
        "filename": [PurePosixPath(k).name for k in kept],
        "key": pd.Series(kept, dtype=object),
        "id": [PurePosixPath(k).stem for k in kept],
        "confidence": values.max(axis=1) if len(rows) else np.zeros(0),
        "label": pd.Series([classes[j] for j in top], dtype=object),
    })
    return pd.concat([table, pd.DataFrame(values.astype(np.float32),
                                          columns=pd.Index(classes, dtype=object))], axis=1)


def clip_pseudo_label_table(clips_df: pd.DataFrame, classes: list[str], *,
                            min_confidence: float = 0.95, targets: str = "hard",
                            target_power: float = 1.0, max_clips: int = 0, weight: float = 1.0
                            ) -> pd.DataFrame:
    """The pseudo-label table of a whole-clip task (:data:`CLIP_META_COLUMNS` then ``classes``).

    Args:
        clips_df: :func:`clip_probs_table` output.
        min_confidence: keep clips whose top probability is at least this.
        targets: ``"hard"``: one-hot on ``label``; ``"soft"``: the probabilities raised to
            ``target_power`` and renormalised to sum 1 (a softmax temperature of
            ``1 / target_power``).
        max_clips: keep the most confident ones (0 = all); ties keep file order.
        weight: the ``weight`` column (loss weight in nb02).

    ``fold`` is -1 on every row: test clips are never validated on, so every student fold
    trains on them. There is no ``start_seconds`` column: nb02 crops the clip like a training
    clip. Rows stay in file order.
    """
    if targets not in CLIP_TARGET_MODES:
        raise ValueError(f"targets must be one of {CLIP_TARGET_MODES}, got {targets!r}")
    confidence = clips_df["confidence"].to_numpy(dtype=np.float64)
    keep = confidence >= min_confidence
    if max_clips > 0 and keep.sum() > max_clips:
        order = np.argsort(-np.where(keep, confidence, -np.inf), kind="stable")[:max_clips]
        keep = np.zeros_like(keep)
        keep[order] = True
    kept = clips_df[keep].reset_index(drop=True)
    table = pd.DataFrame({
        "filename": kept["filename"].astype(str), "key": kept["key"].astype(str),
        "id": kept["id"].astype(str), "fold": -1, "weight": float(weight),
        "confidence": kept["confidence"].astype(float), "label": kept["label"].astype(str)})
    if targets == "hard":
        values = (kept["label"].to_numpy()[:, None] == np.array(classes, dtype=object)[None, :])
    else:
        values = np.clip(kept[classes].to_numpy(dtype=np.float64), 0.0, 1.0) ** target_power
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-12)
    values = np.asarray(values, dtype=np.float32).reshape(len(kept), len(classes))
    return pd.concat([table, pd.DataFrame(values, columns=pd.Index(classes, dtype=object))],
                     axis=1)


def clip_class_counts(clips_df: pd.DataFrame, pseudo_df: pd.DataFrame, classes: list[str]
                      ) -> pd.DataFrame:
    """Per class: clips the teacher's arg-max gives it (``n_scored``), those pseudo-labelled
    with it (``n_clips``), their ratio (``share_kept``) and the class's mean top probability
    over the scored clips; classes in output order."""
    scored = clips_df["label"].astype(str).value_counts()
    kept = pseudo_df["label"].astype(str).value_counts()
    mean_top = clips_df.groupby(clips_df["label"].astype(str))["confidence"].mean()
    df = pd.DataFrame({"primary_label": pd.Series(classes, dtype=object),
                       "n_scored": [int(scored.get(c, 0)) for c in classes],
                       "n_clips": [int(kept.get(c, 0)) for c in classes]})
    df["share_kept"] = (df["n_clips"] / df["n_scored"].where(df["n_scored"] > 0)).round(4)
    df["mean_confidence"] = [round(float(mean_top[c]), 4) if c in mean_top else np.nan
                             for c in classes]
    return df
