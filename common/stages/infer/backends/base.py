"""What every backend shares: the names, what each needs installed, the check against PyTorch.

A runner is a callable ``spec (batch, 1, n_mels, frames) float32 tensor -> clip logits (batch,
classes) float32 tensor``, whatever runs inside it, so the prediction loop never asks which
backend it holds.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["BACKENDS", "CHOICES", "ExportMismatch", "Runner", "calibration_windows",
           "check_outputs", "missing_reason",
           "seconds_per_call", "to_numpy"]

Runner = Callable[[torch.Tensor], torch.Tensor]

BACKENDS = ("torch", "onnxruntime", "openvino")
CHOICES = (*BACKENDS, "auto")
# The Python modules each backend imports (ONNX Runtime and OpenVINO read the exported file,
# which torch.onnx writes with the ``onnx`` package).
NEEDS = {"torch": (), "onnxruntime": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino")}
# Their pip names and the optional requirements file that pins them.
REQUIREMENTS_FILE = "requirements-infer.txt"


class ExportMismatch(RuntimeError):
    """An exported model's logits differ from PyTorch's by more than the tolerance."""


def missing_reason(backend: str) -> str | None:
    """``None`` when ``backend`` can run here, else why not (the modules that are missing)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {CHOICES}, got {backend!r}")
    missing = [m for m in NEEDS[backend] if importlib.util.find_spec(m) is None]
    if missing:
        return (f"{backend} needs {', '.join(missing)}, not installed: pip install -r "
                f"{REQUIREMENTS_FILE} (Kaggle: ship the wheels with the code dataset)")
    return None


def to_numpy(spec: torch.Tensor) -> np.ndarray:
    """A C-contiguous float32 array of ``spec`` (a channels-last tensor is copied)."""
    return np.ascontiguousarray(spec.detach().cpu().numpy(), dtype=np.float32)


def calibration_windows(calibration: np.ndarray) -> np.ndarray:
    """int8 calibration spectrograms ``(n, 1, n_mels, frames)`` as C-contiguous float32; raises
    ValueError on another shape or none at all."""
    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration must be (n, 1, n_mels, frames) windows, got shape "
                         f"{calibration.shape}")
    return calibration


def check_outputs(reference: torch.Tensor, got: torch.Tensor, tolerance: float, source: str
                  ) -> float:
    """The max absolute logit difference; raises :class:`ExportMismatch` above ``tolerance``.

    ``reference``/``got``: ``(batch, classes)`` logits of PyTorch and of the backend on the same
    spectrograms.
    """
    if reference.shape != got.shape:
        raise ExportMismatch(f"{source}: exported model gives shape {tuple(got.shape)}, "
                             f"PyTorch {tuple(reference.shape)}")
    diff = float((got.float() - reference.float()).abs().max())
    if not np.isfinite(diff) or diff > tolerance:
        raise ExportMismatch(
            f"{source}: exported model's logits differ from PyTorch's by {diff:.3g} "
            f"(> backend_tolerance {tolerance:g}); delete the cached export to rebuild it, or "
            f"run with backend=torch")
    return diff


def seconds_per_call(runner: Runner, spec: torch.Tensor, calls: int = 2) -> float:
    """Wall seconds per call of ``runner`` on ``spec``, after one warm-up call."""
    with torch.inference_mode():
        runner(spec)
        start = time.perf_counter()
        for _ in range(calls):
            runner(spec)
    return (time.perf_counter() - start) / calls
