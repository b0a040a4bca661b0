"""Each stage's config class by its key (``"prep"``, ``"train"``, ``"pseudo"``, ``"infer"``:
the configs' ``STAGE``), for tools that handle every stage alike (the budget planner, the
pipeline runner's ``--set``)."""

from __future__ import annotations

from common.stages.infer.config import InferConfig
from common.stages.prep.config import PrepConfig
from common.stages.pseudo.config import PseudoConfig
from common.stages.train.config import TrainConfig

__all__ = ["STAGE_CONFIGS"]

STAGE_CONFIGS: dict[str, type] = {cls.STAGE: cls for cls in
                                  (PrepConfig, TrainConfig, PseudoConfig, InferConfig)}
