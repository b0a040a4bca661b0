"""How a teacher's opinion enters our numbers: aligned by window, blended only where it knows.

Pure functions on arrays and tables. A teacher table (:mod:`common.stages.teacher.table`) holds
one row per 5-s window (``row_id``) and one column per competition species the teacher maps to;
:func:`align_teacher` turns it into an ``(n, classes)`` array with NaN wherever the teacher has
no say (unmapped species, windows it did not score), and every blend leaves those entries to
our models:

- :func:`blend_linear`: ``(1 - w) p + w t`` (nb03's soft pseudo labels; the target is a
  probability, so the blend must stay one);
- :func:`rank_blend`: the same on per-species ranks over the rows (nb04's submission; the 2025
  winner's 0.8 / 0.2 Perch blend). Macro ROC-AUC reads only the order within a species, so
  ranks blend two differently calibrated models fairly; a species' column ends up in [0, 1]
  ranks, and unblended columns keep their probabilities;
- :func:`distill_targets`: nb02's distillation term. With BCE the loss is linear in the target,
  so training on ``(1 - w) y + w t`` IS ``(1 - w) BCE(y) + w BCE(t)``: the distillation term of
  weight ``w`` toward the teacher, exactly, with no second loss to wire (with ASL or focal it is
  the same target mix, which those losses accept as soft targets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["align_teacher", "blend_linear", "distill_targets", "rank_blend", "rank_columns"]


def align_teacher(table_df: pd.DataFrame, row_ids: Sequence[str], classes: Sequence[str]
                  ) -> np.ndarray:
    """Teacher probabilities in our rows and columns.

    Args:
        table_df: a teacher table: ``row_id`` plus one column per mapped species.
        row_ids: ``(n,)`` our windows' row ids, in our order.
        classes: our species, in column order.

    Returns:
        ``(n, len(classes))`` float32, NaN where the teacher has no value (species it does not
        know, windows it did not score).
    """
    out = np.full((len(row_ids), len(classes)), np.nan, dtype=np.float32)
    if table_df.empty:
        return out
    position = pd.Index(table_df["row_id"].astype(str)).get_indexer(
        [str(r) for r in row_ids])
    found = position >= 0
    for j, species in enumerate(classes):
        if species in table_df.columns:
            column = pd.to_numeric(table_df[species], errors="coerce").to_numpy(np.float32)
            out[found, j] = column[position[found]]
    return out


def _check(model: np.ndarray, teacher: np.ndarray, weight: float) -> None:
    if model.shape != teacher.shape:
        raise ValueError(f"model {model.shape} and teacher {teacher.shape} shapes differ")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"teacher weight must lie in [0, 1], got {weight}")


def blend_linear(model: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * model + weight * teacher`` where the teacher has a value, else ``model``.

    Both ``(n, classes)`` probabilities; NaN in ``model`` (a window no member reached) stays NaN.
    """
    model = np.asarray(model, dtype=np.float32)
    teacher = np.asarray(teacher, dtype=np.float32)
    _check(model, teacher, weight)
    has = ~np.isnan(teacher)
    out = model.copy()
    out[has] = (1.0 - weight) * model[has] + weight * teacher[has]
    return out


def rank_columns(values: np.ndarray) -> np.ndarray:
    """Per column, each finite value's average rank scaled to [0, 1] (ties share a rank; a
    column with one finite value gets 0.5); NaN stays NaN. ``(n, c)`` -> ``(n, c)`` float32."""
    values = np.asarray(values, dtype=np.float64)
    ranked = pd.DataFrame(values).rank(axis=0, method="average").to_numpy()
    count = np.sum(~np.isnan(values), axis=0, keepdims=True)
    scaled = np.where(count > 1, (ranked - 1.0) / np.maximum(count - 1, 1), 0.5)
    return np.where(np.isnan(values), np.nan, scaled).astype(np.float32)


def rank_blend(model: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """Rank-blend ``teacher`` into ``model`` in the species columns where it scored every row.

    Args:
        model, teacher: ``(n, classes)``; the teacher is NaN where it has no value.
        weight: the teacher's share of the blended rank.

    Returns:
        ``(n, classes)`` float32: in blended columns, ``(1 - w) rank(model) + w rank(teacher)``
        (ranks over the ``n`` rows, in [0, 1]); elsewhere ``model`` unchanged. A column the
        teacher scored only in part is left to the model: a rank over some rows is not
        comparable with one over all.
    """
    model = np.asarray(model, dtype=np.float32)
    teacher = np.asarray(teacher, dtype=np.float32)
    _check(model, teacher, weight)
    out = model.copy()
    full = ~np.isnan(teacher).any(axis=0) & ~np.isnan(model).any(axis=0)
    if len(model) == 0 or not full.any() or weight == 0:
        return out
    out[:, full] = ((1.0 - weight) * rank_columns(model[:, full])
                    + weight * rank_columns(teacher[:, full]))
    return out


def distill_targets(targets: np.ndarray, mask: np.ndarray, teacher: np.ndarray, weight: float
                    ) -> np.ndarray:
    """Training targets with the teacher's distillation term folded in (see module doc).

    Args:
        targets: ``(n, classes)`` in [0, 1], our labels.
        mask: ``(n, classes)``, 1 where the entry counts in the loss; masked entries keep
            their target (they add nothing to the loss either way).
        teacher: ``(n, classes)`` teacher probabilities, NaN where it has no value.
        weight: the distillation term's weight.

    Returns:
        ``(n, classes)`` float32 targets.
    """
    mixed = blend_linear(targets, teacher, weight)
    return np.where(np.asarray(mask) > 0, mixed, targets).astype(np.float32)
