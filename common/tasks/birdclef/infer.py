"""nb04 for BirdCLEF: one submission row per 5-s window (see :class:`WindowRows`).

Windows no model reached take the mean prediction (a class prior), then the optional smoothing
over neighbouring windows of the same file and the power sharpen the probabilities; the rows are
``row_id`` (``<file stem>_<end second>``) + one probability per species, the sample
submission's rows first. The figures are species x time for the first few soundscapes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.report import prediction_plots as plots
from common.report.plots import save_figure
from common.stages.infer.ensemble import smooth_windows
from common.stages.infer.rows import SubmissionRows
from common.stages.infer.submission import build_submission, validate_submission

if TYPE_CHECKING:
    from common.stages.infer.config import InferConfig
    from common.stages.infer.predictor import Predictions

__all__ = ["WindowRows"]

log = logging.getLogger(__name__)


class WindowRows(SubmissionRows):
    """Fill, smooth and sharpen the window probabilities; one row per window."""

    def __init__(self, cfg: InferConfig, classes: Sequence[str]) -> None:
        super().__init__(cfg, classes)
        self.predictions: Predictions | None = None
        self.probs: np.ndarray | None = None  # (windows, classes) final, set by build

    def build(self, predictions: Predictions | None, probs: np.ndarray,
              sample_df: pd.DataFrame, out: Path) -> pd.DataFrame:
        """The validated submission; keeps the final ``(windows, classes)`` probabilities for
        the figures."""
        cfg, classes = self.cfg, self.classes
        if predictions is not None:
            covered = ~np.isnan(probs).any(axis=1)
            # Windows no model reached get the mean prediction (a class prior), not a constant.
            fallback = (probs[covered].mean(axis=0) if covered.any()
                        else np.full(len(classes), cfg.fallback_probability, np.float32))
            probs = np.where(covered[:, None], probs, fallback[None, :])
            probs = smooth_windows(probs, predictions.file_ids, cfg.smoothing_kernel)
            if cfg.prob_power != 1.0:
                probs = np.power(np.clip(probs, 0.0, 1.0), cfg.prob_power)
                fallback = np.power(fallback, cfg.prob_power)
            row_ids = predictions.row_ids
            if len(set(row_ids)) != len(row_ids):
                log.warning("test files with the same stem share row ids; the later file wins")
        else:
            row_ids = []
            fallback = np.full(len(classes), cfg.fallback_probability, np.float32)
        submission_df = build_submission(row_ids, probs, sample_df, fallback)
        validate_submission(submission_df, sample_df)
        self.predictions, self.probs = predictions, probs
        return submission_df

    def figures(self, out: Path) -> dict[str, Path]:
        """Species x time figures of the first ``n_plot_files`` soundscapes."""
        predictions, n_files = self.predictions, self.cfg.n_plot_files
        if predictions is None or self.probs is None or n_files <= 0:
            return {}
        figures = {}
        offset = 0
        for path, n in zip(predictions.paths, predictions.n_windows):
            if len(figures) >= n_files:
                break
            fig = plots.soundscape_predictions(self.probs[offset:offset + n], self.classes,
                                               title=path.name)
            figures[path.stem] = save_figure(fig, out / "figures" / f"predictions_{path.stem}.png")
            offset += n
        return figures
