"""nb01's config for the mashup task: mashups are cached whole, noise clips are the background."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.core.config import param
from common.stages.prep.run import PrepConfig


@dataclass(frozen=True)
class MashupPrepConfig(PrepConfig):
    """:class:`PrepConfig` with the mashup task's cache: whole clips, no soundscapes."""

    cache_seconds: float = param(0.0, "mashups are cached whole (0 = the whole clip)")
    n_background_soundscapes: int = param(
        0, "unused: every usable noise/ clip is cached as background instead")

    # The stage's presets less what is a fact of this task (the cache length, soundscapes).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        name: {k: v for k, v in values.items()
               if k not in ("cache_seconds", "n_background_soundscapes")}
        for name, values in PrepConfig.PRESETS.items()
    }
