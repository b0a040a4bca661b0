"""nb01's cache sized to its budget before the long decode.

:func:`size_cache` asks the budget (:func:`common.budget.fit.fit_cache_seconds`) for the
longest ``cache_seconds`` whose cache (the focal clips' kept seconds plus the soundscapes
cached whole) fits ``max_cache_gb``, logs the choice and its reason, and returns the config
to run with. :func:`common.stages.prep.scan.check_cache_budget` stays the hard guard after it.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from common.budget.fit import CacheChoice, fit_cache_seconds
from common.budget.model import audio_gb
from common.stages.prep.config import PrepConfig, cache_limit_seconds
from common.stages.prep.scan import check_cache_budget

log = logging.getLogger(__name__)

__all__ = ["size_cache"]


def size_cache(cfg: PrepConfig, clip_durations: np.ndarray, soundscape_seconds: float
               ) -> tuple[PrepConfig, CacheChoice]:
    """``(cfg with the cache_seconds that fits, the choice)``; raises ``ValueError`` naming the
    fix when even the floor does not fit (or ``fit_cache`` is off and the asked length does
    not).

    Args:
        clip_durations: ``(clips,)`` seconds of the focal clips (file headers).
        soundscape_seconds: seconds of the soundscapes cached whole (labelled + background).
    """
    durations = np.asarray(clip_durations, dtype=float)

    def cache_gb(keep: float | None) -> float:
        kept = np.minimum(durations, np.inf if keep is None else keep).sum()
        return audio_gb(float(kept) + soundscape_seconds, cfg.sample_rate)

    if cfg.fit_cache:
        longest = float(durations.max()) if len(durations) else 0.0
        choice = fit_cache_seconds(cache_gb, cfg.cache_seconds, cfg.min_cache_seconds,
                                   cfg.max_cache_gb, longest)
    else:
        gb = cache_gb(cache_limit_seconds(cfg.cache_seconds))
        choice = CacheChoice(cfg.cache_seconds, gb, gb <= cfg.max_cache_gb,
                             f"cache_seconds={cfg.cache_seconds:g} as asked (fit_cache off)")
    log.info("cache: %s", choice.reason)
    check_cache_budget(choice.gb, cfg.max_cache_gb, "the audio cache (clips and soundscapes)",
                       f"lower --cache-seconds (now {cfg.cache_seconds:g}, kept "
                       f"{choice.seconds:g}) or --min-cache-seconds, or --n-background-"
                       "soundscapes")
    if choice.seconds != cfg.cache_seconds:
        cfg = dataclasses.replace(cfg, cache_seconds=choice.seconds)
    return cfg, choice
