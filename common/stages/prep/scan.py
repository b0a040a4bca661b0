"""Decode, measure and cache audio files for nb01, resumably, in worker processes.

Every task's prep hands its files to :func:`scan_and_cache` as jobs for :func:`scan_file`: each
file is decoded once, measured (duration, activity), checked (unreadable, empty, too short,
non-finite, silent files are ``bad`` with a reason) and its kept part written to the float16
cache (:class:`common.audio.cache.CacheWriter`). The records go to ``scan.csv`` only after their
audio is on disk, so a stopped run resumes from :func:`read_scan` without decoding a file twice.
Before the long decode, :func:`check_cache_budget` fails early if the cache could not be saved
as Kaggle output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from common.audio.cache import CacheWriter
from common.audio.crops import frame_activity
from common.audio.io import AudioDecodeError, audio_duration, load_audio
from common.core.parallel import warm_numba_caches
from common.data import competition as comp

log = logging.getLogger(__name__)

__all__ = ["SCAN_COLUMNS", "SCAN_NAME", "audio_durations", "bad_scan_rows", "check_cache_budget",
           "project_cache_gb", "read_scan", "scan_and_cache", "scan_file"]

SCAN_NAME = "scan.csv"
SCAN_COLUMNS = ["key", "kind", "status", "reason", "duration_seconds", "active_share",
                "best_window_start_seconds"]


# ---------------------------------------------------------------------------------------------
# Per-file work, run in worker processes.


def scan_file(path: str, key: str, kind: str, sample_rate: int, min_seconds: float,
              silence_dbfs: float, keep_seconds: float | None, region: str
              ) -> tuple[dict[str, Any], np.ndarray | None, float]:
    """Decode one file, measure it, and cut the part to cache.

    Args:
        path: the audio file; ``key``: its cache key; ``kind``: its cache kind (``clip``...).
        sample_rate: decode rate, Hz; ``min_seconds``: shorter files are bad;
        silence_dbfs: files whose RMS is below this (dBFS) are bad.
        keep_seconds: seconds to keep (``None``: the whole file, see
            :func:`common.stages.prep.config.cache_limit_seconds`).
        region: ``"start"`` keeps the first seconds, ``"active"`` those around the loudest
            window.

    Returns:
        ``(record, segment, segment_start_seconds)``: ``record`` has the ``SCAN_COLUMNS``;
        ``segment`` is ``(samples,)`` float32 at ``sample_rate``, ``None`` for bad files
        (status ``bad`` and a reason).
    """
    record: dict[str, Any] = {"key": key, "kind": kind, "status": "ok", "reason": "",
                              "duration_seconds": 0.0, "active_share": 0.0,
                              "best_window_start_seconds": 0.0}
    try:
        wave = load_audio(path, sample_rate)
    except AudioDecodeError as err:
        return {**record, "status": "bad", "reason": f"unreadable: {err.__cause__ or err}"}, None, 0
    duration = len(wave) / sample_rate
    record["duration_seconds"] = round(duration, 3)
    if len(wave) == 0:
        return {**record, "status": "bad", "reason": "empty: no audio frames"}, None, 0.0
    if duration < min_seconds:
        return {**record, "status": "bad",
                "reason": f"too short: {duration:.2f} s < {min_seconds} s"}, None, 0.0
    if not np.all(np.isfinite(wave)):
        return {**record, "status": "bad", "reason": "non-finite samples"}, None, 0.0
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(wave.astype(np.float64) ** 2)) + 1e-12)
    if rms_dbfs < silence_dbfs:
        return {**record, "status": "bad",
                "reason": f"silent: RMS {rms_dbfs:.0f} dBFS < {silence_dbfs} dBFS"}, None, 0.0
    share, best_start = frame_activity(wave, sample_rate)
    record["active_share"] = round(float(share), 4)
    record["best_window_start_seconds"] = round(float(best_start), 3)
    start = 0.0
    if keep_seconds is not None and duration > keep_seconds:
        if region == "active":
            centre = best_start + comp.WINDOW_SECONDS / 2
            start = float(np.clip(centre - keep_seconds / 2, 0.0, duration - keep_seconds))
        a = int(round(start * sample_rate))
        wave = wave[a:a + int(round(keep_seconds * sample_rate))]
    return record, wave, start


def _scan_star(args: tuple) -> tuple[dict[str, Any], np.ndarray | None, float]:
    return scan_file(*args)


def scan_and_cache(jobs: list[tuple], writer: CacheWriter, scan_path: Path, workers: int,
                   desc: str) -> None:
    """Run :func:`scan_file` over ``jobs`` in parallel, caching good files as they arrive.

    ``jobs``: :func:`scan_file` argument tuples. Scan records are appended to ``scan_path``
    only after their audio is flushed to a cache shard, so on resume a key in the scan file is
    always complete.
    """
    pending: list[dict[str, Any]] = []

    def write_pending() -> None:
        if pending:
            frame = pd.DataFrame(pending, columns=SCAN_COLUMNS)
            frame.to_csv(scan_path, mode="a", header=not scan_path.is_file(), index=False)
            pending.clear()

    if not jobs:
        return
    if workers <= 1:
        results = map(_scan_star, jobs)
        executor = None
    else:
        warm_numba_caches()  # workers decode with librosa: see common.core.parallel
        executor = ProcessPoolExecutor(max_workers=workers)
        results = executor.map(_scan_star, jobs, chunksize=4)
    try:
        for record, segment, start in tqdm(results, total=len(jobs), desc=desc, unit="file"):
            pending.append(record)
            flushed = segment is not None and writer.add(
                record["key"], segment, kind=record["kind"], start_seconds=start)
            if flushed:  # the audio of every pending record is on disk: record them
                write_pending()
        writer.flush()
        write_pending()
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def read_scan(path: Path) -> pd.DataFrame:
    """Scan records written so far (empty frame when none)."""
    if not path.is_file():
        return pd.DataFrame(columns=SCAN_COLUMNS)
    return pd.read_csv(path, dtype={"key": str, "kind": str, "status": str, "reason": str},
                       keep_default_na=False).drop_duplicates("key", keep="last")


def bad_scan_rows(scan_df: pd.DataFrame) -> list[dict[str, str]]:
    """``bad_files.csv`` rows (filename, kind, reason) of the scan records that failed."""
    bad = scan_df[scan_df["status"] != "ok"]
    return [{"filename": k, "kind": kind, "reason": r}
            for k, kind, r in zip(bad["key"], bad["kind"], bad["reason"])]


# ---------------------------------------------------------------------------------------------
# The cache budget.


def audio_durations(paths: Iterable[str | Path]) -> np.ndarray:
    """``(files,)`` durations in seconds read from the file headers; 0 for a file that does not
    decode (the scan lists it as bad, and it takes no cache)."""
    durations = []
    for path in paths:
        try:
            durations.append(audio_duration(path))
        except AudioDecodeError:
            durations.append(0.0)
    return np.asarray(durations, dtype=float)


def project_cache_gb(durations: np.ndarray, keep_seconds: float | None, sample_rate: int
                     ) -> float:
    """Size of a float16 cache of ``min(duration, keep_seconds)`` per clip, in GB.

    ``durations``: ``(files,)`` seconds; ``keep_seconds``: ``None`` keeps whole files.
    """
    limit = float("inf") if keep_seconds is None else keep_seconds
    kept = np.minimum(np.asarray(durations, dtype=float), limit)
    return float(kept.sum() * sample_rate * 2 / 1e9)


def check_cache_budget(projected_gb: float, max_cache_gb: float, what: str, fix: str) -> None:
    """Fail before hours of decoding if the output could not be saved (Kaggle: 20 GB).

    Raises ``ValueError`` ``"<what> would take <projected_gb> GB, over max_cache_gb=...: <fix>
    or raise --max-cache-gb..."`` when ``projected_gb > max_cache_gb``.
    """
    if projected_gb > max_cache_gb:
        raise ValueError(
            f"{what} would take {projected_gb:.1f} GB, over max_cache_gb={max_cache_gb}: "
            f"{fix} or raise --max-cache-gb if your output allows it")
