"""The state of a fold in training, and the resume file that lets a stopped session continue.

A fold's state is its training objects (:class:`FoldParts`: model, optimiser, schedule, loss
scaler, EMA, augmenters with their call counters) plus its progress (:class:`FoldProgress`:
epochs done, steps, best score and epoch, history). After every epoch both are written
atomically to ``resume/<backbone-short>_fold<k>.pt`` with the config they were trained under;
a later session with the same working dir reloads them and continues bit for bit (the RNG
states are in the file). Fields of :data:`TrainConfig.RESUME_FREE` (paths, folds, the
``session`` group) may differ between the sessions; any other change is refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from timm.utils import ModelEmaV3

from common.audio.augment import SpecAugment, WaveAugment
from common.core.config import config_to_dict
from common.model.sed import BirdModel

if TYPE_CHECKING:
    from common.stages.train.config import TrainConfig

log = logging.getLogger(__name__)

__all__ = ["FoldParts", "FoldProgress", "resume_config", "atomic_torch_save",
           "save_resume_state", "load_resume_state"]


@dataclass
class FoldParts:
    """The objects one fold trains with (built by :func:`common.stages.train.fold.train_fold`)."""

    model: BirdModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: ModelEmaV3 | None
    wave_aug: WaveAugment
    spec_aug: SpecAugment
    criterion: torch.nn.Module

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights that are validated and saved: the EMA's when there is one."""
        return self.ema.module if self.ema is not None else self.model


@dataclass
class FoldProgress:
    """How far a fold got: epochs done (1-based count), optimiser steps, the best epoch."""

    epoch: int = 0
    global_step: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)


def resume_config(cfg: TrainConfig) -> dict[str, Any]:
    """``{dotted field: value}`` of the config less ``RESUME_FREE`` (JSON values)."""
    free = tuple(type(cfg).RESUME_FREE)
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in free:
                continue
            if isinstance(value, dict):
                walk(f"{name}.", value)
            else:
                flat[name] = value

    walk("", config_to_dict(cfg))
    return flat


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: a kill mid-write leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_resume_state(path: Path, cfg: TrainConfig, parts: FoldParts, progress: FoldProgress,
                      device: torch.device) -> None:
    """Write the fold's state after an epoch (see the module docstring)."""
    state = {
        "model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(), "scaler": parts.scaler.state_dict(),
        "ema": parts.ema.module.state_dict() if parts.ema is not None else {},
        "epoch": progress.epoch, "global_step": progress.global_step,
        "best_score": progress.best_score, "best_epoch": progress.best_epoch,
        "wave_aug_calls": parts.wave_aug.calls, "spec_aug_calls": parts.spec_aug.calls,
        "history": json.dumps(progress.history), "config": json.dumps(resume_config(cfg)),
        "torch_rng": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    atomic_torch_save(state, path)


def load_resume_state(path: Path, cfg: TrainConfig, parts: FoldParts,
                      device: torch.device) -> FoldProgress | None:
    """Restore ``parts`` from the resume file at ``path``; its progress, or ``None`` when
    there is no file. A file written under another config (beyond ``RESUME_FREE``) is an
    error naming the fields that differ."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved, current = json.loads(state["config"]), resume_config(cfg)
    if saved != current:
        changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise ValueError(f"{path} was written with a different config ({changed}); use a fresh "
                         "--working-dir or delete that file to start over")
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scheduler.load_state_dict(state["scheduler"])
    parts.scaler.load_state_dict(state["scaler"])
    if parts.ema is not None:
        parts.ema.module.load_state_dict(state["ema"])
    parts.wave_aug.calls = int(state["wave_aug_calls"])
    parts.spec_aug.calls = int(state["spec_aug_calls"])
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return FoldProgress(epoch=int(state["epoch"]), global_step=int(state["global_step"]),
                        best_score=float(state["best_score"]),
                        best_epoch=int(state["best_epoch"]),
                        history=json.loads(state["history"]))
