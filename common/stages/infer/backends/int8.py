"""The int8 guard: a quantized model is used only when it pays and costs no ranking quality.

Static int8 (:func:`common.stages.infer.backends.onnx_backend.quantize_int8`) is calibrated on
windows of the training soundscapes; :func:`int8_verdict` then scores the fp32 and int8 models
on labelled validation windows with the competition metric (macro ROC-AUC over the classes that
occur) and refuses the int8 model, with the figures logged, when the AUC drops more than
``max_auc_drop`` or when it is not faster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from common.core.metrics import macro_auc_array

__all__ = ["Int8Verdict", "int8_verdict"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Int8Verdict:
    """The decision and its figures (AUCs on the validation windows, speeds in windows/s)."""

    accepted: bool
    auc_fp32: float
    auc_int8: float
    speed_fp32: float
    speed_int8: float
    reason: str

    @property
    def speedup(self) -> float:
        return self.speed_int8 / self.speed_fp32 if self.speed_fp32 > 0 else float("nan")


def int8_verdict(labels: np.ndarray, fp32_scores: np.ndarray, int8_scores: np.ndarray,
                 speed_fp32: float, speed_int8: float, max_auc_drop: float, source: str = "model"
                 ) -> Int8Verdict:
    """Accept the int8 model or fall back to fp32.

    Args:
        labels: ``(windows, classes)`` 0/1 truth of the validation windows.
        fp32_scores, int8_scores: ``(windows, classes)`` logits or probabilities of each model.
        speed_fp32, speed_int8: measured windows/s of each on the same batches and threads.
        max_auc_drop: the largest macro-AUC loss accepted (e.g. 0.002).
    """
    labels = np.asarray(labels)
    if labels.shape != fp32_scores.shape or labels.shape != int8_scores.shape:
        raise ValueError(f"labels {labels.shape}, fp32 {fp32_scores.shape} and int8 "
                         f"{int8_scores.shape} scores must have one shape (windows, classes)")
    auc32, auc8 = macro_auc_array(labels, fp32_scores), macro_auc_array(labels, int8_scores)
    drop = auc32 - auc8
    if not np.isfinite(drop):
        accepted, why = False, "no class with both positives and negatives to score"
    elif drop > max_auc_drop:
        accepted, why = False, f"macro-AUC drops {drop:.4f} > {max_auc_drop:g}"
    elif speed_int8 <= speed_fp32:
        accepted, why = False, f"not faster ({speed_int8:.0f} vs {speed_fp32:.0f} windows/s)"
    else:
        accepted, why = True, f"macro-AUC change {-drop:+.4f}, {speed_int8 / speed_fp32:.2f}x"
    verdict = Int8Verdict(accepted, auc32, auc8, speed_fp32, speed_int8, why)
    log.log(logging.INFO if accepted else logging.WARNING, "%s: int8 %s (%s)", source,
            "used" if accepted else "refused, fp32 kept", why)
    return verdict
