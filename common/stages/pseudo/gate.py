"""nb03's gate: a student is published only when it beats its teacher out of fold.

A noisy student is worth shipping only when it scores better than the nb02 teacher on the same
held-out data; otherwise adding it to nb04's ensemble can only dilute the teacher (the demo's
first student scored 0.715 against its teacher's 0.739 and pulled the submission down). The
gate reads ``rounds_summary.csv``'s rows (round 0 = the teacher, then one row per student
round) and picks the best student round whose out-of-fold score beats the teacher's by more
than ``min_gain``, trained and validated on exactly the teacher's folds. No such round: no
student is published, and the report says why.

The scores are one seed each (a CPU run cannot afford three students per round): a gain
smaller than the seed-to-seed spread of the CV score is not evidence, which is what
``min_gain`` is for.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.students import publish_students

__all__ = ["GateDecision", "gate_students", "publish_gated"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateDecision:
    """What the gate chose, for ``pseudo_report.json`` and the notebook."""

    published_round: int | None  # the student round published, None = no student
    score_key: str  # the rounds_summary.csv column compared (the task's out-of-fold score)
    teacher_score: float
    student_score: float  # the published round's, else the best student's (NaN: none trained)
    reason: str  # one sentence for the log and the report

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def _score(value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return score


def gate_students(rounds_df: pd.DataFrame, score_key: str, min_gain: float = 0.0
                  ) -> GateDecision:
    """The student round to publish, if any.

    Args:
        rounds_df: ``round`` (0 = teacher), ``folds`` (comma-joined fold ids) and the
            ``score_key`` column, higher is better; one row per round.
        score_key: the column compared.
        min_gain: a student must beat the teacher by more than this.

    Returns:
        :class:`GateDecision`; ``published_round`` is the best qualifying round (the earliest
        on a tie), or None.
    """
    missing = {"round", "folds", score_key} - set(rounds_df.columns)
    if missing:
        raise ValueError(f"rounds table lacks columns {sorted(missing)}: it needs round, folds "
                         f"and the score {score_key!r} of every round")
    teacher_rows = rounds_df[rounds_df["round"] == 0]
    if teacher_rows.empty:
        raise ValueError("rounds table has no teacher row (round 0)")
    teacher = teacher_rows.iloc[0]
    teacher_score, teacher_folds = _score(teacher[score_key]), str(teacher["folds"])
    students = rounds_df[rounds_df["round"] > 0].sort_values("round")
    if students.empty:
        return GateDecision(None, score_key, teacher_score, float("nan"),
                            "no student was trained")
    if math.isnan(teacher_score):
        return GateDecision(None, score_key, teacher_score, float("nan"),
                            f"the teacher has no out-of-fold {score_key}: nothing to beat, "
                            "nothing proven")
    best_round, best_score, reasons = None, float("-inf"), []
    for _, row in students.iterrows():
        r, score = int(row["round"]), _score(row[score_key])
        if str(row["folds"]) != teacher_folds:
            reasons.append(f"round {r} trained folds {row['folds']}, the teacher {teacher_folds}")
            continue
        if math.isnan(score):
            reasons.append(f"round {r} has no score")
            continue
        if score > teacher_score + min_gain and score > best_score:
            best_round, best_score = r, score
    scored = [_score(s) for s in students[score_key]]
    finite = [s for s in scored if not math.isnan(s)]
    if best_round is not None:
        return GateDecision(best_round, score_key, teacher_score, best_score,
                            f"round {best_round} student {best_score:.4f} > teacher "
                            f"{teacher_score:.4f} + {min_gain:g} on folds {teacher_folds}")
    top = max(finite) if finite else float("nan")
    if finite:
        reasons.append(f"best student {top:.4f} does not beat the teacher {teacher_score:.4f} "
                       f"+ {min_gain:g}")
    why = "; ".join(reasons)
    return GateDecision(None, score_key, teacher_score, top, f"no student published: {why}")


def publish_gated(cfg: PseudoConfig, out: Path, rounds_df: pd.DataFrame,
                  last_student_dir: Path | None, score_key: str) -> GateDecision:
    """Publish the students the gate chooses (``cfg.student_gate``; off: the final round's, as
    before) under nb04's names, mark the ``published`` round in ``rounds_df`` (in place) and
    log the decision.

    ``rounds_df``'s student rows carry ``checkpoints_dir`` relative to ``out``.
    """
    if cfg.student_gate:
        decision = gate_students(rounds_df, score_key, cfg.student_min_gain)
    else:
        final = int(rounds_df["round"].max()) if last_student_dir is not None else None
        teacher = _score(rounds_df.loc[rounds_df["round"] == 0, score_key].iloc[0])
        student = (_score(rounds_df.loc[rounds_df["round"] == final, score_key].iloc[0])
                   if final else float("nan"))
        decision = GateDecision(final or None, score_key, teacher, student,
                                "student_gate off: the final round's students are published "
                                "whatever their score")
    student_dir = None
    if decision.published_round is not None:
        row = rounds_df[rounds_df["round"] == decision.published_round].iloc[0]
        student_dir = out / str(row["checkpoints_dir"])
    publish_students(out, student_dir)
    rounds_df["published"] = rounds_df["round"] == (decision.published_round or -1)
    log.info("student gate: %s", decision.reason)
    return decision
