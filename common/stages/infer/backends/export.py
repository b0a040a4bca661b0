"""One ONNX file per checkpoint: exported once, cached next to the checkpoint.

The exported graph is a member's ``spec (batch, 1, n_mels, frames) -> clip logits (batch,
classes)`` half (:class:`common.stages.infer.members.ClipLogits`); the frontend stays in PyTorch,
shared by every member. The file is named by a hash of the checkpoint's bytes and the input
shape, so a retrained checkpoint never meets a stale export. It goes next to the checkpoint when
that folder is writable; on Kaggle the inputs are read-only and it goes to ``fallback_dir`` (the
working dir) under the same name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

import torch

from common.stages.infer.members import ClipLogits

__all__ = ["checkpoint_hash", "export_onnx", "export_path"]

log = logging.getLogger(__name__)

OPSET = 17  # the legacy TorchScript exporter's well-trodden opset; both runtimes read it


def checkpoint_hash(path: str | Path, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def export_path(checkpoint: str | Path, input_shape: tuple[int, ...], fallback_dir: str | Path,
                suffix: str = "") -> Path:
    """Where the export of ``checkpoint`` for spectrograms of ``input_shape`` (``(1, n_mels,
    frames)``) lives: next to the checkpoint when its folder is writable, else in
    ``fallback_dir``. ``suffix`` tells variants apart (``"int8"``)."""
    checkpoint = Path(checkpoint)
    shape = "x".join(str(int(s)) for s in input_shape)
    tail = f".{suffix}" if suffix else ""
    name = f"{checkpoint.stem}.{checkpoint_hash(checkpoint)}.{shape}{tail}.onnx"
    if os.access(checkpoint.parent, os.W_OK):
        return checkpoint.parent / name
    return Path(fallback_dir) / name


def export_onnx(model: torch.nn.Module, example_spec: torch.Tensor, path: str | Path) -> Path:
    """Write ``model``'s ``spec -> clip logits`` graph to ``path`` (dynamic batch), unless a file
    is already there. ``example_spec``: ``(batch, 1, n_mels, frames)``. Returns ``path``.

    The file is written under a temporary name and renamed, so a run killed mid-export leaves
    no truncated file for the next run to trust.
    """
    path = Path(path)
    if path.is_file():
        log.info("export cached: %s", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ClipLogits(model).eval()
    example = example_spec.contiguous().float()
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) needs no onnxscript and handles timm's
        # backbones; torch marks it deprecated, which is not actionable here.
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (example,), str(partial), dynamo=False, opset_version=OPSET,
                          input_names=["spec"], output_names=["logits"],
                          dynamic_axes={"spec": {0: "batch"}, "logits": {0: "batch"}})
    partial.replace(path)
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path
