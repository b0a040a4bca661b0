"""Data composition: confidence-curated positive subsets and hard negatives, as named tables.

Both are pure functions on DataFrames and return *extra windows tables* (the CSV contract of
:func:`common.data.windows.read_extra_windows`), so nb02 includes any of them by listing its path in
``TrainConfig.extra_windows``, and the sweep runner compares them (``devtools.sweep``).

- :func:`curate_positive_subsets`: from clips scored by a teacher that never saw them (nb02's
  out-of-fold predictions on held-out focal clips, which includes clips that a ``min_rating``
  kept out of training), keep the top x% by the teacher's probability of each clip's *own*
  primary label. Noisy or mislabelled clips (the label is not audible in the clip) score low and
  drop out; the subsets are ordered, ``pos_top05`` within ``pos_top15`` within ...
- :func:`mine_hard_negatives`: from windows known to hold none of the target species (the
  unlisted windows of labelled soundscapes, a folder of negative recordings), keep those where
  the teacher's top-class probability is at least a threshold: the false alarms the model most
  needs to unlearn. Their targets are all zero.

Names: ``pos_top<pct>`` (``pos_top15`` = top 15 %) and ``neg_t<100 x threshold>`` (``neg_t085``),
written by nb03 as ``subset_<name>.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["positive_subset_name", "negative_subset_name", "curate_positive_subsets",
           "mine_hard_negatives", "EXTRA_COLUMNS"]

# Leading columns of every table written here; species columns follow in class order.
EXTRA_COLUMNS = ["key", "start_seconds", "fold", "weight", "confidence"]


def positive_subset_name(fraction: float) -> str:
    """``0.15`` -> ``pos_top15`` (percent, two digits at least)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"a subset fraction must be in (0, 1], got {fraction}")
    return f"pos_top{int(round(100 * fraction)):02d}"


def negative_subset_name(threshold: float) -> str:
    """``0.85`` -> ``neg_t085`` (threshold x 100, three digits)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"a confidence threshold must be in [0, 1], got {threshold}")
    return f"neg_t{int(round(100 * threshold)):03d}"


def curate_positive_subsets(scores_df: pd.DataFrame, clips_df: pd.DataFrame,
                            fractions: Sequence[float] = (0.05, 0.15, 0.30, 0.50),
                            weight: float = 1.0) -> dict[str, pd.DataFrame]:
    """Top-x% clips by the teacher's confidence in their own label, one table per fraction.

    Args:
        scores_df: one row per scored clip: ``key`` (train.csv ``filename``) and one probability
            column per species (e.g. nb02's ``oof_focal.csv``). Species columns define the
            output columns. A clip scored twice keeps its last row.
        clips_df: the candidate pool: ``filename``, ``primary_label`` and ``fold`` per clip
            (e.g. nb01's ``train_folds.csv`` filtered to low-rated clips). Clips without a score
            or whose label is not a species column are skipped.
        fractions: each in (0, 1]; the subset keeps ``ceil(fraction x pool)`` clips.
        weight: loss weight written to every row.

    Returns:
        ``{name: table}`` (names from :func:`positive_subset_name`), each an extra windows
        table sorted by confidence (highest first): ``key``, ``start_seconds`` empty (crop the
        cached clip), ``fold`` (the clip's fold: not trained on where it is validated),
        ``weight``, ``confidence`` (the own-label probability), then one column per species:
        1 for the clip's primary label, else 0. Ties are broken by key, so the result is
        deterministic.
    """
    species = [c for c in scores_df.columns if c not in {"row_id", "key", "start_seconds",
                                                           "fold", "end_seconds"}]
    scores = scores_df.drop_duplicates("key", keep="last").set_index("key")
    pool = clips_df[["filename", "primary_label", "fold"]].copy()
    pool["filename"] = pool["filename"].astype(str)
    pool["primary_label"] = pool["primary_label"].astype(str)
    pool = pool[pool["filename"].isin(scores.index) & pool["primary_label"].isin(species)]
    confidence = np.array([float(scores.at[f, p]) for f, p in
                           zip(pool["filename"], pool["primary_label"])], dtype=float)
    pool = pool.assign(confidence=confidence).sort_values(
        ["confidence", "filename"], ascending=[False, True], kind="mergesort")
    out = {}
    for fraction in fractions:
        name = positive_subset_name(fraction)
        top = pool.head(int(np.ceil(fraction * len(pool) - 1e-9)))
        table = pd.DataFrame({
            "key": top["filename"].to_numpy(),
            "start_seconds": np.full(len(top), np.nan),
            "fold": top["fold"].astype(int).to_numpy(),
            "weight": float(weight),
            "confidence": top["confidence"].to_numpy(),
        })
        onehot = (top["primary_label"].to_numpy()[:, None] == np.array(species)[None, :])
        out[name] = pd.concat([table, pd.DataFrame(onehot.astype(np.int8), columns=species)],
                              axis=1)
    return out


def mine_hard_negatives(scores_df: pd.DataFrame, thresholds: Sequence[float] = (0.5, 0.85, 0.99),
                        species: Sequence[str] | None = None, weight: float = 1.0
                        ) -> dict[str, pd.DataFrame]:
    """Windows of negative audio whose top-class probability is at least each threshold.

    Args:
        scores_df: one row per window known to hold no target species: ``key``,
            ``start_seconds``, optional ``fold`` (default -1), and one probability column per
            species.
        thresholds: each in [0, 1]; a window is kept when ``max_species p >= threshold``.
        species: the species columns (default: every column that is not a known meta column).
        weight: loss weight written to every row.

    Returns:
        ``{name: table}`` (names from :func:`negative_subset_name`), each sorted by confidence
        (highest first): ``key``, ``start_seconds``, ``fold``, ``weight``, ``confidence`` (the
        top-class probability), ``top_species``, then every species column at 0.
    """
    meta = {"row_id", "key", "start_seconds", "end_seconds", "fold", "filename", "start", "end",
            "weight", "confidence"}
    species = list(species) if species is not None else [c for c in scores_df.columns
                                                         if c not in meta]
    probs = scores_df[species].to_numpy(dtype=float)
    top = probs.max(axis=1) if len(probs) else np.zeros(0)
    top_species = (np.array(species)[probs.argmax(axis=1)] if len(probs)
                   else np.array([], dtype=object))
    base = pd.DataFrame({
        "key": scores_df["key"].astype(str).to_numpy(),
        "start_seconds": scores_df["start_seconds"].astype(float).to_numpy(),
        "fold": (scores_df["fold"].astype(int).to_numpy() if "fold" in scores_df
                 else np.full(len(scores_df), -1)),
        "weight": float(weight),
        "confidence": top,
        "top_species": top_species,
    })
    base = base.sort_values(["confidence", "key", "start_seconds"],
                            ascending=[False, True, True], kind="mergesort")
    zeros = pd.DataFrame(np.zeros((len(base), len(species)), np.int8), columns=species)
    out = {}
    for threshold in thresholds:
        keep = base[base["confidence"] >= threshold].reset_index(drop=True)
        out[negative_subset_name(threshold)] = pd.concat([keep, zeros.iloc[:len(keep)]], axis=1)
    return out
