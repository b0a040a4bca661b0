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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from common.core.metrics import macro_auc_array
from common.model.frontend import Frontend
from common.stages.infer.backends.base import missing_reason, seconds_per_call
from common.stages.infer.backends.select import EXPORT_DIR, export_runner
from common.stages.infer.members import Member

if TYPE_CHECKING:
    from common.stages.infer.config import PredictConfig

__all__ = ["Int8Verdict", "apply_int8", "int8_verdict"]

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


def _scores(runner, specs: torch.Tensor, batch: int) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([runner(specs[i:i + batch]) for i in range(0, len(specs), batch)]
                         ).float().numpy()


def apply_int8(members: list[Member], data: tuple[np.ndarray, np.ndarray] | None,
               cfg: PredictConfig, threads: int) -> list[Int8Verdict]:
    """Quantize each member for ONNX Runtime and keep the int8 runner where the guard accepts.

    ``data``: ``(waves (n, window samples), labels (n, classes) in submission order)`` from
    :meth:`common.tasks.base.Task.labelled_windows`; the first half calibrates, the second
    half scores. An accepted member gets its int8 runner (``member.runner``, which the loop
    then uses as it is); a refused one keeps whatever ``cfg.backend`` builds. Returns one
    verdict per member quantized (none when ``data`` or ONNX Runtime is missing: logged).
    """
    reason = missing_reason("onnxruntime")
    if reason is not None or data is None or len(data[0]) < 4:
        log.warning("int8 refused for every model: %s; fp32 kept", reason or
                    "the task has no labelled windows to calibrate and check it on")
        return []
    from common.stages.infer.backends.onnx_backend import OrtRunner, quantize_int8

    waves, labels = data
    half = len(waves) // 2
    batch = cfg.batch_windows
    export_dir = cfg.export_dir or Path.cwd() / EXPORT_DIR
    specs: dict = {}
    verdicts = []
    for m in members:
        if m.frontend_cfg not in specs:
            with torch.inference_mode():
                specs[m.frontend_cfg] = Frontend(m.frontend_cfg).eval()(torch.from_numpy(waves))
        spec = specs[m.frontend_cfg]
        fp32, _ = export_runner(m, "onnxruntime", spec[:batch], threads, cfg.backend_tolerance,
                                export_dir)
        int8 = OrtRunner(quantize_int8(fp32.path, spec[:half].numpy(),
                                       fp32.path.with_suffix(".int8.onnx"), batch), threads)
        example = spec[:batch]
        rate32 = len(example) / seconds_per_call(fp32, example, calls=3)
        rate8 = len(example) / seconds_per_call(int8, example, calls=3)
        s32 = _scores(fp32, spec[half:], batch)[:, m.permutation]
        s8 = _scores(int8, spec[half:], batch)[:, m.permutation]
        verdict = int8_verdict(labels[half:], s32, s8, rate32, rate8, cfg.int8_max_auc_drop,
                               m.name)
        if verdict.accepted:
            m.runner, m.backend = int8, "onnxruntime"
            m.runner_kind = f"onnxruntime int8, {threads} threads ({verdict.reason})"
            m.speeds["onnxruntime int8"] = rate8
        verdicts.append(verdict)
    return verdicts
