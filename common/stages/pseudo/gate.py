"""nb03's gate: a student is published only when it beats its teacher out of fold, beyond noise.

A noisy student is worth shipping only when it scores better than the nb02 teacher on the same
held-out data; otherwise adding it to nb04's ensemble can only dilute the teacher (the demo's
first student scored 0.715 against its teacher's 0.739 and pulled the submission down). The
gate reads ``rounds_summary.csv``'s rows (round 0 = the teacher, then one row per student
round) and picks the best student round, trained and validated on exactly the teacher's folds,
whose out-of-fold score beats the teacher's by more than ``student_min_gain`` and, when the
task gives its out-of-fold predictions, does so in at least ``student_gate_confidence`` of the
paired bootstrap resamples of the validation files (:mod:`common.stages.pseudo.evidence`).
No such round: no student is published, and the report says why.

Why the resamples: a CPU run affords one seed per round, and a point gain smaller than the
spread over held-out files is not evidence. On a second demo folder a student 0.0002 ahead of
its teacher on 13 soundscapes (ahead in 61 % of the resamples) was published and cost the
submission 0.005 on test; a fixed ``student_min_gain`` cannot fit both a 13-file demo fold and
Kaggle's ~66 files.

The resamples cannot see a second bias: an epoch chosen on the same files. A warm-started
student's best epoch is often an early spike (generator seed 2: 0.970 at epoch 1, 0.955-0.959
after, the teacher 0.960; published, its ensemble lost 0.006 on test), so students keep their
last epoch (``student_checkpoint``) and the gate judges that one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.evidence import OofEvidence, PairedGain, paired_gains
from common.stages.pseudo.students import publish_students

__all__ = ["GateDecision", "gate_students", "publish_gated", "round_gains"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateDecision:
    """What the gate chose, for ``pseudo_report.json`` and the notebook."""

    published_round: int | None  # the student round published, None = no student
    score_key: str  # the rounds_summary.csv column compared (the task's out-of-fold score)
    teacher_score: float
    student_score: float  # the published round's, else the best student's (NaN: none trained)
    reason: str  # one sentence for the log and the report
    confidence: float = 0.0  # the share of resamples asked for (0: point scores only)

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


def gate_students(rounds_df: pd.DataFrame, score_key: str, min_gain: float = 0.0,
                  gains: Mapping[int, PairedGain] | None = None, confidence: float = 0.0
                  ) -> GateDecision:
    """The student round to publish, if any.

    Args:
        rounds_df: ``round`` (0 = teacher), ``folds`` (comma-joined fold ids) and the
            ``score_key`` column, higher is better; one row per round.
        score_key: the column compared.
        min_gain: a student must beat the teacher by more than this.
        gains: per student round, its paired bootstrap gain over the teacher
            (:func:`round_gains`); None: the task has no out-of-fold predictions to resample.
        confidence: with ``gains``, a student must be ahead by more than ``min_gain`` in at
            least this share of the resamples; a round missing from ``gains`` is refused.

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
    resampled = gains is not None and confidence > 0
    confidence = confidence if resampled else 0.0
    teacher = teacher_rows.iloc[0]
    teacher_score, teacher_folds = _score(teacher[score_key]), str(teacher["folds"])
    students = rounds_df[rounds_df["round"] > 0].sort_values("round")
    if students.empty:
        return GateDecision(None, score_key, teacher_score, float("nan"),
                            "no student was trained", confidence)
    if math.isnan(teacher_score):
        return GateDecision(None, score_key, teacher_score, float("nan"),
                            f"the teacher has no out-of-fold {score_key}: nothing to beat, "
                            "nothing proven", confidence)
    best_round, best_score, best_why, reasons = None, float("-inf"), "", []
    for _, row in students.iterrows():
        r, score = int(row["round"]), _score(row[score_key])
        if str(row["folds"]) != teacher_folds:
            reasons.append(f"round {r} trained folds {row['folds']}, the teacher {teacher_folds}")
            continue
        if math.isnan(score):
            reasons.append(f"round {r} has no score")
            continue
        if score <= teacher_score + min_gain:
            continue  # summed up below
        why = ""
        if resampled:
            gain = gains.get(r)
            if gain is None or math.isnan(gain.share_better):
                reasons.append(f"round {r} has no out-of-fold predictions to resample")
                continue
            why = gain.describe(confidence)
            if gain.share_better < confidence:
                reasons.append(f"round {r} student {score:.4f} vs teacher {teacher_score:.4f}: "
                               f"{why}")
                continue
        if score > best_score:
            best_round, best_score, best_why = r, score, why
    scored = [_score(s) for s in students[score_key]]
    finite = [s for s in scored if not math.isnan(s)]
    if best_round is not None:
        return GateDecision(best_round, score_key, teacher_score, best_score,
                            f"round {best_round} student {best_score:.4f} > teacher "
                            f"{teacher_score:.4f} + {min_gain:g} on folds {teacher_folds}"
                            + (f", {best_why}" if best_why else ""), confidence)
    top = max(finite) if finite else float("nan")
    if finite and top <= teacher_score + min_gain:
        reasons.append(f"best student {top:.4f} does not beat the teacher {teacher_score:.4f} "
                       f"+ {min_gain:g}")
    why = "; ".join(reasons)
    return GateDecision(None, score_key, teacher_score, top, f"no student published: {why}",
                        confidence)


