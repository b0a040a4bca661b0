"""What a competition asks for: labels, metric, windowing and submission shape, as one value.

The pipeline is written once; a :class:`TaskSpec` says where two audio competitions differ:

- ``label_mode``: ``"multilabel"`` (BirdCLEF: several species per window; sigmoid outputs,
  ASL/BCE/focal loss) or ``"single"`` (one genre per clip; softmax outputs, cross-entropy);
- ``metric``: ``"macro_roc_auc"`` (per-class ranking, probabilities scored as they are) or
  ``"macro_f1"`` (one hard label per clip, the arg-max);
- ``windowing``: ``"windows_5s"`` (a prediction per 5-s window of each test file) or
  ``"whole_clip"`` (one prediction per file, the file's windows pooled);
- ``submission``: ``"windows_x_classes"`` (``row_id`` per window + one probability column per
  class, in the sample submission's column order) or ``"label_per_clip"`` (``id, <label>``);
- ``classes_source``: ``"sample_submission_columns"`` (BirdCLEF: the species are the sample
  submission's columns) or ``"train_folders"`` (mashup: the genres are the folders of
  ``train/``), checked against ``classes`` when that is not empty.

The functions below are what the stages call instead of hard-coding one competition:
:func:`loss_name_for`, :func:`activation`, :func:`score`, :func:`format_submission` and
:func:`task_classes`. They are pure; nothing here reads global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BIRDCLEF_2026",
    "GENRES",
    "MESSY_MASHUP",
    "MULTILABEL_LOSSES",
    "SINGLE_LABEL_LOSSES",
    "TASKS",
    "TaskSpec",
    "activation",
    "format_submission",
    "get_task",
    "loss_name_for",
    "score",
    "task_classes",
]

LABEL_MODES = ("multilabel", "single")
METRICS = ("macro_roc_auc", "macro_f1")
WINDOWINGS = ("windows_5s", "whole_clip")
SUBMISSIONS = ("windows_x_classes", "label_per_clip")
CLASSES_SOURCES = ("sample_submission_columns", "train_folders")

# Losses of common.model.losses that fit each label mode; the first one is the task's default.
MULTILABEL_LOSSES = ("asl", "bce", "focal")
SINGLE_LABEL_LOSSES = ("cross_entropy",)

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")


@dataclass(frozen=True)
class TaskSpec:
    """One competition's task definition. See the module docstring for the choices."""

    name: str  # registry key, e.g. "birdclef-2026"
    competition: str  # folder of the competition under the input root (Kaggle slug)
    classes_source: str  # "sample_submission_columns" or "train_folders"
    label_mode: str  # "multilabel" or "single"
    metric: str  # "macro_roc_auc" or "macro_f1"
    windowing: str  # "windows_5s" or "whole_clip"
    submission: str  # "windows_x_classes" or "label_per_clip"
    clip_seconds: float  # length of one test file, seconds (60-s soundscape, 30-s mashup)
    sample_rate: int  # rate of the test audio and of the model's input, Hz
    id_column: str = "row_id"  # submission column naming the scored row
    label_column: str = ""  # "label_per_clip": the column holding the class label
    classes: tuple[str, ...] = ()  # the known class list, in output order; () = read from data
    window_seconds: float = 5.0  # "windows_5s": length of one scored window, seconds

    def __post_init__(self) -> None:
        for field_name, allowed in (("label_mode", LABEL_MODES), ("metric", METRICS),
                                    ("windowing", WINDOWINGS), ("submission", SUBMISSIONS),
                                    ("classes_source", CLASSES_SOURCES)):
            value = getattr(self, field_name)
            if value not in allowed:
                raise ValueError(f"TaskSpec {self.name!r}: {field_name}={value!r}; choose one of "
                                 f"{', '.join(allowed)}")
        if self.submission == "label_per_clip":
            if not self.label_column:
                raise ValueError(f"TaskSpec {self.name!r}: label_per_clip needs a label_column")
            if self.label_mode != "single" or self.windowing != "whole_clip":
                raise ValueError(f"TaskSpec {self.name!r}: label_per_clip needs label_mode "
                                 "'single' and windowing 'whole_clip' (one label per file)")
        if self.metric == "macro_f1" and self.submission != "label_per_clip":
            raise ValueError(f"TaskSpec {self.name!r}: macro_f1 scores hard labels; use "
                             "submission='label_per_clip'")
        if any(not isinstance(c, str) for c in self.classes):
            raise TypeError(f"TaskSpec {self.name!r}: classes must be strings")

    @property
    def multilabel(self) -> bool:
        """True when several classes can be present at once (sigmoid outputs)."""
        return self.label_mode == "multilabel"

    @property
    def scored_seconds(self) -> float:
        """Audio behind one scored row: a 5-s window, or the whole clip."""
        return self.window_seconds if self.windowing == "windows_5s" else self.clip_seconds


