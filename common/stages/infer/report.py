"""nb04's run report: what ran, how fast, and which budget decisions were taken.

:func:`infer_report` is the task-independent part of ``infer_report.json`` (the task adds its
own entries through :meth:`common.stages.infer.rows.SubmissionRows.report`);
:func:`timings_table` is ``infer_timings.csv``, one row per batch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from common.stages.infer.config import InferConfig
from common.stages.infer.members import Member
from common.stages.infer.predictor import Predictions

__all__ = ["TIMING_COLUMNS", "infer_report", "timings_table"]

TIMING_COLUMNS = ["batch", "windows", "files", "seconds", "elapsed_seconds", "models", "views"]


def timings_table(predictions: Predictions | None) -> pd.DataFrame:
    """One row per batch: windows, files, seconds, elapsed seconds, models and views kept."""
    return pd.DataFrame(predictions.batch_log if predictions else [], columns=TIMING_COLUMNS)


def infer_report(cfg: InferConfig, members: list[Member], predictions: Predictions | None,
                 submission_df: pd.DataFrame, threads: int, seconds: float) -> dict[str, Any]:
    """The ensemble, its views, speed per model (windows per second), coverage and budget
    events; ``seconds``: the run's wall time so far."""
    report: dict[str, Any] = {
        "n_models": len(members),
        "models": [m.name for m in members],
        "model_weights": [m.weight for m in members],
        "combine": cfg.predict.combine,
        "tta": list(cfg.predict.views),
        "threads": threads,
        "n_rows": int(len(submission_df)),
        "seconds": round(seconds, 2),
        "time_budget_minutes": cfg.predict.time_budget_minutes,
    }
    if predictions is not None:
        windows = int(sum(predictions.n_windows))
        report.update({
            "n_files": len(predictions.paths),
            "n_windows": windows,
            "n_failed_files": len(predictions.failed_files),
            "failed_files": predictions.failed_files,
            "windows_covered_per_model": [int(c.sum()) for c in predictions.covered],
            "runner": [m.runner_kind for m in members],
            "model_windows_per_second": [round(1.0 / s, 1) if s > 0 else None
                                         for s in predictions.member_seconds_per_window],
            "stopped_at_deadline": predictions.stopped_early,
            "budget_events": predictions.events,
        })
    return report
