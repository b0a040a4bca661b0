"""How sure nb03 is that a student beats its teacher: a paired bootstrap over validation groups.

Both models' out-of-fold predictions cover the same held-out rows (same folds). The point
difference of their scores is one draw: on the demo's 13 held-out soundscapes a student 0.0002
ahead of its teacher was published and cost the submission 0.005 on test. Here the groups the
folds split by (soundscape files, clips) are resampled with replacement ``n_resamples`` times,
both models are scored on each resample with the same row weights
(:mod:`common.core.resample`), and the gate asks for the student to be ahead in at least a
``confidence`` share of them. The task says what a row, a group and the metric are
(:meth:`common.stages.pseudo.labels.PseudoLabeller.oof_evidence`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.core.resample import group_resample_weights

__all__ = ["OofEvidence", "PairedGain", "paired_gains"]

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class OofEvidence:
    """One nb02 run's out-of-fold predictions, ready to resample."""

    ids: np.ndarray  # (rows,) row ids, pair two runs' rows
    groups: np.ndarray  # (rows,) the unit resampled (a soundscape file, a clip)
    truth: np.ndarray  # (rows, classes) 0/1
    probs: np.ndarray  # (rows, classes)
    metric: Metric  # (truth, probs, weights (B, rows)) -> (B,) scores
    unit: str = "file"  # what a group is called in the gate's reason

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (len(self.groups) == len(self.truth) == len(self.probs) == n):
            raise ValueError(f"evidence rows disagree: {n} ids, {len(self.groups)} groups, "
                             f"{len(self.truth)} truth rows, {len(self.probs)} prediction rows")
        if pd.Index(self.ids).duplicated().any():
            raise ValueError("evidence has duplicate row ids")

    def missing_in(self, other: OofEvidence) -> np.ndarray:
        """This run's row ids that ``other`` did not predict."""
        return self.ids[pd.Index(other.ids).get_indexer(self.ids) < 0]


@dataclass(frozen=True)
class PairedGain:
    """The student's score minus the teacher's on the teacher's rows, and its spread."""

    gain: float  # on every row once (the point estimate)
    low: float  # the (1 - confidence) quantile of the resampled gains
    share_better: float  # share of resamples where the gain exceeds min_gain
    n_groups: int
    n_resamples: int  # resamples with a score for both models
    unit: str  # what a group is ("soundscape", "clip")
    samples: np.ndarray  # (n_resamples,) the resampled gains, for the plot

    def describe(self, confidence: float) -> str:
        """``ahead in 61% of 1000 resamples of the 13 validation soundscapes (< 90%)``."""
        verdict = ">=" if self.share_better >= confidence else "<"
        return (f"ahead in {self.share_better:.0%} of {self.n_resamples} resamples of the "
                f"{self.n_groups} validation {self.unit}s ({verdict} {confidence:.0%})")


def paired_gains(teacher: OofEvidence, students: dict[int, OofEvidence], *,
                 n_resamples: int = 1000, seed: int = 0, min_gain: float = 0.0,
                 confidence: float = 0.9) -> dict[int, PairedGain]:
    """Resample the teacher's groups once; score the teacher and every student on each
    resample.

    Rows are the teacher's; a student must have predicted every one of them (it was
    validated on the same folds), else a ``ValueError`` names the missing rows. ``samples`` and
    ``share_better`` leave out resamples where a model has no score (no class with a positive
    and a negative).
    """
    ones = np.ones((1, len(teacher.ids)))
    weights = group_resample_weights(teacher.groups, n_resamples, seed)
    base_point = teacher.metric(teacher.truth, teacher.probs, ones)[0]
    base = teacher.metric(teacher.truth, teacher.probs, weights)
    n_groups = len(pd.unique(pd.Series(teacher.groups)))
    out = {}
    for key, student in students.items():
        missing = teacher.missing_in(student)
        if len(missing):
            raise ValueError(f"student {key} has no out-of-fold prediction for {len(missing)} "
                             f"of the teacher's {len(teacher.ids)} rows, e.g. {missing[0]!r}: "
                             "were they validated on the same folds?")
        probs = student.probs[pd.Index(student.ids).get_indexer(teacher.ids)]
        point = float(teacher.metric(teacher.truth, probs, ones)[0] - base_point)
        gains = teacher.metric(teacher.truth, probs, weights) - base
        gains = gains[np.isfinite(gains)]
        low, share = ((float(np.quantile(gains, 1.0 - confidence)),
                       float(np.mean(gains > min_gain))) if len(gains)
                      else (float("nan"), float("nan")))
        out[key] = PairedGain(point, low, share, n_groups, len(gains), teacher.unit, gains)
    return out
