"""Training speeds on a device from the throughput facts: :func:`training_speeds`.

One place for what the planner (:mod:`common.budget.plan`), nb02's start
(:mod:`common.stages.train.budget`) and nb03's sizing (:mod:`common.stages.pseudo.budget`)
all need: the step, validation and loader speeds of one training process, with a device that
has no figures of its own projected as Kaggle's T4 (the recipe's accelerator).
"""

from __future__ import annotations

from common.budget.facts import Throughputs
from common.budget.model import StageSpeeds

__all__ = ["GPU_DEVICE", "training_speeds"]

GPU_DEVICE = "t4"  # the throughput key of Kaggle's GPU (kaggle_limits.json: T4 x2)


def training_speeds(thr: Throughputs, device: str, backbone: str, loader_workers: int
                    ) -> tuple[StageSpeeds, str]:
    """``(speeds, device key used)`` of one training process on ``device`` (a
    :func:`common.budget.facts.device_name` key) with ``loader_workers`` loader workers.
    Raises ``KeyError`` when neither the device nor the T4 has figures for ``backbone``."""
    try:
        thr.rate("train_step", device, backbone)
    except KeyError:
        device = GPU_DEVICE
    return StageSpeeds(train=thr.rate("train_step", device, backbone),
                       evaluate=thr.rate("eval", device, backbone),
                       loader=thr.rate("train_loader", "cpu") * max(1, loader_workers)), device
