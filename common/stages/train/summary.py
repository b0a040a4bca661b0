"""nb02's run summary: every finished fold's files merged into the run's tables, plots, report.

:func:`summarize_run` reads each fold's ``history.csv`` and ``done.json`` under ``folds/`` and
writes ``training_log.csv``, ``fold_summary.csv``, ``figures/learning_curves.png`` and
``dataset-metadata.json``. What the out-of-fold predictions are and how they are scored is the
task's (:meth:`common.tasks.base.Task.summarize_training`, returning a :class:`TaskSummary`):
BirdCLEF merges the soundscape and focal OOF files into per-species AUC tables; a whole-clip
task scores its clip OOF and its baselines. :class:`TrainResult` is what the notebook shows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from common.core.kaggle import write_dataset_metadata
from common.report import training_plots as plots
from common.report.plots import save_figure
from common.stages.train.layout import backbone_short_name

if TYPE_CHECKING:
    from common.data.prep_data import PrepData
    from common.stages.train.config import TrainConfig

log = logging.getLogger(__name__)

__all__ = ["TrainResult", "TaskSummary", "summarize_run", "fold_dirs", "read_fold_csvs",
           "nanmean"]


@dataclass
class TrainResult:
    """What nb02 made; every path is inside ``output_dir``."""

    output_dir: Path
    log_df: pd.DataFrame  # one row per fold and epoch
    fold_summary_df: pd.DataFrame  # one row per fold: best epoch, scores, checkpoint names
    oof_df: pd.DataFrame  # out-of-fold probabilities, one row per validation window or clip
    per_class_df: pd.DataFrame  # one row per class: the task's out-of-fold scores
    report: dict[str, Any]
    figures: dict[str, Path]
    # one row per model (the CNN, and any baseline and blend of the task) with its OOF scores
    model_scores_df: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    weakest_by: str = ""  # the per_class_df column that matters most (higher = better)

    @property
    def weakest_classes_df(self) -> pd.DataFrame:
        """``per_class_df`` sorted by ``weakest_by``, worst first; classes without that score
        (no validation positive) are left out rather than listed as NaN rows."""
        if self.weakest_by in self.per_class_df:
            scored = self.per_class_df.dropna(subset=[self.weakest_by])
            return scored.sort_values(self.weakest_by)
        return self.per_class_df


@dataclass
class TaskSummary:
    """A task's part of the run summary (:meth:`common.tasks.base.Task.summarize_training`).

    ``curves``: ``{training_log column: panel title}`` of the learning curves after the
    training loss, in order; ``reference_lines``: ``{column: value}`` (e.g. 0.5 for an AUC).
    ``report`` entries join the run report between ``folds_done`` and ``checkpoints``.
    """

    oof_df: pd.DataFrame
    per_class_df: pd.DataFrame
    model_scores_df: pd.DataFrame
    report: dict[str, Any]
    figures: dict[str, Path]
    curves: dict[str, str]
    weakest_by: str = ""
    reference_lines: dict[str, float] = dataclasses.field(default_factory=dict)


def fold_dirs(cfg: TrainConfig) -> list[Path]:
    """The per-fold folders of this run's backbone, by fold."""
    short = backbone_short_name(cfg.model.backbone)
    return sorted((cfg.output_dir / "folds").glob(f"{short}_fold*"))


def read_fold_csvs(dirs: list[Path], name: str, dtype: dict[str, Any] | None = None
                   ) -> list[pd.DataFrame]:
    """``<dir>/<name>`` of every fold folder that has it, read with ``dtype``."""
    return [pd.read_csv(d / name, dtype=dtype) for d in dirs if (d / name).is_file()]


def nanmean(values: pd.Series | None) -> float | None:
    """Mean of the numeric values (``None`` when there are none): a fold-mean for the report."""
    if values is None:
        return None
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None


def summarize_run(cfg: TrainConfig, prep: PrepData) -> TrainResult:
    """Merge the per-fold files of this backbone into the run's tables, plots and metadata."""
    out = cfg.output_dir
    task = cfg.task_spec
    dirs = fold_dirs(cfg)
    logs = read_fold_csvs(dirs, "history.csv")
    summaries = [json.loads((d / "done.json").read_text()) for d in dirs
                 if (d / "done.json").is_file()]
    summary_df = pd.DataFrame(summaries)
    part = task.summarize_training(cfg, prep, dirs, summary_df)
    panels = {"train_loss": "training loss", **part.curves}
    log_df = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(
        columns=["fold", "epoch", "lr", *panels, "selection", "is_best", "seconds"])
    log_df.to_csv(out / "training_log.csv", index=False)
    summary_df.to_csv(out / "fold_summary.csv", index=False)

    figures: dict[str, Path] = {}
    if len(log_df):
        figures["learning_curves"] = save_figure(
            plots.training_curves(log_df, panels, part.reference_lines),
            out / "figures" / "learning_curves.png")
    figures.update(part.figures)
    write_dataset_metadata(out, cfg.dataset_slug, f"{task.name} models (nb02)", cfg.kaggle_user)
    short = backbone_short_name(cfg.model.backbone)
    report = {
        "backbone": cfg.model.backbone,
        "task": task.name,
        "folds_done": [int(s["fold"]) for s in summaries],
        **part.report,
        "checkpoints": sorted(p.name for p in out.glob(f"{short}_fold*_*.pt")),
    }
    log.info("training summary: %s", report)
    return TrainResult(out, log_df, summary_df, part.oof_df, part.per_class_df, report, figures,
                       part.model_scores_df, part.weakest_by)
