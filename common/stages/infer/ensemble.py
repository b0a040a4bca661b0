"""The pure parts of ensembling: combining models, smoothing in time, fitting a time budget.

Everything here works on NumPy arrays, so it is tested without models:

- ``score_space`` / ``combine_models``: per-model scores -> submission probabilities, with
  per-model weights and per-row coverage (a model dropped mid-run covers only some rows);
- ``smooth_windows``: an optional kernel over neighbouring 5-s windows of the same file;
- ``pool_clips``: window probabilities -> one row per file (whole-clip tasks);
- ``plan_within_budget``: which TTA views and models to keep so the projected run fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

from common.tasks.base import Task, sigmoid

__all__ = ["METHODS", "score_space", "combine_models", "smooth_windows", "pool_clips",
           "BudgetPlan", "plan_within_budget", "sigmoid", "to_probabilities"]

# logit_mean: mean of logits, then the task's activation (a geometric-style mean: one confident
# model counts). prob_mean: mean of probabilities. rank_mean: mean of per-class ranks over all
# test windows scaled to [0, 1] (insensitive to models with different calibration; AUC only uses
# ranks). The activation is the task's (:meth:`common.tasks.base.Task.activation`: sigmoid for
# multi-label tasks, softmax over classes for single-label ones); ``task=None`` means the
# element-wise sigmoid.
METHODS = ("logit_mean", "prob_mean", "rank_mean")


def to_probabilities(logits: np.ndarray, task: Task | None = None) -> np.ndarray:
    """``(rows, classes)`` logits -> float32 probabilities with the task's activation.

    ``task=None``: the element-wise :func:`sigmoid` (a multi-label ensemble without a task).
    """
    logits = np.asarray(logits, dtype=np.float32)
    if task is None:
        return sigmoid(logits)
    return task.activation(logits)


def score_space(logits: np.ndarray, method: str, task: Task | None = None) -> np.ndarray:
    """What one model's views are averaged in: logits for ``logit_mean`` and ``rank_mean``,
    probabilities (the task's activation) for ``prob_mean``. Shape unchanged
    ``(windows, classes)``."""
    if method not in METHODS:
        raise ValueError(f"unknown combination {method!r}; choose from {METHODS}")
    if method == "prob_mean":
        return to_probabilities(logits, task)
    return np.asarray(logits, dtype=np.float32)


def _rank01(scores: np.ndarray) -> np.ndarray:
    """Per-class ranks of ``(rows, classes)`` scaled to [0, 1] (ties get their mean rank)."""
    n = scores.shape[0]
    if n == 1:
        return np.full_like(scores, 0.5, dtype=np.float32)
    ranks = rankdata(scores, axis=0, method="average")
    return ((ranks - 1.0) / (n - 1.0)).astype(np.float32)


def combine_models(
    scores: Sequence[np.ndarray],
    covered: Sequence[np.ndarray],
    weights: Sequence[float],
    method: str = "logit_mean",
    task: Task | None = None,
) -> np.ndarray:
    """Weighted combination of per-model scores into probabilities.

    Args:
        scores: one ``(rows, classes)`` array per model, in ``score_space(.., method, task)``.
        covered: one ``(rows,)`` bool array per model: rows the model actually predicted.
        weights: one non-negative weight per model (normalised over the models covering a row).
        method: one of ``METHODS``.
        task: whose activation turns the ``logit_mean`` into probabilities (``None``: sigmoid,
            multi-label; a single-label task: softmax, each row summing to 1).

    Returns:
        ``(rows, classes)`` float32 in [0, 1]; rows no model covers are NaN (the caller fills
        them with its fallback).
    """
    if method not in METHODS:
        raise ValueError(f"unknown combination {method!r}; choose from {METHODS}")
    if not (len(scores) == len(covered) == len(weights)) or not scores:
        raise ValueError("need one scores array, one coverage mask and one weight per model")
    weights = np.asarray(weights, dtype=np.float64)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"model weights must be >= 0 with a positive sum, got {weights}")
    total = np.zeros(scores[0].shape, dtype=np.float64)
    wsum = np.zeros(scores[0].shape[0], dtype=np.float64)
    for s, c, w in zip(scores, covered, weights):
        c = np.asarray(c, dtype=bool)
        if s.shape != total.shape or c.shape != wsum.shape:
            raise ValueError(f"model scores {s.shape} / coverage {c.shape} do not match "
                             f"{total.shape}")
        if w == 0 or not c.any():
            continue
        values = s[c].astype(np.float64)
        if method == "rank_mean":
            values = _rank01(values)
        total[c] += w * values
        wsum[c] += w
    out = np.full(total.shape, np.nan, dtype=np.float32)
    ok = wsum > 0
    mean = (total[ok] / wsum[ok, None]).astype(np.float32)
    out[ok] = to_probabilities(mean, task) if method == "logit_mean" else mean
    return out


def smooth_windows(
    probs: np.ndarray, file_ids: np.ndarray, kernel: Sequence[float]
) -> np.ndarray:
    """Smooth each class over neighbouring windows of the same file.

    Args:
        probs: ``(rows, classes)``; rows of one file are contiguous and in time order.
        file_ids: ``(rows,)`` file of each row; windows never mix across files.
        kernel: odd-length weights centred on the window, e.g. ``(0.25, 0.5, 0.25)``; ``()`` or
            ``(1,)`` returns ``probs`` unchanged. At file edges the kernel is renormalised over
            the windows that exist, so a call in the first window is not diluted by zeros.

    Returns:
        ``(rows, classes)`` float32; convex combinations, so values stay in [0, 1].
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.size <= 1:
        return np.asarray(probs, dtype=np.float32)
    if kernel.size % 2 == 0 or (kernel < 0).any() or kernel.sum() <= 0:
        raise ValueError(f"smoothing kernel must have odd length and non-negative weights, "
                         f"got {tuple(kernel)}")
    n = probs.shape[0]
    file_ids = np.asarray(file_ids)
    half = kernel.size // 2
    out = np.zeros(probs.shape, dtype=np.float64)
    norm = np.zeros(n, dtype=np.float64)
    rows = np.arange(n)
    for j, w in enumerate(kernel):
        src = rows + (j - half)
        valid = (src >= 0) & (src < n)
        valid[valid] &= file_ids[src[valid]] == file_ids[valid]
        out[valid] += w * probs[src[valid]]
        norm[valid] += w
    return (out / np.maximum(norm, 1e-12)[:, None]).astype(np.float32)


def pool_clips(probs: np.ndarray, file_ids: np.ndarray, n_files: int,
               dtype: type = np.float32) -> np.ndarray:
    """One row per file: the mean of its windows' probabilities (whole-clip tasks).

    Args:
        probs: ``(rows, classes)`` window probabilities; NaN rows (no model reached the window)
            are left out of their file's mean.
        file_ids: ``(rows,)`` int file index in ``[0, n_files)`` of each row.
        n_files: number of files (files without a row, or only NaN rows, come back NaN).
        dtype: of the result (the mean is taken in float64).

    Returns:
        ``(n_files, classes)`` ``dtype`` (float32 by default). The mean of probabilities
        rather than of logits: each window's vote is bounded (1/n of the clip's mass), so one
        window with extreme logits (a noise burst) cannot outvote the others; nb02 pools its
        validation windows with this function too (:func:`common.data.windows.pool_clip_probs`), so
        the rule that chose the checkpoints is the one scoring the test.
    """
    probs = np.asarray(probs, dtype=np.float64)
    file_ids = np.asarray(file_ids, dtype=np.int64)
    if probs.ndim != 2 or file_ids.shape != (probs.shape[0],):
        raise ValueError(f"probs {probs.shape} and file_ids {file_ids.shape} do not match")
    if len(file_ids) and (file_ids.min() < 0 or file_ids.max() >= n_files):
        raise ValueError(f"file_ids must lie in [0, {n_files})")
    valid = ~np.isnan(probs).any(axis=1)
    total = np.zeros((n_files, probs.shape[1]))
    np.add.at(total, file_ids[valid], probs[valid])
    count = np.bincount(file_ids[valid], minlength=n_files).astype(np.float64)
    out = np.full(total.shape, np.nan)
    seen = count > 0
    out[seen] = total[seen] / count[seen, None]
    return out.astype(dtype)


@dataclass
class BudgetPlan:
    """What to keep so the rest of the run fits the time left."""

    model_keep: np.ndarray  # (models,) bool
    view_keep: np.ndarray  # (views,) bool; view 0 ("orig") is always kept
    projected_seconds: float  # for the remaining files under this plan
    dropped: list[str] = field(default_factory=list)  # "view i" / "model m", in drop order


def plan_within_budget(
    pass_seconds: np.ndarray,
    view_seconds: np.ndarray,
    fixed_seconds: float,
    files_left: int,
    seconds_left: float,
    model_keep: np.ndarray | None = None,
    view_keep: np.ndarray | None = None,
) -> BudgetPlan:
    """Drop TTA views, then models, until the projected time of the remaining files fits.

    Args:
        pass_seconds: ``(models, views)`` measured seconds per file of model ``m`` under view
            ``v`` (0 where the view costs no pass, e.g. a gain view folded into ``orig``).
        view_seconds: ``(views,)`` frontend seconds per file of each view (shared by models).
        fixed_seconds: per-file cost that no choice changes (decoding, bookkeeping).
        files_left: files still to predict; ``seconds_left``: time left for them.
        model_keep, view_keep: the current plan (plans only ever shrink); default all.

    The rule, documented for users: while the projection exceeds the time left, (1) drop the
    last TTA view in the configured order that still costs time (``orig`` is never dropped),
    then (2) drop the model with the largest per-file cost (ties: the later checkpoint in
    sorted order), never the last one. TTA goes first because a view adds less than another
    fold or backbone for the same cost. If even one model on one view does not fit, the plan
    keeps that and the run's deadline fills what is left with a fallback.
    """
    pass_seconds = np.asarray(pass_seconds, dtype=np.float64)
    view_seconds = np.asarray(view_seconds, dtype=np.float64)
    n_models, n_views = pass_seconds.shape
    mk = np.ones(n_models, bool) if model_keep is None else np.asarray(model_keep, bool).copy()
    vk = np.ones(n_views, bool) if view_keep is None else np.asarray(view_keep, bool).copy()
    vk[0] = True

    def projected() -> float:
        per_file = fixed_seconds + view_seconds[vk].sum() + pass_seconds[np.ix_(mk, vk)].sum()
        return float(files_left * per_file)

    dropped: list[str] = []
    while projected() > seconds_left:
        costly_views = [v for v in range(n_views - 1, 0, -1)
                        if vk[v] and (pass_seconds[mk, v].sum() + view_seconds[v]) > 0]
        if costly_views:
            vk[costly_views[0]] = False
            dropped.append(f"view {costly_views[0]}")
            continue
        if mk.sum() > 1:
            cost = np.where(mk, pass_seconds[:, vk].sum(axis=1), -np.inf)
            worst = int(np.flatnonzero(cost == cost.max())[-1])
            mk[worst] = False
            dropped.append(f"model {worst}")
            continue
        break
    return BudgetPlan(mk, vk, projected(), dropped)
