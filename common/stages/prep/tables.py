"""What nb01 hands to nb02-nb04: the table files every task writes, and the stage's result.

A task's prep hook (:meth:`common.tasks.base.Task.prepare`) makes the tables and returns them
as :class:`PrepTables`; :func:`common.stages.prep.run.run_prep` adds the shared ending and
returns a :class:`PrepResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["BAD_COLUMNS", "PREP_TABLES", "PrepResult", "PrepTables", "write_prep_tables"]

# The files nb02-nb04 read, whatever the task.
PREP_TABLES = ("train_folds.csv", "soundscape_labels_folds.csv", "species.csv",
               "rare_species.csv", "bad_files.csv", "fold_summary.csv")
BAD_COLUMNS = ["filename", "kind", "reason"]


@dataclass
class PrepTables:
    """What a task's nb01 hook made (its tables already written with :func:`write_prep_tables`).

    ``report``: the task's entries of ``prep_report.json`` (the stage adds the competition
    folder, the cache size and the run time); ``title``: the published dataset's title.
    """

    train_df: pd.DataFrame
    soundscape_df: pd.DataFrame
    species_df: pd.DataFrame
    rare_df: pd.DataFrame
    bad_df: pd.DataFrame
    fold_summary_df: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    title: str = ""


@dataclass(kw_only=True)
class PrepResult(PrepTables):
    """What nb01 made: the task's tables with the whole report; every path is inside
    ``output_dir``."""

    output_dir: Path


def write_prep_tables(out: Path, train_df: pd.DataFrame, soundscape_df: pd.DataFrame,
                      species_df: pd.DataFrame, rare_df: pd.DataFrame, bad_df: pd.DataFrame,
                      summary_df: pd.DataFrame) -> None:
    """The tables every task's nb01 writes, under the names nb02-nb04 read (:data:`PREP_TABLES`)."""
    frames = (train_df, soundscape_df, species_df, rare_df, bad_df, summary_df)
    for df, name in zip(frames, PREP_TABLES):
        df.to_csv(out / name, index=False)
