"""OpenVINO: a CPU model per member, compiled for the batch shape the loop uses, and static int8
quantization with NNCF.

Compiled with ``INFERENCE_NUM_THREADS`` = ``threads``, the latency hint (one stream, every
thread on one request: the loop sends one batch at a time) and fp32 inference precision
(OpenVINO otherwise drops to bf16 on CPUs with AMX, which Kaggle's lack, so the check against
PyTorch would pass here and the speed would not carry over). The model is reshaped to the
first batch's static shape, which lets OpenVINO pick fixed-shape kernels; another shape
compiles once more on first use.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from common.stages.infer.backends.base import calibration_windows, to_numpy

__all__ = ["OvRunner", "quantize_int8"]

log = logging.getLogger(__name__)


class OvRunner:
    """``spec (batch, 1, n_mels, frames) -> logits (batch, classes)`` through OpenVINO.

    Args:
        path: the exported ``.onnx`` file, or an OpenVINO IR ``.xml`` (the int8 model).
        threads: inference threads (the ``predict.threads`` setting, resolved).
    """

    def __init__(self, path: str | Path, threads: int) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.model = self.core.read_model(str(path))
        self.config = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY",
                       "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"}
        self.requests: dict[tuple[int, ...], object] = {}
        self.path = Path(path)

    def _request(self, shape: tuple[int, ...]):
        if shape not in self.requests:
            model = self.model.clone()
            model.reshape({0: list(shape)})
            compiled = self.core.compile_model(model, "CPU", self.config)
            self.requests[shape] = compiled.create_infer_request()
        return self.requests[shape]

    def __call__(self, spec: torch.Tensor) -> torch.Tensor:
        x = to_numpy(spec)
        request = self._request(tuple(x.shape))
        request.infer({0: x})
        return torch.from_numpy(request.get_output_tensor(0).data.copy())


def quantize_int8(fp32_path: str | Path, calibration: np.ndarray, out_path: str | Path,
                  batch: int = 12) -> Path:
    """Static int8 post-training quantization with NNCF, calibrated on real windows.

    ``calibration``: ``(n, 1, n_mels, frames)`` float32 spectrograms (windows of the training
    soundscapes, through the member's frontend), fed ``batch`` at a time; NNCF sets activation
    ranges from them and corrects the biases the rounding shifts (fast bias correction). The
    ``performance`` preset (symmetric activations): on EfficientNet-B0 it ran 1.25x fp32 here
    against 1.12x for ``mixed`` (asymmetric activations add zero-point work to every
    convolution; measured 2026-11-30, random weights). Weights are int8 per output channel with
    NNCF's overflow fix on every layer (7-bit weights): Kaggle's Skylake CPUs lack VNNI, and
    8-bit u8 x s8 products can saturate the AVX-512 int16 accumulator there (ONNX Runtime's
    ``reduce_range``, the same fix). Writes ``out_path`` (an OpenVINO IR ``.xml`` with its
    ``.bin``) and returns it; an existing one is kept (the cache).
    """
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        OverflowFix,
    )

    out_path = Path(out_path)
    if out_path.suffix != ".xml":
        raise ValueError(f"out_path must be an OpenVINO IR .xml file, got {out_path}")
    if out_path.is_file() and out_path.with_suffix(".bin").is_file():
        log.info("int8 model cached: %s", out_path)
        return out_path
    calibration = calibration_windows(calibration)
    batches = [calibration[i:i + batch] for i in range(0, len(calibration), batch)]
    model = ov.Core().read_model(str(fp32_path))
    quantized = nncf.quantize(
        model, nncf.Dataset(batches), preset=nncf.QuantizationPreset.PERFORMANCE,
        target_device=nncf.TargetDevice.CPU, subset_size=len(batches),
        advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name, then renamed (.bin first: the .xml marks a whole pair),
    # so a run killed mid-write leaves no half model for the next run to trust.
    partial = out_path.with_suffix(f".{os.getpid()}.partial.xml")
    ov.save_model(quantized, str(partial), compress_to_fp16=False)
    partial.with_suffix(".bin").replace(out_path.with_suffix(".bin"))
    partial.replace(out_path)
    log.info("int8 model written: %s (%.1f MB)", out_path,
             out_path.with_suffix(".bin").stat().st_size / 1e6)
    return out_path
