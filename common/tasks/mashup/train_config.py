"""nb02's config for the mashup task: the training config plus the feature-model baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.core.config import param
from common.stages.train.config import TrainConfig

# The shared cpu preset's choices measured on BirdCLEF only (its mashup demo figures were
# measured with 20 epochs, cross-entropy and the task's augmentation).
_BIRDCLEF_CPU_CHOICES = ("objective.loss", "spec_augment.p", "wave_augment.p_simulate",
                         "model.band_stats")


@dataclass(frozen=True)
class MashupTrainConfig(TrainConfig):
    """:class:`TrainConfig` plus the feature baseline fitted and blended after the folds
    (:func:`common.tasks.mashup.baselines.report_clip_models`)."""

    feature_baseline: bool = param(
        True, "also fit the feature models on the same folds and blend them with the CNN on "
        "OOF predictions (common.tasks.mashup.baselines)")
    feature_models: tuple[str, ...] = param(
        ("logreg", "extra_trees"),
        "feature models of the baseline (keys of "
        "common.tasks.mashup.feature_models.MODEL_BUILDERS)")
    feature_workers: int = param(
        -1, "processes computing the baseline's clip features (-1 = every CPU, 1 = in process)")

    # The baseline only adds files after the folds: a resumed fold may change it.
    RESUME_FREE: ClassVar[tuple[str, ...]] = (*TrainConfig.RESUME_FREE, "feature_baseline",
                                              "feature_models", "feature_workers")
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        **TrainConfig.PRESETS,
        # The shared cpu preset's loss (BCE) is a multi-label one: keep the task's
        # cross-entropy, its augmentation and 20 epochs.
        "cpu": {**{k: v for k, v in TrainConfig.PRESETS["cpu"].items()
                   if k not in _BIRDCLEF_CPU_CHOICES}, "optim.epochs": 20},
        # Tests: the clip features in process (no worker pool start-up).
        "smoke": {**TrainConfig.PRESETS["smoke"], "feature_workers": 1},
    }
