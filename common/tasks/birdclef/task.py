"""The BirdCLEF task object: multi-label 5-s windows of soundscapes (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.core import metrics
from common.data import competition as comp
from common.tasks.base import Task, check_prediction_table, order_like_sample, sigmoid

if TYPE_CHECKING:
    from common.data.windows import PrepData
    from common.stages.infer.config import InferConfig
    from common.stages.infer.rows import SubmissionRows
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.pseudo.labels import PseudoLabeller


@dataclass(frozen=True)
class BirdclefTask(Task):
    """BirdCLEF+ 2026 (and any competition shaped like it: change the facts, keep the class)."""

    name: str = "birdclef-2026"
    sample_rate: int = 32000
    clip_seconds: float = 60.0
    id_column: str = "row_id"
    metric: str = "macro_roc_auc"
    losses: tuple[str, ...] = ("asl", "bce", "focal")

    # -- TRANSITIONAL (issue 11): the old TaskSpec switches, read by stage code that still
    # branches on them. Each stage's hooks replace its reads; the last one deletes this block.
    multilabel = True
    label_mode = "multilabel"
    windowing = "windows_5s"
    submission = "windows_x_classes"
    classes_source = "sample_submission_columns"
    label_column = ""

    @property
    def scored_seconds(self) -> float:
        return self.window_seconds

    # -- labels ------------------------------------------------------------------------------

    def read_classes(self, competition_dir: str | Path) -> list[str]:
        """The sample submission's species columns, in its order."""
        return self.read_sample(competition_dir)[1]

    def read_sample(self, competition_dir: str | Path) -> tuple[pd.DataFrame, list[str]]:
        """The sample submission (species columns as strings) and its species columns."""
        sample_df = comp.read_sample_submission(competition_dir)
        classes = self.checked_classes(comp.species_columns(sample_df), competition_dir)
        return sample_df, classes

    # -- outputs -----------------------------------------------------------------------------

    def activation(self, logits: Any) -> Any:
        """Sigmoid: several species can call at once."""
        return sigmoid(logits)

    def score(self, solution_df: pd.DataFrame, submission_df: pd.DataFrame) -> float:
        """Kaggle's macro ROC-AUC over the species with a positive in the answer key."""
        return metrics.macro_roc_auc(solution_df, submission_df, row_id_column=self.id_column)

    # -- submission --------------------------------------------------------------------------

    def format_submission(self, ids: Sequence[str], probs: np.ndarray, classes: Sequence[str],
                          sample_df: pd.DataFrame | None = None) -> pd.DataFrame:
        """``row_id`` + one float32 probability column per species, clipped to [0, 1]."""
        ids, probs, classes = check_prediction_table(ids, probs, classes)
        out = pd.DataFrame(np.clip(probs, 0.0, 1.0).astype(np.float32),
                           columns=pd.Index(classes, dtype=object))
        out.insert(0, self.id_column, pd.Series(ids, dtype=object))
        return order_like_sample(out, sample_df, self.id_column)

    # -- nb03 (pseudo) hooks -----------------------------------------------------------------

    def pseudo_labeller(self, cfg: PseudoConfig, prep: PrepData, competition_dir: Path
                        ) -> PseudoLabeller:
        """Soft labels per 5-s window of the unlabelled train soundscapes, curated subsets
        (:mod:`common.tasks.birdclef.pseudo`)."""
        from common.tasks.birdclef.pseudo import WindowLabeller

        return WindowLabeller(cfg, prep, competition_dir)

    # -- nb04 (infer) hooks ------------------------------------------------------------------

    def submission_rows(self, cfg: InferConfig, classes: Sequence[str]) -> SubmissionRows:
        """One row per 5-s window (:mod:`common.tasks.birdclef.infer`)."""
        from common.tasks.birdclef.infer import WindowRows

        return WindowRows(cfg, classes)
