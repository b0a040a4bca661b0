"""The competition metric: macro ROC-AUC over classes that have at least one positive.

``macro_roc_auc`` reproduces Kaggle's BirdCLEF scorer on DataFrames (a solution and a
submission with a ``row_id`` column and one column per species). ``macro_auc_array`` and
``per_class_auc`` are the array versions used during validation.

Species labels are strings. Some are numeric-looking (iNaturalist ids such as ``"65448"``);
column labels are compared as strings so an int column read from a CSV or taxonomy table still
lines up with its string name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

__all__ = ["macro_roc_auc", "per_class_auc", "macro_auc_array", "macro_f1"]


def macro_roc_auc(
    solution_df: pd.DataFrame, submission_df: pd.DataFrame, row_id_column: str = "row_id"
) -> float:
    """Kaggle's BirdCLEF score: macro ROC-AUC over the classes with a positive in the solution.

    Args:
        solution_df: ``row_id`` plus one 0/1 column per class, ``(rows, 1 + classes)``.
        submission_df: ``row_id`` plus one score column per class, any column and row order;
            extra columns are ignored, as on Kaggle.

    Rows are aligned by ``row_id`` and columns by name. Classes with no positive in the
    solution are skipped. Raises ``ValueError`` naming the problem for missing row ids or
    class columns, non-numeric scores, or a scored class with no negative (where Kaggle's
    ``roc_auc_score`` call would fail too).
    """
    solution_df = _with_str_columns(solution_df)
    submission_df = _with_str_columns(submission_df)
    for name, df in (("solution", solution_df), ("submission", submission_df)):
        if row_id_column not in df.columns:
            raise ValueError(f"{name} has no {row_id_column!r} column")
        if df[row_id_column].duplicated().any():
            dup = df.loc[df[row_id_column].duplicated(), row_id_column].iloc[0]
            raise ValueError(f"{name} has duplicate {row_id_column} values, e.g. {dup!r}")
    solution = solution_df.set_index(solution_df[row_id_column].astype(str))
    submission = submission_df.set_index(submission_df[row_id_column].astype(str))
    solution = solution.drop(columns=row_id_column)
    submission = submission.drop(columns=row_id_column)

    missing_rows = solution.index.difference(submission.index)
    if len(missing_rows):
        raise ValueError(
            f"submission lacks {len(missing_rows)} {row_id_column} values, e.g. {missing_rows[0]!r}"
        )
    missing_cols = [c for c in solution.columns if c not in submission.columns]
    if missing_cols:
        raise ValueError(f"submission lacks {len(missing_cols)} class columns: {missing_cols[:10]}")
    submission = submission.loc[solution.index, list(solution.columns)]
    if not all(pd.api.types.is_numeric_dtype(t) for t in submission.dtypes):
        bad = [c for c, t in submission.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
        raise ValueError(f"submission has non-numeric class columns: {bad[:10]}")

    y_true = solution.to_numpy(dtype=float)
    _check_binary(y_true)
    scored = y_true.sum(axis=0) > 0
    if not scored.any():
        raise ValueError("solution has no positive label in any class; nothing to score")
    no_negative = scored & ((1 - y_true).sum(axis=0) == 0)
    if no_negative.any():
        names = list(solution.columns[no_negative][:10])
        raise ValueError(
            f"classes with no negative row cannot be scored: {names}. "
            "Use macro_auc_array to skip them."
        )
    return float(
        roc_auc_score(
            y_true[:, scored], submission.to_numpy(dtype=float)[:, scored], average="macro"
        )
    )


def per_class_auc(y_true: np.ndarray, y_score: np.ndarray, class_names: Sequence[str]) -> pd.Series:
    """ROC-AUC of every class.

    Args:
        y_true: ``(N, C)`` 0/1 labels.
        y_score: ``(N, C)`` scores (logits or probabilities: AUC only uses the ranking).
        class_names: ``C`` species labels, strings.

    Returns:
        Series indexed by class name (strings), NaN where the class has no positive or no
        negative among the ``N`` rows.
    """
    y_true, y_score = _check_arrays(y_true, y_score)
    if len(class_names) != y_true.shape[1]:
        raise ValueError(f"{len(class_names)} class names for {y_true.shape[1]} columns")
    bad = [c for c in class_names if not isinstance(c, str)]
    if bad:
        raise TypeError(
            f"class names must be strings (numeric-looking species ids included), got {bad[:5]}"
        )
    pos = y_true.sum(axis=0)
    auc = np.full(y_true.shape[1], np.nan)
    for c in np.flatnonzero((pos > 0) & (pos < y_true.shape[0])):
        auc[c] = roc_auc_score(y_true[:, c], y_score[:, c])
    return pd.Series(auc, index=pd.Index(list(class_names), dtype=object), name="auc")


def macro_auc_array(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Macro ROC-AUC over classes with at least one positive and one negative.

    Args: y_true ``(N, C)`` 0/1, y_score ``(N, C)``. Equals the Kaggle score whenever every
    class with a positive also has a negative. Returns NaN, with a warning, when no class can
    be scored (a tiny validation set).
    """
    y_true, y_score = _check_arrays(y_true, y_score)
    pos = y_true.sum(axis=0)
    scored = (pos > 0) & (pos < y_true.shape[0])
    if not scored.any():
        warnings.warn(
            "macro_auc_array: no class has both a positive and a negative; NaN", stacklevel=2
        )
        return float("nan")
    return float(roc_auc_score(y_true[:, scored], y_score[:, scored], average="macro"))


