"""Experiment tracking: config, per-epoch metrics, run summaries, figures and tables of a run.

A stage holds one :class:`Tracker` and calls it; which one is a config choice
(:class:`TrackingConfig`, ``--tracker csv|wandb|off``), never a branch in the stage:

- ``csv`` (default, :class:`CsvTracker`): plain files under ``<working_dir>/tracking/``.
- ``wandb``: the same files plus a Weights & Biases run (:class:`WandbTracker`). With
  ``mode="offline"`` (the default) it needs no account or network and writes
  ``<working_dir>/wandb/offline-run-*/``; upload it later with ``wandb sync <that dir>``.
- ``off``: the base :class:`Tracker`, whose every method does nothing.

:func:`read_run_summary` and :func:`read_metrics` read a run's tracked files back (leaderboards,
plots).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from common.core.config import param

__all__ = ["TRACKER_KINDS", "TrackingConfig", "Tracker", "CsvTracker", "WandbTracker",
           "TrackerGroup", "make_tracker", "tracker_for", "log_history", "log_fold_summary",
           "read_metrics", "read_run_summary"]

TRACKER_KINDS = ("csv", "wandb", "off")
TRACKING_DIR = "tracking"
METRIC_COLUMNS = ("step", "fold", "name", "value", "time")
_FOLD = re.compile(r"fold[_-]?(\d+)")
_RUN_TIME = re.compile(r"run-(\d{8}_\d{6})")  # wandb/[offline-]run-YYYYMMDD_HHMMSS-<id>


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """Where a run's metrics go; a stage config nests it as ``tracking: TrackingConfig``."""

    tracker: str = param("csv", "experiment tracker: csv (files under <working_dir>/tracking), "
                         "wandb (the same plus a Weights & Biases run) or off")
    project: str = param("birdclef-pipeline", "Weights & Biases project name")
    run_name: str = param("", "run name shown by the tracker (empty: the stage's own name)")
    wandb_mode: str = param("offline", "Weights & Biases mode: offline (no network; `wandb sync` "
                      "later), online or disabled")


