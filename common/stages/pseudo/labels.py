"""What differs between tasks in nb03: which audio is labelled, which tables a round writes.

:class:`PseudoLabeller` is the strategy a task returns from
:meth:`common.tasks.base.Task.pseudo_labeller` (BirdCLEF: soft labels per 5-s window of the
unlabelled train soundscapes, :mod:`common.tasks.birdclef.pseudo`; a whole-clip task: labels
per test clip, windows pooled). :func:`write_round` is the one path every task's round takes:
the soft table of the ensemble and of each teacher fold (made by the labeller), the files that
failed, the task's views of the table (hard labels, class counts...), and the round summary.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from common.data.prep_data import PrepData
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.pseudo.evidence import OofEvidence
    from common.stages.pseudo.score import Scored

__all__ = ["PseudoAudio", "PseudoLabeller", "write_round"]

log = logging.getLogger(__name__)

SOFT_FORMAT = "%.5g"  # float format of the pseudo-label tables


@dataclass
class PseudoAudio:
    """The unlabelled audio of one nb03 run."""

    audio_dir: str  # folder relative to the competition folder (cache keys start with it)
    paths: list[Path]  # files to pseudo-label, in order
    extra_paths: list[Path] = field(default_factory=list)  # scored in round 1 only (negatives)

    @property
    def prefix(self) -> str:
        """Cache and table key prefix of these files (``train_soundscapes/``)."""
        return f"{self.audio_dir.strip('/')}/"


class PseudoLabeller(ABC):
    """One task's pseudo labels for one nb03 run (made by ``Task.pseudo_labeller``).

    Args:
        cfg: the stage config.
        prep: nb01's tables (classes, labelled soundscapes and their folds).
        competition_dir: the competition folder.
    """

    unit = "file"  # what one scored file is called in the logs
    trim_cache_padding = False  # cache files without their last window's zero padding
    dataset_title = "pseudo labels (nb03)"  # title of the published dataset
    summary_keys: tuple[str, ...] = ("students",)  # summary entries logged at the end

    def __init__(self, cfg: PseudoConfig, prep: PrepData, competition_dir: Path) -> None:
        self.cfg = cfg
        self.prep = prep
        self.classes = list(prep.classes)
        self.competition_dir = competition_dir

    @abstractmethod
    def audio(self) -> PseudoAudio:
        """The files to label (and those scored once for hard negatives)."""

    @abstractmethod
    def describe(self, audio: PseudoAudio) -> str:
        """One log line on what this run labels."""

    @property
    @abstractmethod
    def hard_name(self) -> str:
        """File name of the hard-label view of the soft table."""

    @abstractmethod
    def soft_table(self, scored: Scored, probs: np.ndarray) -> pd.DataFrame:
        """The pseudo-label table (an nb02 extra windows table) from ``(windows, classes)``
        teacher probabilities (the ensemble's or one fold's) of the scored windows."""

    @abstractmethod
    def write_views(self, r: int, scored: Scored, soft_df: pd.DataFrame,
                    fold_rows: dict[int, int], out: Path) -> dict[str, Any]:
        """Write round ``r``'s views of ``soft_df`` as ``r<r>_<name>`` (the hard view, class
        counts...) and log the round; return its summary entries. ``fold_rows``: rows of
        each fold's table."""

    @abstractmethod
    def round_scores(self, report: dict[str, Any]) -> dict[str, Any]:
        """The validation scores of an nb02 training report (teacher or students) that
        ``rounds_summary.csv`` compares."""

    def oof_evidence(self, run_dir: Path) -> OofEvidence | None:
        """The out-of-fold predictions of the nb02 run in ``run_dir`` (the teacher's models or
        a student round), for the gate's paired bootstrap; None when the run has none (the
        gate then compares the point scores)."""
        return None

    def write_subsets(self, models_dir: Path, scored: Scored, out: Path) -> pd.DataFrame:
        """Named data subsets from the nb02 teacher (``name, rows, path``); none by default."""
        log.info("subsets skipped: curated positives and hard negatives are per-species "
                 "notions that the %r task does not use", self.cfg.task)
        return pd.DataFrame(columns=["name", "rows", "path"])

    def finish(self, out: Path, final: int, soft_df: pd.DataFrame, counts_df: pd.DataFrame
               ) -> tuple[dict[str, Path], pd.DataFrame, pd.DataFrame | None]:
        """After the last round: ``(figures, class counts, every scored clip or None)``."""
        return {}, counts_df, None


def write_round(labeller: PseudoLabeller, r: int, scored: Scored, teacher: list[str],
                out: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Round ``r``'s tables: the soft table of the ensemble and of each teacher fold, the
    files that failed, the task's views, and ``pseudo_summary_r<r>.json`` (returned; ``extra``
    entries, e.g. the pretrained teacher's, are added to it)."""
    cfg = labeller.cfg
    soft = labeller.soft_table(scored, scored.probs)
    soft.to_csv(out / f"pseudo_labels_soft_r{r}.csv", index=False, float_format=SOFT_FORMAT)
    fold_rows = {}
    for k, probs in scored.fold_probs.items():
        table = labeller.soft_table(scored, probs)
        table.to_csv(out / f"pseudo_labels_soft_r{r}_fold{k}.csv", index=False,
                     float_format=SOFT_FORMAT)
        fold_rows[k] = len(table)
    pd.DataFrame({"error": scored.failed}).to_csv(out / "pseudo_bad_files.csv", index=False)
    for error in scored.failed:
        log.warning("%s skipped: %s", labeller.unit, error)
    summary = {"round": r, "teacher": teacher, "n_teacher_models": len(teacher),
               **labeller.write_views(r, scored, soft, fold_rows, out),
               "pseudo_targets": cfg.pseudo_targets, "per_fold_tables": sorted(scored.fold_probs),
               **(extra or {})}
    (out / f"pseudo_summary_r{r}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