def round_gains(cfg: PseudoConfig, out: Path, rounds_df: pd.DataFrame,
                evidence: Callable[[Path], OofEvidence | None]) -> dict[int, PairedGain] | None:
    """Each student round's paired bootstrap gain over the teacher (``cfg.gate_resamples``),
    from the out-of-fold predictions ``evidence`` reads from a run folder; None when the teacher
    has none (the gate then compares point scores). A student round without predictions for the
    teacher's rows is left out (and refused)."""
    def read(path: Path) -> OofEvidence | None:
        try:
            return evidence(path)
        except ValueError as err:  # a finished run must not crash here: say so, go on
            log.warning("student gate: the out-of-fold predictions in %s are unusable: %s",
                        path, err)
            return None

    teacher_dir = Path(str(rounds_df.loc[rounds_df["round"] == 0, "checkpoints_dir"].iloc[0]))
    teacher = read(teacher_dir if teacher_dir.is_absolute() else out / teacher_dir)
    if teacher is None:
        log.warning("student gate: the teacher has no out-of-fold predictions to resample; "
                    "the point scores are compared")
        return None
    students = {}
    for _, row in rounds_df[rounds_df["round"] > 0].iterrows():
        r, found = int(row["round"]), read(out / str(row["checkpoints_dir"]))
        if found is None:
            continue  # refused by the gate for want of evidence
        missing = teacher.missing_in(found)
        if len(missing):
            log.warning("student gate: round %d has no out-of-fold prediction for %d of the "
                        "teacher's rows (e.g. %r): not resampled", r, len(missing), missing[0])
            continue
        students[r] = found
    return paired_gains(teacher, students, n_resamples=cfg.gate_resamples,
                        min_gain=cfg.student_min_gain, confidence=cfg.student_gate_confidence)


def publish_gated(cfg: PseudoConfig, out: Path, rounds_df: pd.DataFrame,
                  last_student_dir: Path | None, score_key: str,
                  evidence: Callable[[Path], OofEvidence | None] | None = None
                  ) -> tuple[GateDecision, dict[int, PairedGain]]:
    """Publish the students the gate chooses (``cfg.student_gate``; off: the final round's, as
    before) under nb04's names, add the ``published`` round and each round's resampled
    ``gain``, ``gain_low`` and ``share_better`` to ``rounds_df`` (in place) and log the
    decision.

    ``rounds_df``'s student rows carry ``checkpoints_dir`` relative to ``out`` (the teacher's
    may be absolute). ``evidence``: reads a run folder's out-of-fold predictions
    (:meth:`common.stages.pseudo.labels.PseudoLabeller.oof_evidence`). Returns the decision
    and the gains (empty when nothing was resampled).
    """
    gains = None
    if cfg.student_gate and cfg.student_gate_confidence > 0 and evidence is not None:
        gains = round_gains(cfg, out, rounds_df, evidence)
    if cfg.student_gate:
        decision = gate_students(rounds_df, score_key, cfg.student_min_gain, gains,
                                 cfg.student_gate_confidence)
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
    gains = gains or {}
    for column, attr in (("gain", "gain"), ("gain_low", "low"), ("share_better", "share_better")):
        rounds_df[column] = [getattr(gains[r], attr) if r in gains else float("nan")
                             for r in rounds_df["round"]]
    rounds_df["published"] = rounds_df["round"] == (decision.published_round or -1)
    log.info("student gate: %s", decision.reason)
    return decision, gains