class Tracker:
    """The interface, and the ``off`` tracker: every method accepts its input and does nothing.

    Metric names are flat strings; ``prefix`` (``"fold0/"``) groups one fold's metrics.
    """

    def log_config(self, config: dict[str, Any]) -> None:
        """Record the run's (nested, JSON-ready) config; a second call replaces it."""

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None,
                    prefix: str = "") -> None:
        """Record one step's scalars (an epoch's losses and AUCs) as ``prefix + name``."""

    def log_summary(self, summary: dict[str, Any]) -> None:
        """Record final values (a fold's best AUC, the run's OOF AUC); later keys win."""

    def log_figure(self, name: str, path: str | Path) -> None:
        """Record a saved figure (PNG) under ``name``."""

    def log_table(self, name: str, df: pd.DataFrame) -> None:
        """Record a small table (per-class AUC, fold summary) under ``name``."""

    def finish(self) -> None:
        """Flush and close; the tracker is not used after this."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def _scalar(value: Any) -> Any:
    """A JSON/CSV-ready scalar (numpy numbers to Python ones, NaN kept as NaN)."""
    return value.item() if hasattr(value, "item") else value


class CsvTracker(Tracker):
    """Plain files under ``<working_dir>/tracking/``, appended to across resumes.

    ``config.json``; ``metrics.csv`` (long format: step, fold, name, value, time in seconds since
    the epoch; ``fold`` is the number in a ``fold<k>/`` prefix, else empty); ``summary.json``;
    ``figures.csv`` (name, path); ``tables/<name>.csv``.
    """

    def __init__(self, working_dir: str | Path):
        self.dir = Path(working_dir) / TRACKING_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    def _append(self, filename: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        path = self.dir / filename
        new = not path.is_file()
        with open(path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(columns)
            writer.writerows(rows)

    def log_config(self, config: dict[str, Any]) -> None:
        (self.dir / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None,
                    prefix: str = "") -> None:
        fold = _FOLD.search(prefix)
        now = round(time.time(), 3)
        rows = [("" if step is None else step, fold.group(1) if fold else "", prefix + name,
                 _scalar(value), now) for name, value in metrics.items()]
        self._append("metrics.csv", METRIC_COLUMNS, rows)

    def log_summary(self, summary: dict[str, Any]) -> None:
        path = self.dir / "summary.json"
        merged = json.loads(path.read_text()) if path.is_file() else {}
        merged.update({key: _scalar(value) for key, value in summary.items()})
        path.write_text(json.dumps(merged, indent=2, default=str) + "\n")

    def log_figure(self, name: str, path: str | Path) -> None:
        self._append("figures.csv", ("name", "path"), [(name, str(path))])

    def log_table(self, name: str, df: pd.DataFrame) -> None:
        (self.dir / "tables").mkdir(exist_ok=True)
        df.to_csv(self.dir / "tables" / f"{name.replace('/', '_')}.csv", index=False)


class WandbTracker(Tracker):
    """A Weights & Biases run in ``<working_dir>/wandb/``; ``wandb`` is imported only here.

    Each ``prefix`` gets its own step axis (``fold0/step``), so every fold's epochs start at 0
    in the W&B charts while W&B's own ``_step`` keeps increasing.
    """

    def __init__(self, working_dir: str | Path, run_name: str = "",
                 project: str = "birdclef-pipeline", mode: str = "offline"):
        try:
            import wandb
        except ImportError as err:
            raise ImportError("the wandb tracker needs the wandb package: "
                              "pip install -r requirements-tracking.txt "
                              "(or choose --tracker csv)") from err
        self._wandb = wandb
        self._defined: set[str] = set()
        Path(working_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, name=run_name or None, mode=mode,
                              dir=str(working_dir), settings=wandb.Settings(console="off"))

    def log_config(self, config: dict[str, Any]) -> None:
        self.run.config.update(config, allow_val_change=True)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None,
                    prefix: str = "") -> None:
        row = {prefix + name: _scalar(value) for name, value in metrics.items()}
        if step is not None:
            step_key = f"{prefix}step"
            for key in row:
                if key not in self._defined:
                    self.run.define_metric(key, step_metric=step_key)
                    self._defined.add(key)
            row[step_key] = step
        self.run.log(row)

    def log_summary(self, summary: dict[str, Any]) -> None:
        self.run.summary.update({key: _scalar(value) for key, value in summary.items()})

    def log_figure(self, name: str, path: str | Path) -> None:
        self.run.log({name: self._wandb.Image(str(path))})

    def log_table(self, name: str, df: pd.DataFrame) -> None:
        self.run.log({name: self._wandb.Table(dataframe=df)})

    def finish(self) -> None:
        self.run.finish()


class TrackerGroup(Tracker):
    """Several trackers called in turn (the ``wandb`` kind: CSV files and a W&B run)."""

    def __init__(self, *trackers: Tracker):
        self.trackers = trackers

    def log_config(self, config: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log_config(config)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None,
                    prefix: str = "") -> None:
        for tracker in self.trackers:
            tracker.log_metrics(metrics, step=step, prefix=prefix)

    def log_summary(self, summary: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log_summary(summary)

    def log_figure(self, name: str, path: str | Path) -> None:
        for tracker in self.trackers:
            tracker.log_figure(name, path)

    def log_table(self, name: str, df: pd.DataFrame) -> None:
        for tracker in self.trackers:
            tracker.log_table(name, df)

    def finish(self) -> None:
        for tracker in self.trackers:
            tracker.finish()


def make_tracker(kind: str, working_dir: str | Path, run_name: str = "",
                 project: str = "birdclef-pipeline", mode: str = "offline") -> Tracker:
    """The tracker of ``kind`` (``csv``, ``wandb`` or ``off``) writing under ``working_dir``.

    ``wandb`` also writes the CSV files, so :func:`read_run_summary` reads every tracked run
    the same way. Unknown kinds raise a ``ValueError`` naming the valid ones.
    """
    if kind == "off":
        return Tracker()
    if kind == "csv":
        return CsvTracker(working_dir)
    if kind == "wandb":
        return TrackerGroup(CsvTracker(working_dir),
                            WandbTracker(working_dir, run_name, project, mode))
    raise ValueError(f"unknown tracker {kind!r}; choose one of {', '.join(TRACKER_KINDS)}")


def tracker_for(config: TrackingConfig, working_dir: str | Path,
                default_run_name: str = "") -> Tracker:
    """:func:`make_tracker` from a stage's nested :class:`TrackingConfig`."""
    return make_tracker(config.tracker, working_dir, config.run_name or default_run_name,
                        config.project, config.wandb_mode)


