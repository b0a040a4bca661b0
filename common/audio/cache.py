"""A decoded-audio cache: float16 waveforms in a few large shards plus a CSV index.

Decoding 30k OGG files every epoch starves a GPU; reading a memory-mapped float16 slice costs
microseconds. Shards are written whole and the index is appended only after a shard is on disk,
so a run that crashes or times out resumes from the last complete shard and loses nothing else.
Each entry remembers where in the source file it starts (``start_seconds``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

INDEX_NAME = "index.csv"
INDEX_COLUMNS = ["key", "kind", "shard", "offset", "length", "sample_rate", "start_seconds"]


@dataclass(frozen=True)
class CacheEntry:
    """Where one waveform lives in the cache."""

    key: str
    kind: str
    shard: str
    offset: int
    length: int
    sample_rate: int
    start_seconds: float


def read_index(cache_dir: str | Path) -> pd.DataFrame:
    """The cache index (empty with the right columns when nothing is cached yet)."""
    path = Path(cache_dir) / INDEX_NAME
    if not path.is_file():
        return pd.DataFrame(columns=INDEX_COLUMNS)
    return pd.read_csv(path, dtype={"key": str, "kind": str, "shard": str})


class CacheWriter:
    """Append waveforms to a cache folder, resuming an earlier partial run.

    Args:
        cache_dir: folder for shards and ``index.csv`` (created).
        sample_rate: rate of every waveform written, Hz.
        shard_mb: flush a shard once this many megabytes are buffered.
    """

    def __init__(self, cache_dir: str | Path, sample_rate: int, shard_mb: float = 256.0):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self.shard_bytes = int(shard_mb * 2**20)
        index = read_index(self.cache_dir)
        self.done: set[str] = set(index["key"])
        self._n_shards = index["shard"].nunique() if len(index) else 0
        self._buffer: list[tuple[str, str, np.ndarray, float]] = []
        self._buffered_bytes = 0

    def __contains__(self, key: str) -> bool:
        return key in self.done or any(k == key for k, *_ in self._buffer)

    def add(self, key: str, wave: np.ndarray, kind: str = "clip",
            start_seconds: float = 0.0) -> bool:
        """Buffer ``wave`` ((samples,) float) under ``key``; flushes a full shard to disk.

        Returns True when this call flushed a shard, i.e. everything added so far is on disk.
        """
        data = np.asarray(wave, dtype=np.float16)
        self._buffer.append((key, kind, data, float(start_seconds)))
        self._buffered_bytes += data.nbytes
        if self._buffered_bytes >= self.shard_bytes:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write buffered waveforms as one shard, then append their index rows."""
        if not self._buffer:
            return
        # A shard left by a crash before its index rows were written is orphaned: overwrite it.
        name = f"shard_{self._n_shards:05d}.npy"
        arrays = [data for _, _, data, _ in self._buffer]
        offsets = np.cumsum([0] + [len(a) for a in arrays[:-1]])
        tmp = self.cache_dir / f".{name}.tmp.npy"
        np.save(tmp, np.concatenate(arrays) if arrays else np.zeros(0, np.float16))
        os.replace(tmp, self.cache_dir / name)
        rows = pd.DataFrame([
            {"key": key, "kind": kind, "shard": name, "offset": int(off), "length": len(data),
             "sample_rate": self.sample_rate, "start_seconds": start}
            for (key, kind, data, start), off in zip(self._buffer, offsets)
        ], columns=INDEX_COLUMNS)
        index_path = self.cache_dir / INDEX_NAME
        rows.to_csv(index_path, mode="a", header=not index_path.is_file(), index=False)
        self.done.update(rows["key"])
        self._n_shards += 1
        self._buffer.clear()
        self._buffered_bytes = 0

    def close(self) -> None:
        """Flush what is left."""
        self.flush()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AudioCache:
    """Read-only access to a cache folder; shards are memory-mapped on first use.

    Safe to use from DataLoader workers: each process opens its own memory maps.
    """

    def __init__(self, cache_dir: str | Path):
        self.cache_dir = Path(cache_dir)
        if not (self.cache_dir / INDEX_NAME).is_file():
            raise FileNotFoundError(
                f"no audio cache at {self.cache_dir} (missing {INDEX_NAME}); run nb01 first"
            )
        self.index_df = read_index(self.cache_dir).drop_duplicates("key", keep="last")
        self._entries = {
            row.key: CacheEntry(row.key, row.kind, row.shard, int(row.offset), int(row.length),
                                int(row.sample_rate), float(row.start_seconds))
            for row in self.index_df.itertuples(index=False)
        }
        self._maps: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def keys(self, kind: str | None = None) -> list[str]:
        """Cached keys, optionally only those of one kind (``clip``, ``soundscape``, ...)."""
        return [k for k, e in self._entries.items() if kind is None or e.kind == kind]

    def entry(self, key: str) -> CacheEntry:
        """Index record of ``key``; KeyError names the cache folder."""
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"{key!r} is not in the audio cache at {self.cache_dir}") from None

    def get(self, key: str) -> np.ndarray:
        """The cached waveform, ``(samples,)`` float16, a read-only memory-mapped view."""
        e = self.entry(key)
        shard = self._maps.get(e.shard)
        if shard is None:
            shard = np.load(self.cache_dir / e.shard, mmap_mode="r")
            self._maps[e.shard] = shard
        return shard[e.offset:e.offset + e.length]

    def nbytes(self) -> int:
        """Total bytes of cached audio."""
        return int(self.index_df["length"].sum()) * 2
