"""The audio nb03 decodes, kept for its students: a cache writer hooked into the teacher pass.

:class:`AudioCacher` is the engine's ``on_decoded`` hook: files missing from nb01's cache are
written (float16, up to a size budget) to ``cache/``, so students read memory maps instead of
decoding again. :func:`prune_cache` keeps only the entries some pseudo-label table uses
(:func:`table_keys`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from common.audio.cache import AudioCache, CacheWriter
from common.data import competition as comp
from common.data.windows import SOUNDSCAPE_PREFIX
from common.stages.infer.decode import DecodedFile

__all__ = ["AudioCacher", "prune_cache", "table_keys"]

log = logging.getLogger(__name__)


class AudioCacher:
    """``on_decoded`` hook: writes decoded files missing from nb01's cache to ``cache/``.

    Keys are ``prefix`` + file name (the path relative to the competition folder). With
    ``trim_padding`` the zeros that pad a file's last window are dropped, so a cached clip is
    the decoded file (whole-clip tasks crop inside it).
    """

    def __init__(self, cache_dir: Path, sample_rate: int, skip: set[str], max_gb: float,
                 prefix: str = SOUNDSCAPE_PREFIX, trim_padding: bool = False) -> None:
        self.writer = CacheWriter(cache_dir, sample_rate, shard_mb=256.0)
        self.skip = skip
        self.prefix = prefix
        self.trim_padding = trim_padding
        self.budget = int(max_gb * 2**30) - sum(
            int(p.stat().st_size) for p in cache_dir.glob("shard_*.npy"))
        self.full = False

    def __call__(self, item: DecodedFile) -> None:
        key = self.prefix + item.path.name
        if self.full or key in self.skip or key in self.writer or item.windows is None:
            return
        wave = item.windows.reshape(-1)
        if self.trim_padding:
            wave = np.trim_zeros(wave, "b")
        if 2 * wave.size > self.budget:
            self.full = True
            log.warning("audio cache reached cache_max_gb; later files are decoded on the fly "
                        "when students train")
            return
        self.budget -= 2 * wave.size
        self.writer.add(key, wave, kind="pseudo")

    def close(self) -> None:
        self.writer.close()


def table_keys(out: Path) -> set[str]:
    """Every ``key`` of the pseudo-label tables in ``out`` (all rounds, ensemble and folds)."""
    keys: set[str] = set()
    for path in out.glob("pseudo_labels_soft*.csv"):
        keys.update(comp.read_csv_str(path)["key"].astype(str))
    return keys


def prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Rewrite ``cache_dir`` with only the entries in ``keep`` (the clips the tables use)."""
    if not (cache_dir / "index.csv").is_file():
        return
    cache = AudioCache(cache_dir)
    keys = cache.keys()
    if all(k in keep for k in keys):
        return
    tmp = cache_dir.with_name(cache_dir.name + ".pruned")
    shutil.rmtree(tmp, ignore_errors=True)
    rate = int(cache.index_df["sample_rate"].iloc[0])
    with CacheWriter(tmp, rate, shard_mb=256.0) as writer:
        for key in keys:
            if key in keep:
                entry = cache.entry(key)
                writer.add(key, np.asarray(cache.get(key)), kind=entry.kind,
                           start_seconds=entry.start_seconds)
    del cache  # closes the memory maps before the folder goes
    shutil.rmtree(cache_dir)
    tmp.rename(cache_dir)
    log.info("cache pruned to the %d pseudo-labelled clips (%d scored clips dropped)",
             sum(k in keep for k in keys), sum(k not in keep for k in keys))
