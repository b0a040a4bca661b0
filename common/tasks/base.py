"""The :class:`Task` interface: what the four stages ask of a competition.

A task is a frozen value (its facts: name, sample rate, clip and window length, id column,
classes, losses) with methods for what differs between competitions. The stages call these
methods; they never test which competition they run. The facts are stated here once and every
stage config derives its task-dependent defaults from :meth:`Task.config_defaults` (dataset
slugs from the competition name, the sample rate, the loss...).

What every task answers:

- **labels**: :meth:`read_classes` (the class list in model-output order) and
  :meth:`read_sample` (the sample submission and those classes);
- **outputs**: :meth:`activation` (logits -> probabilities), :meth:`loss_name` (the training
  losses that fit), :attr:`metric` and :meth:`score` (the competition metric);
- **submission**: :meth:`format_submission` (rows in the sample submission's order);
- **defaults**: :meth:`config_defaults` for each stage config (``STAGE`` of the config class).

Stage-specific hooks (how windows are cut, how predictions pool into rows, how pseudo labels
are chosen, how nb01 builds its tables) are methods of the concrete tasks, grouped per stage.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from common.core.paths import find_competition_dir

if TYPE_CHECKING:
    from common.budget.workload import Workload
    from common.data.loaders import AudioSource
    from common.data.prep_data import PrepData
    from common.data.windows import WindowItems
    from common.stages.infer.config import InferConfig
    from common.stages.infer.rows import SubmissionRows
    from common.stages.prep.config import PrepConfig
    from common.stages.prep.tables import PrepTables
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.pseudo.labels import PseudoLabeller
    from common.stages.train.config import TrainConfig
    from common.stages.train.items import FoldData
    from common.stages.train.summary import TaskSummary
    from common.stages.train.validation import Validation

__all__ = ["DATASET_SUFFIXES", "Task", "order_like_sample", "sigmoid", "softmax"]

# The dataset each stage publishes is ``<competition>-<suffix>`` (``birdclef-2026-models``);
# a stage config names its own with ``STAGE`` and its inputs with the ``*_slug`` fields.
DATASET_SUFFIXES = {"prep": "prep", "train": "models", "pseudo": "pseudo", "infer": "submission"}
UPSTREAM_SLUG_FIELDS = {"prep_slug": "prep", "models_slug": "train", "pseudo_slug": "pseudo"}


def sigmoid(logits: Any) -> Any:
    """Element-wise logistic function of a numpy array (float32 out) or a torch tensor."""
    if isinstance(logits, (np.ndarray, list)) or np.isscalar(logits):
        x = np.asarray(logits, dtype=np.float64)
        e = np.exp(-np.abs(x))  # exp of a negative magnitude only: no overflow for large |x|
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)
    return logits.sigmoid()  # a torch tensor (duck-typed: torch is not imported here)


def softmax(logits: Any) -> Any:
    """Softmax over the last axis of a numpy array (float32 out) or a torch tensor."""
    if isinstance(logits, (np.ndarray, list)) or np.isscalar(logits):
        x = np.asarray(logits, dtype=np.float64)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return logits.softmax(dim=-1)


def check_prediction_table(ids: Sequence[str], probs: np.ndarray, classes: Sequence[str]
                           ) -> tuple[list[str], np.ndarray, list[str]]:
    """``ids``, ``probs`` and ``classes`` checked for :meth:`Task.format_submission`.

    Raises ``TypeError`` for non-string classes and ``ValueError`` for a shape that is not
    ``(ids, classes)``, NaN/inf probabilities or repeated ids.
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
    return ids, probs, classes


def order_like_sample(out: pd.DataFrame, sample_df: pd.DataFrame | None, id_column: str
                      ) -> pd.DataFrame:
    """``out`` with the sample submission's columns checked and its ids first, in its order.

    Every sample id must be in ``out``; ids the sample does not list follow in ``out``'s order.
    """
    if sample_df is None:
        return out
    expected = [str(c) for c in out.columns]
    if [str(c) for c in sample_df.columns] != expected:
        raise ValueError(f"sample submission columns {list(sample_df.columns)[:6]}... differ "
                         f"from the task's {expected[:6]}...")
    ids = out[id_column].tolist()
    sample_ids = [str(i) for i in sample_df[id_column]]
    missing = sorted(set(sample_ids) - set(ids))
    if missing:
        raise ValueError(f"{len(missing)} sample submission ids have no prediction, e.g. "
                         f"{missing[0]!r}")
    listed = set(sample_ids)
    order = sample_ids + [i for i in ids if i not in listed]
    return out.set_index(id_column).loc[order].reset_index()


