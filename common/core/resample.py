"""Paired bootstrap over groups: the competition metrics under many row weightings at once.

A validation score on a few held-out files moves with the files drawn (the demo's fold 0 holds
13 soundscapes, Kaggle's about 66 over five folds), so a difference between two models on the
same rows is evidence only when it holds across resamples of those files. A resample draws the
groups (soundscape files, clips) with replacement; each row then counts as many times as its
group was drawn. :func:`group_resample_weights` makes those counts, ``(resamples, rows)``, and
the metrics below score every resample in one vectorised pass, with the same rows and weights
for both models (paired):

- :func:`resampled_macro_auc`: macro ROC-AUC over the classes with a positive and a negative in
  the resample (ties count one half), equal to sklearn's on unit weights;
- :func:`resampled_macro_f1`: macro F1 of one label per row (the arg-max) over the labels true
  or predicted in the resample (sklearn's ``average="macro"``).

:data:`RESAMPLED_METRICS` maps a task's ``metric`` name to its resampled version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["RESAMPLED_METRICS", "group_resample_weights", "resampled_macro_auc",
           "resampled_macro_f1"]


def group_resample_weights(groups: Sequence | np.ndarray, n_resamples: int, seed: int = 0
                           ) -> np.ndarray:
    """Row multiplicities of ``n_resamples`` bootstrap draws of the groups.

    Args:
        groups: ``(rows,)`` group of each row (any hashable labels).
        n_resamples: B.
        seed: the draws are a function of it (deterministic).

    Returns:
        ``(B, rows)`` float counts: each resample draws as many groups as there are, with
        replacement; a row counts as often as its group was drawn.
    """
    codes, uniques = pd.factorize(pd.Series(list(groups), dtype=object))
    n_groups = len(uniques)
    if n_groups == 0:
        return np.zeros((n_resamples, 0))
    draws = np.random.default_rng(seed).integers(0, n_groups, size=(n_resamples, n_groups))
    offsets = (np.arange(n_resamples) * n_groups)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_groups)
    return counts.reshape(n_resamples, n_groups)[:, codes].astype(float)


def _checked(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float arrays ``(rows, classes)``, ``(rows, classes)``, ``(B, rows)``, or a ValueError."""
    y, s = np.asarray(y_true, dtype=float), np.asarray(y_score, dtype=float)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if y.shape != s.shape or y.ndim != 2 or w.shape[1] != y.shape[0]:
        raise ValueError(f"expected y_true and y_score (rows, classes) and weights (B, rows), "
                         f"got {y.shape}, {s.shape} and {w.shape}")
    return y, s, w


def resampled_macro_auc(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
                        ) -> np.ndarray:
    """Macro ROC-AUC of every weighting.

    Args:
        y_true: ``(rows, classes)`` 0/1 (soft targets are read as positive from 0.5).
        y_score: ``(rows, classes)`` scores.
        weights: ``(B, rows)`` non-negative row weights (:func:`group_resample_weights`).

    Returns:
        ``(B,)``: the mean over classes with positive and negative weight in that resample of
        the weighted AUC (a positive-negative pair counts the product of their weights, a tie
        one half); NaN where no class can be scored.
    """
    y, s, w = _checked(y_true, y_score, weights)
    y = y >= 0.5
    total = np.zeros(w.shape[0])
    n_scored = np.zeros(w.shape[0])
    for c in range(y.shape[1]):
        pos = y[:, c]
        if not pos.any() or pos.all():
            continue
        order = np.argsort(s[:, c], kind="stable")
        sorted_scores = s[order, c]
        starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
        w_sorted = w[:, order]
        w_pos = np.add.reduceat(w_sorted * pos[order], starts, axis=1)  # (B, tie groups)
        w_neg = np.add.reduceat(w_sorted * ~pos[order], starts, axis=1)
        below = np.cumsum(w_neg, axis=1) - w_neg  # negative weight strictly below each group
        wins = (w_pos * (below + 0.5 * w_neg)).sum(axis=1)
        p, n = w_pos.sum(axis=1), w_neg.sum(axis=1)
        ok = (p > 0) & (n > 0)
        total[ok] += wins[ok] / (p[ok] * n[ok])
        n_scored += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_scored > 0, total / np.maximum(n_scored, 1), np.nan)


def resampled_macro_f1(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
                       ) -> np.ndarray:
    """Macro F1 of one label per row (the arg-max) under every weighting.

    Args:
        y_true: ``(rows, classes)`` one-hot (the arg-max is the true class).
        y_score: ``(rows, classes)`` scores; the arg-max is the predicted class.
        weights: ``(B, rows)``.

    Returns:
        ``(B,)``: the mean F1 over the labels true or predicted in the resample (sklearn's
        macro average, a label never predicted correctly counts 0); NaN for an empty resample.
    """
    y, s, w = _checked(y_true, y_score, weights)
    eye = np.eye(y.shape[1])
    t, p = eye[y.argmax(axis=1)], eye[s.argmax(axis=1)]
    tp = w @ (t * p)
    fp = w @ (p * (1 - t))
    fn = w @ (t * (1 - p))
    present = (w @ t + w @ p) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (2 * tp + fp + fn), 0.0)
    n_present = present.sum(axis=1)
    return np.where(n_present > 0, f1.sum(axis=1) / np.maximum(n_present, 1), np.nan)


# Task metric name -> its resampled version, ``(truth, scores, weights (B, rows)) -> (B,)``.
RESAMPLED_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "macro_roc_auc": resampled_macro_auc,
    "macro_f1": resampled_macro_f1,
}
