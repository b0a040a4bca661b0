"""The BirdCLEF task object: multi-label 5-s windows of soundscapes (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from common.audio.io import AudioDecodeError, load_audio
from common.core import metrics
from common.data import competition as comp
from common.tasks.base import Task, check_prediction_table, order_like_sample, sigmoid
from common.tasks.birdclef.notes import NOTES

if TYPE_CHECKING:
    from common.budget.workload import Workload
    from common.data.prep_data import PrepData
    from common.stages.infer.config import InferConfig
    from common.stages.infer.rows import SubmissionRows
    from common.stages.prep.config import PrepConfig
    from common.stages.prep.tables import PrepTables
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
    NOTES: ClassVar[dict[str, str]] = NOTES

    losses: tuple[str, ...] = ("asl", "bce", "focal")

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

    # -- nb01 (prep) hooks -------------------------------------------------------------------

    def prepare(self, cfg: PrepConfig, competition_dir: Path, workers: int) -> PrepTables:
        """Focal clips and soundscapes cleaned, cached and folded
        (:func:`common.tasks.birdclef.prep.prepare_birdclef`)."""
        from common.tasks.birdclef.prep import prepare_birdclef

        return prepare_birdclef(cfg, competition_dir, workers)

    # -- nb02 (train) hooks ------------------------------------------------------------------
    # Implemented in common.tasks.birdclef.train (imported on use: it needs torch).

    def check_train_config(self, cfg: Any) -> None:
        from common.tasks.birdclef.train import check_train_config

        check_train_config(self, cfg)

    def fold_data(self, cfg: Any, prep: Any, fold: int) -> Any:
        from common.tasks.birdclef.train import fold_data

        return fold_data(cfg, prep, fold)

    def make_validation(self, source: Any, *, soundscapes: Any, focal: Any, clips: Any,
                        clip_samples: int, batch_size: int, fold: int,
                        classes: list[str]) -> Any:
        from common.tasks.birdclef.train import make_validation

        return make_validation(self, source, soundscapes=soundscapes, focal=focal,
                               clip_samples=clip_samples, batch_size=batch_size, fold=fold,
                               classes=classes)

    def summarize_training(self, cfg: Any, prep: Any, fold_dirs: list[Path],
                           summary_df: pd.DataFrame) -> Any:
        from common.tasks.birdclef.train import summarize_training

        return summarize_training(cfg, prep, fold_dirs, summary_df)

    # -- nb03 (pseudo) hooks -----------------------------------------------------------------

    def pseudo_labeller(self, cfg: PseudoConfig, prep: PrepData, competition_dir: Path
                        ) -> PseudoLabeller:
        """Soft labels per 5-s window of the unlabelled train soundscapes, curated subsets
        (:mod:`common.tasks.birdclef.pseudo`)."""
        from common.tasks.birdclef.pseudo import WindowLabeller

        return WindowLabeller(cfg, prep, competition_dir)

    # -- nb04 (infer) hooks ------------------------------------------------------------------

    def labelled_windows(self, competition_dir: Path, classes: Sequence[str], sample_rate: int,
                         max_windows: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The labelled windows of ``train_soundscapes_labels.csv``, file by file in sorted
        order, up to ``max_windows``."""
        labels_df = comp.read_soundscape_labels(competition_dir)
        waves, rows = [], []
        size = int(comp.WINDOW_SECONDS * sample_rate)
        for filename, group in labels_df.groupby("filename", sort=True):
            try:
                wave = load_audio(Path(competition_dir) / "train_soundscapes" / filename,
                                  sample_rate)
            except (AudioDecodeError, FileNotFoundError):
                continue
            for start, labels in zip(group["start_seconds"], group["primary_label"]):
                window = wave[int(start * sample_rate):int(start * sample_rate) + size]
                if len(window) == size and len(rows) < max_windows:
                    waves.append(window)
                    rows.append(labels.split(";") if labels else [])
        if not rows:
            return None
        return np.stack(waves).astype(np.float32), comp.multi_hot(rows, list(classes))

    def submission_rows(self, cfg: InferConfig, classes: Sequence[str]) -> SubmissionRows:
        """One row per 5-s window (:mod:`common.tasks.birdclef.infer`)."""
        from common.tasks.birdclef.infer import WindowRows

        return WindowRows(cfg, classes)

    def measure_workload(self, competition_dir: Path) -> Workload:
        """Counts and header durations of a folder (:mod:`common.tasks.birdclef.budget`)."""
        from common.tasks.birdclef.budget import measure_workload

        return measure_workload(competition_dir, self.window_seconds, self.clip_seconds,
                                self.sample_rate)
