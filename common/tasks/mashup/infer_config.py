"""nb04's config for the mashup task: the inference config plus the feature blend's knobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.core.config import param
from common.stages.infer.config import InferConfig


@dataclass(frozen=True)
class MashupInferConfig(InferConfig):
    """:class:`InferConfig` with the blend of nb02's feature models into the clip probabilities
    (:mod:`common.tasks.mashup.feature_blend`)."""

    feature_blend: bool = param(
        True, "blend with nb02's feature models when the models dataset holds blend.json and "
        "features.csv (refitted here on all rows)")
    feature_workers: int = param(0, "processes extracting test-clip features (0 = every CPU)")
    feature_seed: int = param(0, "random state of the refitted feature models")

    # The stage's presets, with the feature extraction scaled like the rest of a smoke run.
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        **InferConfig.PRESETS,
        "smoke": {**InferConfig.PRESETS["smoke"], "feature_workers": 1},
    }
