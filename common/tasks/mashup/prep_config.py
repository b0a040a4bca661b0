"""nb01's config for the mashup task: how many training mashups, how they are made, and a cache
of whole clips with the noise clips as background.

:meth:`common.tasks.mashup.task.MashupTask.config_class` returns :class:`MashupPrepConfig` for
the prep stage, so ``--task messy-mashup`` adds these flags to nb01's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.core.config import param
from common.stages.prep.config import PrepConfig
from common.tasks.mashup.recipe import MashupConfig

__all__ = ["MashupPrepConfig"]

# What the stage's presets set that is a fact of this task (cached whole, no soundscapes).
_TASK_FIELDS = ("cache_seconds", "n_background_soundscapes")
# This task's own preset values: they scale the run (number of mashups).
_CPU_MASHUPS: dict[str, Any] = {"mashups_per_genre_per_fold": 10}
_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": _CPU_MASHUPS,
    "fast": _CPU_MASHUPS,  # the cpu run with fewer epochs: the same mashups
    "smoke": {"mashups_per_genre_per_fold": 1},
}


@dataclass(frozen=True)
class MashupPrepConfig(PrepConfig):
    """:class:`PrepConfig` plus the training mashups; mashups are cached whole."""

    cache_seconds: float = param(0.0, "mashups are cached whole (0 = the whole clip)")
    n_background_soundscapes: int = param(
        0, "unused: every usable noise/ clip is cached as background instead")
    mashups_per_genre_per_fold: int = param(
        40, "training mashups generated per genre and fold (100 songs per genre and 5 folds: "
        "40 gives 2,000 mashups of 30 s, 2.6 GB of WAVs plus as much cache)")
    mashup: MashupConfig = param(
        MashupConfig(), "how training mashups are made (common.tasks.mashup.render); its "
        "sample_rate must equal sample_rate")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        name: {**{k: v for k, v in values.items() if k not in _TASK_FIELDS},
               **_PRESETS.get(name, {})}
        for name, values in PrepConfig.PRESETS.items()
    }
