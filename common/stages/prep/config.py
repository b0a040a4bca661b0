"""nb01's config: :class:`PrepConfig`, the fields every task's data prep reads.

A task with fields of its own subclasses it in its folder and returns the subclass from
:meth:`common.tasks.base.Task.config_class` (the task's defaults for shared fields, such as the
sample rate or the cache length, come from :meth:`common.tasks.base.Task.config_defaults`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from common.core.config import StageConfig, param

__all__ = ["PrepConfig", "cache_limit_seconds"]


def cache_limit_seconds(cache_seconds: float) -> float | None:
    """Seconds of each clip the cache keeps: ``cache_seconds``, or ``None`` (the whole clip)
    when it is 0 or less. The one place that reads the "0 = whole clip" convention."""
    return None if cache_seconds <= 0 else float(cache_seconds)


_CPU_PRESET: dict[str, Any] = {"n_background_soundscapes": 40, "shard_mb": 64.0}


@dataclass(frozen=True)
class PrepConfig(StageConfig):
    """nb01 parameters; defaults are the Kaggle recipe (a task's own: its ``config_defaults``)."""

    dataset_slug: str = param("birdclef-2026-prep", "slug this stage's output is published as")
    kaggle_user: str = param("", "Kaggle user for dataset-metadata.json ('' = kaggle CLI config)")
    n_folds: int = param(5, "number of cross-validation folds (K)")
    seed: int = param(42, "seed for folds and every random choice of the stage")
    sample_rate: int = param(32000, "decode rate, Hz (the task's: its test audio's rate)")
    min_seconds: float = param(0.5, "clips shorter than this are listed as bad and excluded")
    silence_dbfs: float = param(-70.0, "clips whose RMS is below this (dBFS) are listed as silent")
    cache_seconds: float = param(
        10.0, "seconds of each training clip kept in the decoded cache (0 = the whole clip)")
    cache_region: str = param(
        "active", "'start': first seconds; 'active': around the loudest window (a quarter of the "
        "demo's focal clips have their loudest 5 s after the first 10 s)")
    max_cache_gb: float = param(18.0, "fail early if the cache would exceed this (Kaggle: 20 GB)")
    fit_cache: bool = param(
        True, "shorten cache_seconds (not below min_cache_seconds) when the cache would exceed "
        "max_cache_gb, instead of failing (common.budget.fit)")
    min_cache_seconds: float = param(
        5.0, "fit_cache never keeps less than this per clip (one training window)")
    n_background_soundscapes: int = param(
        200, "unlabelled recordings cached for background mixing (-1 = all)")
    max_clips: int = param(0, "keep only the first N labelled clips (0 = all); for quick trials")
    workers: int = param(0, "decoding processes (0 = every CPU)")
    shard_mb: float = param(256.0, "cache shard size, MB")

    STAGE: ClassVar[str] = "prep"  # names its dataset and the task defaults it takes
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": _CPU_PRESET,
        "fast": _CPU_PRESET,  # the cpu run with fewer epochs: nothing of nb01 changes
        "smoke": {"n_folds": 2, "cache_seconds": 6.0, "n_background_soundscapes": 2,
                  "shard_mb": 1.0, "workers": 2},
    }

    @property
    def cache_dir(self) -> Path:
        """The decoded audio cache, ``<working_dir>/cache`` (see :mod:`common.audio.cache`)."""
        return Path(self.working_dir) / "cache"

    @property
    def cache_limit_seconds(self) -> float | None:
        """Seconds of each training clip the cache keeps (``None``: the whole clip)."""
        return cache_limit_seconds(self.cache_seconds)
