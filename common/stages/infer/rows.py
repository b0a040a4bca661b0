"""What differs between tasks at the end of nb04: how window probabilities become rows.

:class:`SubmissionRows` is the strategy a task returns from
:meth:`common.tasks.base.Task.submission_rows`: BirdCLEF fills, smooths and sharpens each 5-s
window and writes one row per window (:mod:`common.tasks.birdclef.infer`); a whole-clip task
pools the windows per clip, may blend another model in, and writes one label per clip. The
runner (:func:`common.stages.infer.run.run_inference`) calls, in order, :meth:`prepare` (before
the models run, inside the time budget), :meth:`build`, :meth:`figures` and :meth:`report`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from common.stages.infer.config import InferConfig
    from common.stages.infer.predictor import Predictions

__all__ = ["MEMBER_SUBMISSIONS", "SubmissionRows"]

# A task whose submission blends several models may write each single model's submission here
# (``<name>.csv``, the submission's layout) so that they can be scored like the blend (the
# pipeline runner scores them against an answer key).
MEMBER_SUBMISSIONS = "member_submissions"


class SubmissionRows(ABC):
    """One nb04 run's submission rows, figures and report extras for a task.

    Args:
        cfg: the stage config (the task's subclass of it, with the task's own fields).
        classes: the class list in model-output order (the submission's).
    """

    def __init__(self, cfg: InferConfig, classes: Sequence[str]) -> None:
        self.cfg = cfg
        self.classes = list(classes)

    def prepare(self, paths: list[Path]) -> None:
        """Work done before the models run (so the time budget counts it); none by default.

        ``paths``: the test files about to be predicted, in order.
        """
        return None

    @abstractmethod
    def build(self, predictions: Predictions | None, probs: np.ndarray,
              sample_df: pd.DataFrame, out: Path) -> pd.DataFrame:
        """The validated submission table, in the sample submission's row order.

        Args:
            predictions: the engine's raw output; ``None`` when there is no test audio.
            probs: ``(windows, classes)`` combined probabilities, NaN where no model reached
                the window; ``(0, classes)`` without test audio.
            sample_df: the sample submission (its columns and ids win).
            out: the working dir, for the task's extra tables.
        """

    def figures(self, out: Path) -> dict[str, Path]:
        """Figures of the predictions, saved under ``out / "figures"`` (``{name: path}``)."""
        return {}

    def report(self) -> dict[str, Any]:
        """Task-specific entries of ``infer_report.json``."""
        return {}

    def tables(self) -> dict[str, pd.DataFrame]:
        """Task-specific tables nb04 shows (``{title: table}``); none by default."""
        return {}
