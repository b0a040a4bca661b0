"""ONNX Runtime: a CPU session per member, and static int8 quantization.

Sessions run with ``threads`` intra-op threads, one inter-op thread (the graph is a chain; a
second pool would only fight the first for the same cores) and every graph optimisation
(constant folding, conv + batch-norm + activation fusion, layout transforms).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from common.stages.infer.backends.base import calibration_windows, to_numpy

__all__ = ["OrtRunner", "quantize_int8"]

log = logging.getLogger(__name__)


class OrtRunner:
    """``spec (batch, 1, n_mels, frames) -> logits (batch, classes)`` through ONNX Runtime.

    Args:
        path: the exported ``.onnx`` file (fp32 or int8).
        threads: intra-op threads (the ``predict.threads`` setting, resolved).
    """

    def __init__(self, path: str | Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.path = Path(path)

    def __call__(self, spec: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: to_numpy(spec)})[0]
        return torch.from_numpy(out)


def quantize_int8(fp32_path: str | Path, calibration: np.ndarray, out_path: str | Path,
                  batch: int = 12) -> Path:
    """Static int8 (QDQ) quantization of an exported model, calibrated on real windows.

    ``calibration``: ``(n, 1, n_mels, frames)`` float32 spectrograms (windows of the training
    soundscapes, through the member's frontend); activation ranges are their min/max. Weights
    are int8 per output channel and 7-bit (``reduce_range``): Kaggle's Skylake CPUs lack VNNI,
    and 8-bit u8 x s8 products can saturate the AVX-512 int16 accumulator there. Writes and
    returns ``out_path`` (kept when it already exists).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_path = Path(out_path)
    if out_path.is_file():
        log.info("int8 model cached: %s", out_path)
        return out_path
    calibration = calibration_windows(calibration)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prepared = out_path.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)

    class Windows(CalibrationDataReader):
        """The calibration windows, ``batch`` at a time."""

        def __init__(self) -> None:
            self.batches = iter(calibration[i:i + batch]
                                for i in range(0, len(calibration), batch))

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.batches, None)
            return None if item is None else {"spec": item}

    reader = Windows()
    partial = out_path.with_suffix(".partial")
    quantize_static(str(prepared), str(partial), reader, quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True, reduce_range=True)
    partial.replace(out_path)
    prepared.unlink(missing_ok=True)
    log.info("int8 model written: %s (%.1f MB)", out_path, out_path.stat().st_size / 1e6)
    return out_path