def _numeric_items(row: pd.Series, skip: tuple[str, ...]) -> dict[str, float]:
    return {str(k): float(v) for k, v in row.items()
            if k not in skip and pd.api.types.is_number(v) and not pd.api.types.is_bool(v)}


def log_history(tracker: Tracker, history_df: pd.DataFrame, step_column: str = "epoch",
                group_column: str | None = "fold") -> None:
    """Log a per-epoch table (nb02's ``training_log.csv``: fold, epoch, lr, losses, AUCs) as
    metrics: one call per row, ``step`` from ``step_column``, prefix ``fold<k>/`` (none when
    ``group_column`` is ``None``, as for nb03's rounds table); numeric columns only."""
    for _, row in history_df.iterrows():
        prefix = f"{group_column}{int(row[group_column])}/" if group_column else ""
        tracker.log_metrics(_numeric_items(row, (step_column, group_column)),
                            step=int(row[step_column]), prefix=prefix)


def log_fold_summary(tracker: Tracker, summary_df: pd.DataFrame,
                     group_column: str = "fold") -> None:
    """Log one row per fold (nb02's ``fold_summary.csv``) as summary keys ``fold<k>/<column>``
    (numeric columns only) and the table itself as ``fold_summary``."""
    for _, row in summary_df.iterrows():
        prefix = f"{group_column}{int(row[group_column])}/"
        values = _numeric_items(row, (group_column,))
        tracker.log_summary({prefix + name: value for name, value in values.items()})
    tracker.log_table("fold_summary", summary_df)


def read_metrics(working_dir: str | Path) -> pd.DataFrame:
    """``tracking/metrics.csv`` with one row per (step, fold, name): a resumed or re-run stage
    appends rows again and the last one wins. Empty (same columns) when nothing was tracked."""
    path = Path(working_dir) / TRACKING_DIR / "metrics.csv"
    if not path.is_file():
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    df = pd.read_csv(path)
    keys = ["step", "fold", "name"]
    return df.drop_duplicates(keys, keep="last").reset_index(drop=True)


def read_run_summary(working_dir: str | Path) -> dict[str, Any]:
    """A run's tracked summary: ``tracking/summary.json`` updated with the latest W&B run's
    ``files/wandb-summary.json`` where one exists (W&B writes it for online runs; offline runs
    keep their summary in the ``.wandb`` log, mirrored in ``tracking/summary.json``).

    Only scalar values (numbers, strings, booleans) are kept, W&B's internal ``_`` keys
    dropped; ``{}`` when nothing was tracked.
    """
    working_dir = Path(working_dir)
    sources = [working_dir / TRACKING_DIR / "summary.json"]
    runs = sorted((working_dir / "wandb").glob("*run-*"),
                  key=lambda path: _RUN_TIME.findall(path.name))
    if runs:
        sources.append(runs[-1] / "files" / "wandb-summary.json")
    summary: dict[str, Any] = {}
    for path in sources:
        if path.is_file():
            summary.update(json.loads(path.read_text()))
    return {key: value for key, value in summary.items()
            if not key.startswith("_") and isinstance(value, (int, float, str, bool))}
