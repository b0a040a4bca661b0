"""Optimisation pieces of nb02: the loss, AdamW over layer-decayed groups, the LR schedule, the
warm start from another checkpoint, and where a fold's first weights come from.

The recipe fine-tunes: the backbone starts from pretrained weights (``model.pretrained``) or a
warm start (``init_checkpoint``), a linear warm-up keeps the first steps of a random head from
wrecking the pretrained filters, and layer-wise LR decay (``optim.layer_decay`` < 1) moves the
early, generic stages least. From random weights the decay only slows the stem down, so
:func:`check_fine_tuning` refuses ``layer_decay`` < 1 without trained starting weights.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from common.model.checkpoint import load_checkpoint
from common.model.losses import build_loss
from common.model.sed import BirdModel, ModelConfig, param_groups_lrd

if TYPE_CHECKING:
    from common.stages.train.config import OptimConfig, TrainConfig

log = logging.getLogger(__name__)

__all__ = ["build_criterion", "build_optimizer", "build_scheduler", "amp_enabled", "warm_start",
           "check_fine_tuning", "initial_model_config"]


def build_criterion(cfg: TrainConfig) -> torch.nn.Module:
    """The configured loss (:func:`common.model.losses.build_loss`), checked against the task
    (:meth:`common.tasks.base.Task.loss_name`: a multi-label loss on a softmax task is an
    error)."""
    spec = cfg.objective
    name = cfg.task_spec.loss_name(spec.loss)
    if name == "asl":
        return build_loss("asl", gamma_neg=spec.asl_gamma_neg, gamma_pos=spec.asl_gamma_pos,
                          clip=spec.asl_clip)
    if name == "focal":
        return build_loss("focal", gamma=spec.focal_gamma)
    if name == "cross_entropy":
        return build_loss("cross_entropy", label_smoothing=cfg.label_smoothing)
    return build_loss(name)


def build_optimizer(model: BirdModel, optim: OptimConfig, device: torch.device
                    ) -> torch.optim.AdamW:
    """AdamW over :func:`common.model.sed.param_groups_lrd` groups: the head at ``optim.lr``,
    each backbone stage below it ``optim.layer_decay`` times less; fused kernels on CUDA."""
    groups = param_groups_lrd(model, optim.lr, optim.weight_decay, optim.layer_decay)
    return torch.optim.AdamW(groups, lr=optim.lr, weight_decay=optim.weight_decay,
                             **({"fused": True} if device.type == "cuda" else {}))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                    min_lr_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up from ~0 to each group's LR, then cosine to
    ``min_lr_ratio`` of it. Each group keeps its own (layer-decayed) peak."""
    total_steps = max(1, total_steps)
    warmup_steps = min(max(0, warmup_steps), total_steps - 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return min_lr_ratio + (1.0 - min_lr_ratio) * cosine

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def amp_enabled(optim: OptimConfig, device: torch.device) -> bool:
    """fp16 autocast only where it pays and is supported: ``optim.amp`` on CUDA."""
    return optim.amp and device.type == "cuda"


def warm_start(model: BirdModel, path: Path, classes: list[str]) -> None:
    """Load a checkpoint's weights into ``model`` (same backbone, same classes), strictly."""
    if not path.is_file():
        raise FileNotFoundError(f"init_checkpoint {path} does not exist: point it at a "
                                "checkpoint of this fold (e.g. the teacher's <backbone>_fold<k>"
                                "_best.pt) or leave it empty")
    state_dict, meta = load_checkpoint(path)
    if [str(c) for c in meta["classes"]] != list(classes):
        raise ValueError(f"{path}: its classes differ from nb01's species.csv; warm starts need "
                         "the same species in the same order")
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        backbone = meta["model"].get("backbone")
        raise ValueError(f"{path} (backbone {backbone}) does not fit this run's model config: "
                         f"{err}") from err
    log.info("warm start from %s", path)


def check_fine_tuning(cfg: TrainConfig) -> None:
    """Refuse layer-wise LR decay when nothing trained starts the backbone.

    ``optim.layer_decay`` < 1 gives the stem ``layer_decay**levels`` of the head's rate
    (EfficientNet-B0: 8 levels, ``0.75**8`` = 10 %); that protects pretrained filters, but random
    ones would just learn slowly. So it needs ``model.pretrained`` or an ``init_checkpoint``.
    """
    if cfg.optim.layer_decay < 1.0 and not (cfg.model.pretrained or cfg.init_checkpoint):
        raise ValueError(
            f"optim.layer_decay={cfg.optim.layer_decay} slows the early backbone stages, which "
            "only helps when they start from trained weights, but model.pretrained is off and "
            "there is no init_checkpoint: set optim.layer_decay=1.0 for training from scratch, "
            "or turn model.pretrained on")


def initial_model_config(cfg: TrainConfig, replaced: bool) -> ModelConfig:
    """The model config a fold builds its model from.

    ``replaced``: every weight is about to be overwritten (a warm start from ``init_checkpoint``
    or a resume state), so pretrained weights are not fetched: ``model.pretrained`` is turned
    off for the build, which needs no internet and no weights file.
    """
    if replaced and cfg.model.pretrained:
        return dataclasses.replace(cfg.model, pretrained=False, pretrained_file="")
    return cfg.model
