"""OpenVINO: a CPU model per member, compiled for the batch shape the loop uses.

Compiled with ``INFERENCE_NUM_THREADS`` = ``threads``, the latency hint (one stream, every
thread on one request: the loop sends one batch at a time) and fp32 inference precision
(OpenVINO otherwise drops to bf16 on CPUs with AMX, which Kaggle's lack, so the check against
PyTorch would pass here and the speed would not carry over). The model is reshaped to the
first batch's static shape, which lets OpenVINO pick fixed-shape kernels; another shape
compiles once more on first use.
"""

from __future__ import annotations

from pathlib import Path

import torch

from common.stages.infer.backends.base import to_numpy

__all__ = ["OvRunner"]


class OvRunner:
    """``spec (batch, 1, n_mels, frames) -> logits (batch, classes)`` through OpenVINO.

    Args:
        path: the exported ``.onnx`` file.
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
