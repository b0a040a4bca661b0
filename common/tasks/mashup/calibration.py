"""nb03's confidence threshold chosen on the teacher's out-of-fold clips, not fixed in advance.

A fixed cut (the write-up's 0.95) means different things for different teachers: a teacher
trained briefly from scratch may never reach it (the cpu demo's CNN kept 3 of 60 test clips),
an over-confident one passes wrong labels. :func:`precision_threshold` reads the cut from the
teacher's own OOF predictions instead (nb02's ``oof_clips.csv``, clips of held-out folds with
known genres): the lowest top probability at which the OOF clips at or above it are still
right at least ``target_precision`` of the time. :func:`calibrated_threshold` applies it to
nb02's files and says what it found (for nb03's report).

The OOF clips were predicted without TTA, the test clips with nb03's views: averaging views
lowers the top probability a little, so the cut is, if anything, conservative on test.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Calibration", "calibrated_threshold", "precision_threshold"]

log = logging.getLogger(__name__)

OOF_CLIPS = "oof_clips.csv"  # nb02's CNN OOF (common.tasks.mashup.train.summarize_training)


@dataclass(frozen=True)
class Calibration:
    """The threshold nb03 applies and where it came from (entries of its report)."""

    threshold: float  # top probability a test clip needs to be pseudo-labelled
    source: str  # "oof" (calibrated) or "min_confidence" (the fixed value, and why)
    target_precision: float
    oof_clips: int = 0  # OOF clips the cut was read from
    oof_precision: float | None = None  # precision of the OOF clips at or above the cut
    oof_share: float | None = None  # share of OOF clips at or above the cut

    def to_dict(self) -> dict[str, Any]:
        """Report entries (``calibration_*``)."""
        return {f"calibration_{k}": v for k, v in asdict(self).items()}


def precision_threshold(confidence: np.ndarray, correct: np.ndarray, target_precision: float,
                        min_clips: int = 1) -> tuple[float, float, int] | None:
    """The lowest confidence cut whose kept clips are right at least ``target_precision``.

    Args:
        confidence: ``(clips,)`` top probability of each OOF clip.
        correct: ``(clips,)`` whether the arg-max was the true class.
        target_precision: in (0, 1].
        min_clips: the cut must keep at least this many OOF clips (a cut kept by 2 lucky clips
            says nothing).

    Returns:
        ``(threshold, precision, kept)``: the cut is a confidence of an OOF clip, every clip at
        or above it kept (ties included); ``None`` when no cut keeping ``min_clips`` reaches
        the target.
    """
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    if len(confidence) != len(correct):
        raise ValueError(f"{len(confidence)} confidences but {len(correct)} outcomes")
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
    if not len(confidence):
        return None
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], correct[order]
    precision = np.cumsum(hits) / np.arange(1, len(conf) + 1)
    # A cut at conf[i] keeps every clip with that confidence: only the last of equal values
    # is a real cut.
    last_of_tie = np.append(conf[1:] != conf[:-1], True)
    ok = last_of_tie & (precision >= target_precision - 1e-12) & (
        np.arange(1, len(conf) + 1) >= min_clips)
    if not ok.any():
        return None
    i = int(np.flatnonzero(ok)[-1])  # the most clips: the lowest cut that still qualifies
    return float(conf[i]), float(precision[i]), i + 1


def calibrated_threshold(models_dir: str | Path, train_df: pd.DataFrame, classes: list[str],
                         target_precision: float, min_clips: int, fallback: float
                         ) -> Calibration:
    """nb03's cut from nb02's CNN OOF clips (``<models_dir>/oof_clips.csv``).

    Args:
        models_dir: nb02's output.
        train_df: nb01's ``train_folds.csv`` (``filename``, ``primary_label``).
        classes: class order of the OOF columns.
        target_precision: 0 turns calibration off (``fallback`` is used as given).
        min_clips: see :func:`precision_threshold`.
        fallback: the fixed threshold (``min_confidence``) used when calibration is off, the
            OOF file is missing, or no cut reaches the target.
    """
    if target_precision <= 0:
        return Calibration(fallback, "min_confidence (calibration off)", target_precision)
    path = Path(models_dir) / OOF_CLIPS
    if not path.is_file():
        log.warning("%s missing: the pseudo-label threshold stays min_confidence=%g", path,
                    fallback)
        return Calibration(fallback, f"min_confidence ({OOF_CLIPS} missing)", target_precision)
    oof = pd.read_csv(path, dtype={"key": str})
    truth = dict(zip(train_df["filename"].astype(str), train_df["primary_label"].astype(str)))
    oof = oof[oof["key"].isin(truth)]
    probs = oof[classes].to_numpy(dtype=np.float64)
    finite = np.isfinite(probs).all(axis=1)
    probs, labels = probs[finite], oof["key"][finite].map(truth).to_numpy()
    correct = np.array(classes, dtype=object)[probs.argmax(axis=1)] == labels if len(probs) \
        else np.zeros(0, bool)
    found = precision_threshold(probs.max(axis=1) if len(probs) else np.zeros(0), correct,
                                target_precision, min_clips)
    if found is None:
        log.warning("no confidence cut keeps >= %d of %d OOF clips at precision >= %g: the "
                    "pseudo-label threshold stays min_confidence=%g", min_clips, len(probs),
                    target_precision, fallback)
        return Calibration(fallback, "min_confidence (no OOF cut reached the target)",
                           target_precision, len(probs))
    threshold, precision, kept = found
    log.info("pseudo-label threshold %.4f: OOF precision %.3f on the %d of %d OOF clips at or "
             "above it (target %g)", threshold, precision, kept, len(probs), target_precision)
    return Calibration(threshold, "oof", target_precision, len(probs), round(precision, 4),
                       round(kept / len(probs), 4))
