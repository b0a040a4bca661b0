"""nb02's run in the experiment tracker (:mod:`common.report.tracking`): config, per-epoch
metrics per fold, fold summaries, the task's tables and figures.

Logged once the folds are merged, in the stage's own process: folds may train in parallel
worker processes, and one tracked run is not shared across processes.
"""

from __future__ import annotations

from common.core.config import config_to_dict
from common.report.tracking import log_fold_summary, log_history, tracker_for
from common.stages.train.config import TrainConfig
from common.stages.train.summary import TrainResult

__all__ = ["track_training"]


def track_training(cfg: TrainConfig, result: TrainResult) -> None:
    """Log a finished nb02 run with ``cfg.tracking`` (``off``: nothing is written)."""
    name = f"nb02-{cfg.task}-{cfg.preset}"
    with tracker_for(cfg.tracking, cfg.working_dir, default_run_name=name) as tracker:
        tracker.log_config(config_to_dict(cfg))
        log_history(tracker, result.log_df)
        log_fold_summary(tracker, result.fold_summary_df)
        tracker.log_summary({k: v for k, v in result.report.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool)})
        tracker.log_table("per_class", result.per_class_df)
        if not result.model_scores_df.empty:
            tracker.log_table("model_scores", result.model_scores_df)
        for figure, path in result.figures.items():
            tracker.log_figure(figure, path)
