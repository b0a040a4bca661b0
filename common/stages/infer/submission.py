"""The submission table: row ids, row order, fallback filling and validation (pure functions).

Row ids are ``<file stem>_<end second>`` for every 5-s window. Columns are exactly the sample
submission's, in its order, with species labels as strings. Rows follow the sample
submission's order where it lists them, then the other windows in file and time order. (A task
with another row layout builds its rows in its own folder under :mod:`common.tasks`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import competition as comp

__all__ = ["n_windows_for", "file_row_ids", "submission_order", "build_submission",
           "validate_submission"]

_MIN_TAIL_SECONDS = 0.5  # a trailing fragment shorter than this gets no window of its own


def n_windows_for(num_samples: int, window_samples: int) -> int:
    """Windows in a file: whole windows plus a tail of at least half a second (padded)."""
    full, tail = divmod(int(num_samples), int(window_samples))
    return max(1, full + (tail >= _MIN_TAIL_SECONDS * window_samples / comp.WINDOW_SECONDS))


def file_row_ids(filename: str | Path, n_windows: int,
                 window_seconds: int = comp.WINDOW_SECONDS) -> list[str]:
    """``<stem>_<end second>`` for each window, in time order (``_5``, ``_10``, ...)."""
    return [comp.make_row_id(filename, (k + 1) * window_seconds) for k in range(n_windows)]


def submission_order(row_ids: Sequence[str], sample_df: pd.DataFrame) -> list[str]:
    """The sample submission's rows in its order, then the other ``row_ids`` in their order.

    Every sample row is kept (the scorer expects it) even without audio; ``row_ids`` should be
    in a deterministic order (sorted files, windows in time order).
    """
    sample_ids = [str(r) for r in sample_df["row_id"]]
    listed = set(sample_ids)
    seen: set[str] = set()
    rest = []
    for r in row_ids:
        if r not in listed and r not in seen:
            rest.append(r)
            seen.add(r)
    return sample_ids + rest


def build_submission(row_ids: Sequence[str], probs: np.ndarray, sample_df: pd.DataFrame,
                     fallback: np.ndarray | float) -> pd.DataFrame:
    """The submission table.

    Args:
        row_ids: ``(rows,)`` ids of the predicted windows.
        probs: ``(rows, classes)`` in the sample submission's column order; NaN rows (not
            predicted) take ``fallback``.
        sample_df: the sample submission (its columns and row order win).
        fallback: ``(classes,)`` or a scalar, for sample rows without audio and NaN rows.

    Returns:
        ``row_id`` + the sample's species columns (string labels), values in [0, 1], no NaN.
    """
    classes = comp.species_columns(sample_df)
    order = submission_order(row_ids, sample_df)
    fallback = np.broadcast_to(np.asarray(fallback, dtype=np.float32), (len(classes),))
    table = np.tile(fallback, (len(order), 1))
    position = {r: i for i, r in enumerate(order)}
    if len(row_ids):
        rows = np.fromiter((position[r] for r in row_ids), dtype=np.int64, count=len(row_ids))
        values = np.asarray(probs, dtype=np.float32)
        values = np.where(np.isnan(values), fallback[None, :], values)
        table[rows] = values
    table = np.clip(np.nan_to_num(table, nan=0.0), 0.0, 1.0)
    out = pd.DataFrame(table, columns=pd.Index(classes, dtype=object))
    out.insert(0, "row_id", pd.Series(order, dtype=object))
    return out


def validate_submission(submission_df: pd.DataFrame, sample_df: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming the problem unless the submission is valid for Kaggle."""
    if list(submission_df.columns) != [str(c) for c in sample_df.columns]:
        raise ValueError("submission columns differ from the sample submission's")
    if submission_df["row_id"].duplicated().any():
        raise ValueError("submission has duplicate row ids")
    missing = set(sample_df["row_id"].astype(str)) - set(submission_df["row_id"])
    if missing:
        raise ValueError(f"submission lacks {len(missing)} sample rows, e.g. {sorted(missing)[0]}")
    values = submission_df.iloc[:, 1:].to_numpy(dtype=np.float64)
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise ValueError("submission values must be in [0, 1] with no NaN")
