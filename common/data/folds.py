"""Cross-validation folds, computed once in nb01 and saved; training only indexes into them.

Focal clips are folded with iterative stratification over primary and secondary labels
(``MultilabelStratifiedKFold``). Species with fewer clips than folds cannot be in every fold's
training part and its validation part at once; their clips get ``fold = -1`` (always trained on,
never validated) and are listed in the rare-species report. Soundscape windows are folded by
file, so neighbouring windows of one recording never sit on both sides of a split.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

from common.data.competition import multi_hot

log = logging.getLogger(__name__)

ALWAYS_TRAIN = -1


def clip_label_lists(train_df: pd.DataFrame) -> list[list[str]]:
    """Primary plus secondary labels of each clip, as lists of str."""
    secondary = train_df["secondary"] if "secondary" in train_df else [[]] * len(train_df)
    return [[str(p), *map(str, s)] for p, s in zip(train_df["primary_label"], secondary)]


def rare_species(train_df: pd.DataFrame, n_folds: int) -> pd.DataFrame:
    """Species with fewer than ``n_folds`` clips as primary label.

    Returns columns ``primary_label, n_clips, policy``; the policy is ``always_train``: their clips
    are in every fold's training part and in no validation part.
    """
    counts = train_df["primary_label"].astype(str).value_counts()
    rare = counts[counts < n_folds]
    return pd.DataFrame({
        "primary_label": rare.index.astype(str),
        "n_clips": rare.to_numpy(dtype=int),
        "policy": "always_train",
    }).sort_values(["n_clips", "primary_label"]).reset_index(drop=True)


def assign_clip_folds(train_df: pd.DataFrame, n_folds: int, seed: int) -> np.ndarray:
    """A fold id per clip (``-1`` for clips of rare species).

    Args:
        train_df: cleaned train metadata with ``primary_label`` and ``secondary`` (lists).
        n_folds: K.
        seed: shuffling seed; the same seed gives the same folds.

    Returns:
        ``(n_clips,)`` int array in ``{-1, 0, ..., K-1}``.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    folds = np.full(len(train_df), ALWAYS_TRAIN, dtype=int)
    rare = set(rare_species(train_df, n_folds)["primary_label"])
    primary = train_df["primary_label"].astype(str).to_numpy()
    eligible = np.flatnonzero(~np.isin(primary, list(rare)))
    if len(eligible) < n_folds:
        log.warning("only %d clips outside rare species: all are training-only", len(eligible))
        return folds
    labels = [clip_label_lists(train_df)[i] for i in eligible]
    classes = sorted({s for row in labels for s in row})
    y = multi_hot(labels, classes)
    splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, val_idx) in enumerate(splitter.split(np.zeros(len(eligible)), y)):
        folds[eligible[val_idx]] = fold
    _ensure_train_coverage(folds, primary, n_folds)
    return folds


def _ensure_train_coverage(folds: np.ndarray, primary: np.ndarray, n_folds: int) -> None:
    """Guarantee that every non-rare species is in each fold's training part.

    Iterative stratification balances label counts but can still, with co-occurring secondary
    labels, put all clips of a species in one fold. A clip is then moved to the species' least
    used other fold; the loop ends because each move only ever fills an empty training part.
    """
    for species in np.unique(primary):
        idx = np.flatnonzero((primary == species) & (folds >= 0))
        if len(idx) < n_folds:
            continue
        for fold in range(n_folds):
            in_fold = idx[folds[idx] == fold]
            if len(in_fold) == len(idx):  # training part of this fold has none of them
                counts = np.bincount(folds[idx], minlength=n_folds)
                counts[fold] = np.iinfo(int).max
                folds[in_fold[0]] = int(np.argmin(counts))


def assign_soundscape_folds(filenames: list[str], label_lists: list[list[str]], n_folds: int,
                            seed: int) -> dict[str, int]:
    """A fold per labelled soundscape file, stratified on the species each file contains.

    Args:
        filenames: one entry per labelled window (repeats allowed).
        label_lists: the window's species.
        n_folds: K.
        seed: shuffling seed.

    Returns:
        ``{filename: fold}``. With fewer files than folds, files go round-robin to the first
        folds and the rest have no soundscape validation (a warning says so).
    """
    per_file: dict[str, set[str]] = {}
    for fn, labels in zip(filenames, label_lists):
        per_file.setdefault(str(fn), set()).update(labels)
    files = sorted(per_file)
    if not files:
        return {}
    rng = np.random.default_rng(seed)
    if len(files) < n_folds:
        log.warning("%d labelled soundscapes for %d folds: folds %s have no soundscape validation",
                    len(files), n_folds, list(range(len(files), n_folds)))
        order = rng.permutation(len(files))
        return {files[i]: int(k) for k, i in enumerate(order)}
    classes = sorted({s for labels in per_file.values() for s in labels})
    y = multi_hot([sorted(per_file[f]) for f in files], classes)
    if not classes:
        y = np.zeros((len(files), 1), dtype=np.float32)
    splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    out: dict[str, int] = {}
    for fold, (_, val_idx) in enumerate(splitter.split(np.zeros(len(files)), y)):
        for i in val_idx:
            out[files[i]] = fold
    return out


def fold_summary(train_df: pd.DataFrame, n_folds: int) -> pd.DataFrame:
    """Per fold: validation clips, training clips, species in training and in validation."""
    rows = []
    primary = train_df["primary_label"].astype(str)
    for fold in range(n_folds):
        val = train_df["fold"] == fold
        rows.append({
            "fold": fold,
            "val_clips": int(val.sum()),
            "train_clips": int((~val).sum()),
            "train_species": int(primary[~val].nunique()),
            "val_species": int(primary[val].nunique()),
        })
    return pd.DataFrame(rows)
