"""nb04's teacher switch: rank-blend a pretrained classifier into the submission when it fits.

The ensemble runs first and keeps its whole time budget; the teacher gets what is left. It
scores one file to measure its speed (:mod:`common.stages.teacher_table`), projects the rest,
and runs only when the projection fits the time left with a margin; otherwise the report says
why it was skipped and the submission is the ensemble's alone. When it runs, each species it
knows becomes ``(1 - w) rank(ensemble) + w rank(teacher)`` over the test windows
(:func:`common.teachers.blend.rank_blend`; the 2025 winner blended Perch at 0.2 this way).
A teacher cut short by the deadline blends nothing: ranks over part of the rows would not
compare with ranks over all of them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.stages.infer.config import InferConfig
from common.stages.infer.predictor import Predictions
from common.stages.teacher_table import coverage_summary, teacher_table
from common.teachers import TeacherBackendMissing, TeacherModelNotFound
from common.teachers.blend import align_teacher, rank_blend

__all__ = ["MARGIN", "teacher_fits", "teacher_rank_blend"]

log = logging.getLogger(__name__)

MARGIN = 0.8  # the teacher may plan to use this share of the time left


def teacher_fits(windows_left: int, windows_per_second: float, seconds_left: float,
                 margin: float = MARGIN) -> tuple[bool, float]:
    """Whether scoring ``windows_left`` windows at the measured speed fits ``margin`` of the
    time left; returns ``(fits, projected_seconds)``."""
    if windows_left <= 0:
        return True, 0.0
    if windows_per_second <= 0:
        return False, float("inf")
    projected = windows_left / windows_per_second
    return projected <= margin * max(0.0, seconds_left), projected


def teacher_rank_blend(cfg: InferConfig, predictions: Predictions, probs: np.ndarray,
                       competition_dir: Path, classes: list[str], sample_rate: int, out: Path,
                       seconds_left: float) -> tuple[np.ndarray, dict[str, Any]]:
    """The submission's window probabilities with the teacher rank-blended in, and the
    report's teacher entry (``blended`` true or false, with the reason).

    Args:
        probs: ``(windows, classes)`` the ensemble's, rows in ``predictions.row_ids`` order.
        sample_rate: Hz our models decode at.
        seconds_left: what remains of ``predict.time_budget_minutes``.
    """
    teacher_cfg = cfg.teacher
    deadline = time.monotonic() + MARGIN * max(0.0, seconds_left)
    started = time.monotonic()
    paths = list(predictions.paths)
    try:
        probe = teacher_table(teacher_cfg, paths, competition_dir, classes, out, sample_rate,
                              deadline, max_new_files=1)
    except (TeacherBackendMissing, TeacherModelNotFound) as err:
        # The submission must still be written: the ensemble's alone, and the report says why.
        log.error("%s teacher unavailable, submission without it: %s", teacher_cfg.teacher, err)
        return probs, {"teacher": teacher_cfg.teacher, "blended": False, "reason": str(err)}
    info: dict[str, Any] = coverage_summary(teacher_cfg, probe.mapping_df)
    speed = probe.windows_per_second
    scored = set(probe.table_df["filename"].astype(str))
    left = sum(n for p, n in zip(predictions.paths, predictions.n_windows)
               if p.name not in scored)
    fits, projected = teacher_fits(left, speed, seconds_left - (time.monotonic() - started))
    info.update(windows_per_second=round(speed, 2),
                projected_seconds=round(projected, 1) if np.isfinite(projected) else None,
                seconds_left=round(seconds_left, 1))
    if not probe.species:
        return probs, {**info, "blended": False, "reason": "the teacher maps no species"}
    if not fits:
        reason = (f"needs {projected / 60:.1f} min for {left} windows, "
                  f"{seconds_left / 60:.1f} min of the budget left")
        log.warning("%s teacher skipped: %s", teacher_cfg.teacher, reason)
        return probs, {**info, "blended": False, "reason": reason}
    table = teacher_table(teacher_cfg, paths, competition_dir, classes, out, sample_rate,
                          deadline)
    teacher = align_teacher(table.table_df, predictions.row_ids, classes)
    reached = ~np.isnan(teacher).all(axis=1)
    if not reached.all():
        reason = (f"scored {int(reached.sum())} of {len(reached)} windows before the deadline "
                  f"({len(table.failed)} files failed)")
        log.warning("%s teacher not blended: %s", teacher_cfg.teacher, reason)
        return probs, {**info, "blended": False, "reason": reason}
    blended = rank_blend(probs, teacher, teacher_cfg.teacher_weight)
    info.update(blended=True, seconds=round(time.monotonic() - started, 1),
                n_windows=int(len(teacher)))
    log.info("%s teacher rank-blended at weight %.2f into %d species over %d windows",
             teacher_cfg.teacher, teacher_cfg.teacher_weight, info["n_species_covered"],
             len(teacher))
    return blended, info
