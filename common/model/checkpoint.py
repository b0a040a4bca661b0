"""Self-describing model checkpoints.

A checkpoint is ``torch.save({"state_dict": ..., "meta": <JSON string>})``. The meta holds the
classes (column order of the model outputs), the frontend and model configs, the fold, the
validation metrics, the full run config and library versions, so inference rebuilds the exact
model from the file alone and cannot drift from training. Keeping meta as one JSON string lets
``torch.load(weights_only=True)`` read it: no pickled objects, no code execution on load.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch

from common.model.frontend import FrontendConfig
from common.model.sed import BirdModel, ModelConfig, build_model

__all__ = ["FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "rebuild_config",
           "model_from_checkpoint"]

FORMAT_VERSION = 1  # bump when the meta layout changes incompatibly


def _json_default(obj: Any) -> Any:
    """JSON fallback for numpy scalars/arrays and paths that metrics and configs carry."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def save_checkpoint(
    path: str | Path,
    model: BirdModel,
    *,
    classes: list[str],
    model_cfg: ModelConfig,
    frontend_cfg: FrontendConfig,
    fold: int,
    metrics: dict,
    config: dict,
    extra: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        classes: species labels in the order of the model's output columns (strings).
        metrics: validation results, e.g. ``{"val_auc": 0.91, "epoch": 12}``.
        config: the full run config as a JSON-able dict.
        extra: anything else JSON-able (e.g. temperature, training data hash).

    A crash mid-write leaves at most a stray temporary file, never a truncated checkpoint.
    Returns the path written.
    """
    path = Path(path)
    head_classes = model.head.num_classes
    if len(classes) != head_classes:
        raise ValueError(f"{len(classes)} classes given for a model with {head_classes} outputs")
    bad = [c for c in classes if not isinstance(c, str)]
    if bad:
        raise TypeError(f"class labels must be strings, got {bad[:5]}")
    meta = {
        "format_version": FORMAT_VERSION,
        "classes": list(classes),
        "frontend": frontend_cfg.to_dict(),
        "model": model_cfg.to_dict(),
        "fold": int(fold),
        "metrics": metrics,
        "config": config,
        "extra": extra or {},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "timm": timm.__version__},
    }
    try:
        meta_json = json.dumps(meta, default=_json_default)
    except TypeError as e:
        raise TypeError(f"checkpoint meta for {path} is not JSON serialisable: {e}") from e
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"state_dict": state_dict, "meta": meta_json}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint with ``weights_only=True`` (tensors and plain containers only).

    Returns:
        ``(state_dict, meta)`` with tensors on CPU and meta parsed from JSON.

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file when it is missing, holds
    pickled objects, or was not written by ``save_checkpoint``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors have many types; all mean "not ours"
        raise ValueError(
            f"{path} is not a loadable checkpoint (torch.load with weights_only=True failed): {e}"
        ) from e
    if not (isinstance(obj, dict) and "state_dict" in obj and isinstance(obj.get("meta"), str)):
        raise ValueError(
            f"{path} is not a BirdCLEF checkpoint (expected keys 'state_dict' and 'meta'); "
            "write checkpoints with common.model.checkpoint.save_checkpoint"
        )
    try:
        meta = json.loads(obj["meta"])
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: checkpoint meta is not valid JSON: {e}") from e
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format_version {version!r} is not supported by this code "
            f"(supports <= {FORMAT_VERSION}); update the common package"
        )
    return obj["state_dict"], meta


def rebuild_config(model_meta: dict[str, Any]) -> ModelConfig:
    """The :class:`ModelConfig` a checkpoint's model is rebuilt from: its stored config with
    pretrained weights off and no weights file.

    The checkpoint carries every weight, so a rebuild never fetches anything (nb04 runs with no
    internet) and never needs the file training started from. ``pretrained_path`` (the field's
    name in checkpoints written before ``pretrained``/``pretrained_file``) is dropped.
    """
    stored = {k: v for k, v in model_meta.items() if k != "pretrained_path"}
    return ModelConfig.from_dict({**stored, "pretrained": False, "pretrained_file": ""})


def model_from_checkpoint(path: str | Path) -> tuple[BirdModel, dict[str, Any]]:
    """Rebuild the model from the checkpoint's meta alone and load its weights strictly.

    The model is built from :func:`rebuild_config` (pretrained off: the stored weights replace
    everything, and nothing is downloaded). Returns ``(model, meta)`` with the model in eval
    mode on CPU.
    """
    state_dict, meta = load_checkpoint(path)
    model_cfg = rebuild_config(meta["model"])
    frontend_cfg = FrontendConfig.from_dict(meta["frontend"])
    model = build_model(model_cfg, frontend_cfg, num_classes=len(meta["classes"]))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: weights do not match the model described by its meta: {e}"
        ) from e
    return model.eval(), meta