@dataclass(frozen=True)
class Task(ABC):
    """One competition. Subclasses are frozen dataclasses whose defaults are its facts."""

    name: str  # registry key and Kaggle competition slug (the folder under the input root)
    sample_rate: int  # Hz: the test audio, the cache and the model input
    clip_seconds: float  # length of one test file, seconds
    id_column: str  # submission column naming the scored row
    metric: str  # the competition metric, also the name of nb02's validation score
    losses: tuple[str, ...]  # common.model.losses names that fit the outputs; first = default
    classes: tuple[str, ...] = ()  # the known class list in output order; () = read from data
    window_seconds: float = 5.0  # audio behind one model input, seconds

    # What each notebook does for this task, in Markdown (``{"nb01": ..., "nb04": ...}``).
    NOTES: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        if any(not isinstance(c, str) for c in self.classes):
            raise TypeError(f"task {self.name!r}: classes must be strings")
        if not self.losses:
            raise ValueError(f"task {self.name!r}: name at least one loss")

    @property
    def competition(self) -> str:
        """The competition folder under the input root (= the Kaggle competition slug)."""
        return self.name

    def notes(self, notebook: str) -> str:
        """Markdown on what ``notebook`` (``"nb01"``..``"nb04"``) does for this task; the
        notebooks' own text is written for any task and shows this under the parameters."""
        return self.NOTES.get(notebook, "")

    def slug(self, stage: str) -> str:
        """The dataset a stage publishes, ``<competition>-<suffix>`` (``birdclef-2026-prep``)."""
        return f"{self.name}-{DATASET_SUFFIXES[stage]}"

    # -- labels ------------------------------------------------------------------------------

    @abstractmethod
    def read_classes(self, competition_dir: str | Path) -> list[str]:
        """The class list in model-output order, read from the competition folder."""

    @abstractmethod
    def read_sample(self, competition_dir: str | Path) -> tuple[pd.DataFrame, list[str]]:
        """``(sample submission, classes in model-output order)``; columns checked."""

    def checked_classes(self, found: Sequence[str], where: str | Path) -> list[str]:
        """``found`` (classes read from data), checked against :attr:`classes` when set (a
        missing or extra class is an error naming both lists; the task's order wins)."""
        found = [str(c) for c in found]
        if not self.classes:
            return found
        if sorted(found) != sorted(self.classes):
            raise ValueError(f"{where}: classes {found} differ from the task's "
                             f"{list(self.classes)}")
        return list(self.classes)

    # -- outputs -----------------------------------------------------------------------------

    @abstractmethod
    def activation(self, logits: Any) -> Any:
        """Probabilities from ``(..., classes)`` logits (numpy: float32 out; torch: a tensor)."""

    def loss_name(self, requested: str = "") -> str:
        """The training loss (a :func:`common.model.losses.build_loss` name).

        ``requested`` empty gives the task's default (the first of :attr:`losses`). A loss that
        does not fit the outputs (BCE on a softmax task) raises ``ValueError`` naming the valid
        ones, instead of training the wrong objective silently.
        """
        if not requested:
            return self.losses[0]
        if requested not in self.losses:
            raise ValueError(f"loss {requested!r} does not fit the task {self.name!r}; choose "
                             f"one of {', '.join(self.losses)}")
        return requested

    @abstractmethod
    def score(self, solution_df: pd.DataFrame, submission_df: pd.DataFrame) -> float:
        """The competition score of a submission against the answer key (higher is better)."""

    # -- submission --------------------------------------------------------------------------

    @abstractmethod
    def format_submission(self, ids: Sequence[str], probs: np.ndarray, classes: Sequence[str],
                          sample_df: pd.DataFrame | None = None) -> pd.DataFrame:
        """The submission table from ``(rows, classes)`` probabilities, one row per id.

        ``sample_df``: its columns must be this task's, and its ids come first in its order
        (each must be in ``ids``), then the other ids in order.
        """

    # -- stage defaults ----------------------------------------------------------------------

    def config_defaults(self, stage: str, fields: Sequence[str]) -> dict[str, Any]:
        """Task-dependent values for a stage config (``stage``: a :data:`DATASET_SUFFIXES` key).

        ``fields``: the config's leaf field names; only those are set. Every task derives the
        competition folder and the dataset slugs from its name; subclasses add their own
        (:meth:`stage_defaults`).
        """
        derived: dict[str, Any] = {"task": self.name, "competition": self.name,
                                   "dataset_slug": self.slug(stage),
                                   "sample_rate": self.sample_rate,
                                   "frontend.sample_rate": self.sample_rate}
        derived.update({name: self.slug(upstream)
                        for name, upstream in UPSTREAM_SLUG_FIELDS.items()})
        derived.update(self.stage_defaults(stage))
        return {k: v for k, v in derived.items() if k in fields}

    def stage_defaults(self, stage: str) -> dict[str, Any]:
        """The task's own defaults for a stage config, ``{dotted field: value}``."""
        return {}

    def config_class(self, base: type) -> type:
        """The config class of a stage for this task: ``base``, or a subclass of it that adds
        the task's own fields (kept in the task's folder, not in the stage)."""
        return base

    # -- nb01 (prep) hooks -------------------------------------------------------------------

    def prep_inputs(self, cfg: PrepConfig) -> Path:
        """The competition folder nb01 reads, checked to fit this task and ``cfg`` before
        anything is written (an error names the fix). Default: found under the input root."""
        return find_competition_dir(cfg.input_root, cfg.competition)

    @abstractmethod
    def prepare(self, cfg: PrepConfig, competition_dir: Path, workers: int) -> PrepTables:
        """nb01's work for this task: read ``competition_dir``, decode and cache the audio
        (``workers`` processes), fold, and write the tables nb02-nb04 read into
        ``cfg.output_dir`` (:func:`common.stages.prep.tables.write_prep_tables`) plus its
        figures. The stage writes the report and the dataset metadata."""

    # -- nb02 (train) hooks ------------------------------------------------------------------

    def check_train_config(self, cfg: TrainConfig) -> None:
        """Refuse nb02 settings that do not fit the task (``ValueError`` naming the fix); the
        loss is checked by the stage (:meth:`loss_name`). Default: everything fits."""
        return None

    @abstractmethod
    def fold_data(self, cfg: TrainConfig, prep: PrepData, fold: int) -> FoldData:
        """The rows fold ``fold`` trains on and is validated on
        (:class:`common.stages.train.items.FoldData`, built from that module's pieces)."""

    @abstractmethod
    def make_validation(self, source: AudioSource, *, soundscapes: WindowItems,
                        focal: WindowItems, clips: WindowItems | None, clip_samples: int,
                        batch_size: int, fold: int, classes: list[str]) -> Validation:
        """The validation of one fold (:mod:`common.stages.train.validation`): what is
        predicted, how it is scored, which score picks the epoch. ``clip_samples``: samples per
        model input; ``soundscapes``/``focal``/``clips``: the fold's held-out tables."""

    @abstractmethod
    def summarize_training(self, cfg: TrainConfig, prep: PrepData, fold_dirs: list[Path],
                           summary_df: pd.DataFrame) -> TaskSummary:
        """The task's part of nb02's run summary from the finished folds' files
        (``fold_dirs``; ``summary_df``: one ``done.json`` row per fold): merged out-of-fold
        predictions and their scores, per-class table, figures, report entries."""

    # -- nb03 (pseudo) hooks -----------------------------------------------------------------

    @abstractmethod
    def pseudo_labeller(self, cfg: PseudoConfig, prep: PrepData, competition_dir: Path
                        ) -> PseudoLabeller:
        """How nb03 labels this task's unlabelled audio (a
        :class:`common.stages.pseudo.labels.PseudoLabeller`): which files it scores, the
        tables and views a round writes, the validation scores it compares, the subsets."""

    def student_changes(self) -> dict[str, Any]:
        """Changes to a student's nb02 config after the strong augmentation presets,
        ``{dotted or unique leaf name: value}`` (none by default)."""
        return {}

    # -- nb04 (infer) hooks ------------------------------------------------------------------

    @abstractmethod
    def submission_rows(self, cfg: InferConfig, classes: Sequence[str]) -> SubmissionRows:
        """How nb04 turns window probabilities into this task's submission rows, figures and
        report entries (a :class:`common.stages.infer.rows.SubmissionRows`)."""

    def check_infer_config(self, cfg: InferConfig) -> None:
        """Raise ``ValueError`` for nb04 options that do not apply to this task (none by
        default)."""
        return None

    # -- the budget (common.budget) ------------------------------------------------------------

    def published_workload(self) -> Workload:
        """The real competition's sizes (``kaggle_facts.json`` in the task's folder, each fact
        with its source) as a :class:`common.budget.workload.Workload`."""
        from common.budget.facts import published_sizes
        from common.budget.workload import workload_from_facts

        folder = Path(inspect.getfile(type(self))).parent
        return workload_from_facts(published_sizes(folder),
                                   f"{self.name}'s published sizes ({folder.name}/"
                                   "kaggle_facts.json)")

    def measure_workload(self, competition_dir: Path) -> Workload:
        """The workload of a competition folder (counts, durations from the file headers).
        Tasks the budget planner serves implement it."""
        raise NotImplementedError(f"the budget planner cannot measure a {self.name!r} folder "
                                  "yet: implement measure_workload in its task folder")

    def labelled_windows(self, competition_dir: Path, classes: Sequence[str], sample_rate: int,
                         max_windows: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Labelled windows of the training audio for nb04's int8 calibration and its AUC
        guard: ``(waves (n, window samples) float32, labels (n, classes) 0/1)`` at
        ``sample_rate``, at most ``max_windows``; ``None`` when the task has none (int8 is then
        refused)."""
        return None