def _with_str_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Copy with string column labels, so int 65448 and "65448" are the same class."""
    out = df.copy()
    out.columns = [str(c) for c in out.columns]
    if out.columns.duplicated().any():
        raise ValueError(f"duplicate column labels: {list(out.columns[out.columns.duplicated()])}")
    return out


def _check_binary(y_true: np.ndarray) -> None:
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1 (threshold soft labels first)")


def _check_arrays(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float)
    y_score = np.asarray(y_score, dtype=float)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(
            f"expected y_true and y_score of the same shape (N, C), got {y_true.shape} and "
            f"{y_score.shape}"
        )
    _check_binary(y_true)
    return y_true, y_score


def macro_f1(
    solution_df: pd.DataFrame,
    submission_df: pd.DataFrame,
    id_column: str = "id",
    label_column: str = "",
    classes: Sequence[str] | None = None,
) -> float:
    """Macro F1 of one hard label per row (single-label tasks, e.g. one genre per clip).

    Args:
        solution_df: ``id_column`` + ``label_column``, one true label per row.
        submission_df: ``id_column`` + ``label_column``, any row order; extra columns ignored.
        label_column: the label column; ``""`` takes the solution's only other column.
        classes: the valid labels; a submitted label outside them is an error. ``None``: the
            labels seen in the solution.

    Labels are compared as strings. The average runs over the union of true and predicted
    labels (sklearn's ``f1_score(average="macro")`` default, as Kaggle scores it), so a class
    that is predicted but never true counts as an F1 of 0. Raises ``ValueError`` naming the
    problem for missing columns, duplicate or missing ids, empty labels, or unknown labels.
    """
    from sklearn.metrics import f1_score

    if not label_column:
        others = [str(c) for c in solution_df.columns if str(c) != id_column]
        if len(others) != 1:
            raise ValueError(f"solution has columns {others} besides {id_column!r}; "
                             "name the label column")
        label_column = others[0]
    frames = {}
    for name, df in (("solution", solution_df), ("submission", submission_df)):
        df = _with_str_columns(df)
        for column in (id_column, label_column):
            if column not in df.columns:
                raise ValueError(f"{name} has no {column!r} column")
        ids = df[id_column].astype(str)
        if ids.duplicated().any():
            raise ValueError(f"{name} has duplicate {id_column} values, e.g. "
                             f"{ids[ids.duplicated()].iloc[0]!r}")
        labels = df[label_column]
        if labels.isna().any() or (labels.astype(str).str.strip() == "").any():
            raise ValueError(f"{name} has empty {label_column!r} values")
        frames[name] = pd.Series(labels.astype(str).to_numpy(), index=ids.to_numpy())
    solution, submission = frames["solution"], frames["submission"]
    if solution.empty:
        raise ValueError("solution has no rows; nothing to score")
    missing = solution.index.difference(submission.index)
    if len(missing):
        raise ValueError(f"submission lacks {len(missing)} {id_column} values, e.g. "
                         f"{missing[0]!r}")
    submission = submission.loc[solution.index]
    valid = set(map(str, classes)) if classes is not None else set(solution)
    unknown = sorted(set(submission) - valid)
    if unknown:
        raise ValueError(f"submission has {len(unknown)} unknown labels: {unknown[:10]}; valid "
                         f"labels are {sorted(valid)[:20]}")
    return float(f1_score(solution.to_numpy(), submission.to_numpy(), average="macro",
                          zero_division=0.0))