BIRDCLEF_2026 = TaskSpec(
    name="birdclef-2026",
    competition="birdclef-2026",
    classes_source="sample_submission_columns",
    label_mode="multilabel",
    metric="macro_roc_auc",
    windowing="windows_5s",
    submission="windows_x_classes",
    clip_seconds=60.0,
    sample_rate=32000,
    id_column="row_id",
)

MESSY_MASHUP = TaskSpec(
    name="messy-mashup",
    competition="messy-mashup",
    classes_source="train_folders",
    label_mode="single",
    metric="macro_f1",
    windowing="whole_clip",
    submission="label_per_clip",
    clip_seconds=30.0,
    sample_rate=22050,
    id_column="id",
    label_column="genre",
    classes=GENRES,
)

TASKS: dict[str, TaskSpec] = {t.name: t for t in (BIRDCLEF_2026, MESSY_MASHUP)}


def get_task(name: str) -> TaskSpec:
    """The registered task called ``name`` (a ``TASKS`` key); unknown names list the valid ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def task_classes(task: TaskSpec, competition_dir: str | Path) -> list[str]:
    """The class list in model-output order, read where ``task.classes_source`` says.

    ``sample_submission_columns``: the sample submission's columns after the id column (their
    order is the submission's). ``train_folders``: the sorted folder names of
    ``<competition_dir>/train``. When ``task.classes`` is set, the data must hold exactly those
    classes (a missing or extra genre folder is an error naming both lists) and its order wins.
    """
    competition_dir = Path(competition_dir)
    if task.classes_source == "sample_submission_columns":
        from common.data.competition import read_csv_str

        path = competition_dir / "sample_submission.csv"
        columns = [str(c) for c in read_csv_str(path).columns]
        if not columns or columns[0] != task.id_column:
            raise ValueError(f"{path}: first column is not {task.id_column!r}")
        found = columns[1:]
    else:
        train_dir = competition_dir / "train"
        if not train_dir.is_dir():
            raise FileNotFoundError(f"{train_dir} is missing: the {task.name} competition keeps "
                                    "one folder per class there")
        found = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if task.classes:
        if sorted(found) != sorted(task.classes):
            raise ValueError(f"{competition_dir}: classes {found} differ from the task's "
                             f"{list(task.classes)}")
        return list(task.classes)
    return found


def loss_name_for(task: TaskSpec, requested: str = "") -> str:
    """The training loss (a :func:`common.model.losses.build_loss` name) for ``task``.

    ``requested`` empty gives the task's default (``"asl"`` for multi-label, ``"cross_entropy"``
    for single-label). A loss that does not fit the label mode (BCE on a softmax task) raises
    ``ValueError`` naming the valid ones, instead of training the wrong objective silently.
    """
    allowed = MULTILABEL_LOSSES if task.multilabel else SINGLE_LABEL_LOSSES
    if not requested:
        return allowed[0]
    if requested not in allowed:
        raise ValueError(f"loss {requested!r} does not fit the {task.label_mode}-label task "
                         f"{task.name!r}; choose one of {', '.join(allowed)}")
    return requested


def activation(task: TaskSpec, logits: Any) -> Any:
    """Probabilities from logits: sigmoid (multi-label) or softmax over the last axis (single).

    Args:
        logits: ``(..., classes)`` numpy array or torch tensor.

    Returns:
        The same type and shape; numpy input comes back as float32.
    """
    if isinstance(logits, np.ndarray) or np.isscalar(logits) or isinstance(logits, list):
        x = np.asarray(logits, dtype=np.float64)
        if task.multilabel:
            # exp of a negative magnitude only: no overflow for large |x|.
            e = np.exp(-np.abs(x))
            out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        else:
            shifted = x - x.max(axis=-1, keepdims=True)
            e = np.exp(shifted)
            out = e / e.sum(axis=-1, keepdims=True)
        return out.astype(np.float32)
    if task.multilabel:  # a torch tensor (duck-typed: torch is not imported here)
        return logits.sigmoid()
    return logits.softmax(dim=-1)


def score(task: TaskSpec, solution_df: pd.DataFrame, submission_df: pd.DataFrame) -> float:
    """The competition score of ``submission_df`` against ``solution_df`` (higher is better).

    ``macro_roc_auc``: :func:`common.core.metrics.macro_roc_auc` (id column + one 0/1 column per
    class). ``macro_f1``: :func:`common.core.metrics.macro_f1` (id column + the label column).
    """
    from common.core import metrics

    if task.metric == "macro_roc_auc":
        return metrics.macro_roc_auc(solution_df, submission_df, row_id_column=task.id_column)
    return metrics.macro_f1(solution_df, submission_df, id_column=task.id_column,
                            label_column=task.label_column,
                            classes=task.classes or None)


def format_submission(task: TaskSpec, ids: Sequence[str], probs: np.ndarray,
                      classes: Sequence[str], sample_df: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
    """The submission table of ``task`` from per-row probabilities.

    Args:
        ids: ``(rows,)`` row ids (``<file>_<end second>`` per window, or the clip id).
        probs: ``(rows, classes)`` probabilities in ``classes`` order.
        classes: class labels (strings), the columns of ``probs``.
        sample_df: optional sample submission: its columns must be this task's, and its ids
            come first in its order (each must be in ``ids``), then the other ids in order.

    Returns:
        ``windows_x_classes``: ``id_column`` + one float column per class, clipped to [0, 1].
        ``label_per_clip``: ``id_column, label_column`` with the arg-max class (ties: the first
        class in ``classes`` order).
    """
    ids = [str(i) for i in ids]
    probs = np.asarray(probs, dtype=np.float64)
    classes = list(classes)
    if any(not isinstance(c, str) for c in classes):
        raise TypeError("classes must be strings (numeric-looking species ids included)")
    if probs.shape != (len(ids), len(classes)):
        raise ValueError(f"probs has shape {probs.shape}; expected ({len(ids)}, {len(classes)}) "
                         "= (ids, classes)")
    if not np.isfinite(probs).all():
        raise ValueError("probs holds NaN or inf; fill rows that were not predicted first")
    if len(set(ids)) != len(ids):
        raise ValueError("ids are not unique")
    if task.submission == "windows_x_classes":
        out = pd.DataFrame(np.clip(probs, 0.0, 1.0).astype(np.float32),
                           columns=pd.Index(classes, dtype=object))
    else:
        labels = [classes[j] for j in np.argmax(probs, axis=1)] if len(ids) else []
        out = pd.DataFrame({task.label_column: pd.Series(labels, dtype=object)})
    out.insert(0, task.id_column, pd.Series(ids, dtype=object))
    if sample_df is None:
        return out
    expected = [task.id_column, *(classes if task.submission == "windows_x_classes"
                                  else [task.label_column])]
    if [str(c) for c in sample_df.columns] != expected:
        raise ValueError(f"sample submission columns {list(sample_df.columns)[:6]}... differ "
                         f"from the task's {expected[:6]}...")
    sample_ids = [str(i) for i in sample_df[task.id_column]]
    missing = sorted(set(sample_ids) - set(ids))
    if missing:
        raise ValueError(f"{len(missing)} sample submission ids have no prediction, e.g. "
                         f"{missing[0]!r}")
    listed = set(sample_ids)
    order = sample_ids + [i for i in ids if i not in listed]
    return out.set_index(task.id_column).loc[order].reset_index()
