"""The int8 guard: a quantized model is used only when it pays and costs no ranking quality.

Static int8 for ONNX Runtime (:func:`common.stages.infer.backends.onnx_backend.quantize_int8`,
QDQ) or OpenVINO (:func:`common.stages.infer.backends.openvino_backend.quantize_int8`, NNCF) is
calibrated on windows of the training soundscapes and cached next to the fp32 export;
:func:`int8_verdict` then scores the fp32 and int8 models on labelled validation windows with
the competition metric (macro ROC-AUC over the classes that occur) and refuses the int8 model,
with the figures logged, when the AUC drops more than ``max_auc_drop`` or when it is not faster.
Under ``backend=auto`` every installed int8 backend is tried and the fastest accepted one kept.
"""

from __future__ import annotations

import importlib.util
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

__all__ = ["INT8_BACKENDS", "Int8Verdict", "apply_int8", "int8_backends", "int8_missing_reason",
           "int8_verdict", "quantized_runner"]

log = logging.getLogger(__name__)

INT8_BACKENDS = ("onnxruntime", "openvino")
# Modules int8 needs beyond the backend itself (ONNX Runtime ships its own quantizer).
INT8_NEEDS = {"onnxruntime": (), "openvino": ("nncf",)}


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


def int8_missing_reason(backend: str) -> str | None:
    """``None`` when ``backend`` can quantize to int8 here, else why not."""
    if backend not in INT8_BACKENDS:
        return f"int8 runs on {INT8_BACKENDS}, not {backend!r}"
    reason = missing_reason(backend)
    missing = [m for m in INT8_NEEDS[backend] if importlib.util.find_spec(m) is None]
    if reason is None and missing:
        reason = (f"{backend} int8 needs {', '.join(missing)}, not installed: pip install -r "
                  f"requirements-infer.txt")
    return reason


def int8_backends(choice: str) -> tuple[str, ...]:
    """The backends int8 is tried on for ``predict.backend = choice`` (``auto``: both)."""
    if choice == "auto":
        return INT8_BACKENDS
    if choice not in INT8_BACKENDS:
        raise ValueError(f"int8 runs on {INT8_BACKENDS} (or auto), not {choice!r}")
    return (choice,)


def quantized_runner(backend: str, fp32_path: Path, calibration: np.ndarray, threads: int,
                     batch: int):
    """The int8 runner of an exported model on ``backend``, quantized once (cached beside the
    fp32 export: ``<export>.int8.onnx`` or ``<export>.int8.xml``). ``calibration``: ``(n, 1,
    n_mels, frames)`` float32 spectrograms."""
    if backend == "onnxruntime":
        from common.stages.infer.backends import onnx_backend as ort

        return ort.OrtRunner(ort.quantize_int8(fp32_path, calibration,
                                               fp32_path.with_suffix(".int8.onnx"), batch),
                             threads)
    from common.stages.infer.backends import openvino_backend as ov

    return ov.OvRunner(ov.quantize_int8(fp32_path, calibration,
                                        fp32_path.with_suffix(".int8.xml"), batch), threads)


def _scores(runner, specs: torch.Tensor, batch: int) -> np.ndarray:
    with torch.inference_mode():
        return torch.cat([runner(specs[i:i + batch]) for i in range(0, len(specs), batch)]
                         ).float().numpy()


def apply_int8(members: list[Member], data: tuple[np.ndarray, np.ndarray] | None,
               cfg: PredictConfig, threads: int) -> list[Int8Verdict]:
    """Quantize each member on ``cfg.backend`` (``auto``: each installed int8 backend) and keep
    the int8 runner where the guard accepts (the fastest accepted one under ``auto``).

    ``data``: ``(waves (n, window samples), labels (n, classes) in submission order)`` from
    :meth:`common.tasks.base.Task.labelled_windows`; the first half calibrates, the second
    half scores. An accepted member gets its int8 runner (``member.runner``, which the loop
    then uses as it is) and ``member.speeds["<backend> int8"]``; a refused one keeps whatever
    ``cfg.backend`` builds. Returns one verdict per member and backend quantized (none when
    ``data`` or every int8 backend is missing: logged).
    """
    wanted = int8_backends(cfg.backend)
    reasons = {b: int8_missing_reason(b) for b in wanted}
    usable = [b for b in wanted if reasons[b] is None]
    if not usable or data is None or len(data[0]) < 4:
        why = ("the task has no labelled windows to calibrate and check it on" if usable else
               "; ".join(str(r) for r in reasons.values()))
        log.warning("int8 refused for every model: %s; fp32 kept", why)
        return []
    for b in wanted:
        if reasons[b] is not None:
            log.warning("auto: int8 on %s left out: %s", b, reasons[b])
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
        example = spec[:batch]
        best: tuple[float, str, object, Int8Verdict] | None = None
        for backend in usable:
            fp32, _ = export_runner(m, backend, example, threads, cfg.backend_tolerance,
                                    export_dir)
            int8 = quantized_runner(backend, fp32.path, spec[:half].numpy(), threads, batch)
            rate32 = len(example) / seconds_per_call(fp32, example, calls=3)
            rate8 = len(example) / seconds_per_call(int8, example, calls=3)
            s32 = _scores(fp32, spec[half:], batch)[:, m.permutation]
            s8 = _scores(int8, spec[half:], batch)[:, m.permutation]
            verdict = int8_verdict(labels[half:], s32, s8, rate32, rate8,
                                   cfg.int8_max_auc_drop, f"{m.name} ({backend})")
            verdicts.append(verdict)
            if verdict.accepted and (best is None or rate8 > best[0]):
                best = (rate8, backend, int8, verdict)
        if best is not None:
            rate8, backend, int8, verdict = best
            m.runner, m.backend, m.int8 = int8, backend, True
            m.runner_kind = f"{backend} int8, {threads} threads ({verdict.reason})"
            m.speeds[f"{backend} int8"] = rate8
    return verdicts
