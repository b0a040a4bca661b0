"""Test audio in, windows out: listing the audio files, decoding them ahead of the models.

``list_test_files`` lists a folder's audio in name order; ``decode_file`` decodes one file once
and cuts it into the task's windows; ``decode_ahead`` runs that in a thread pool a few files
ahead of the models (libsndfile releases the GIL); ``windows_from_header`` counts a file's
windows from its header alone, for files that fail to decode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.audio.io import AudioDecodeError, audio_duration, load_audio, window_frames
from common.data import competition as comp
from common.stages.infer.submission import n_windows_for

__all__ = ["AUDIO_SUFFIXES", "DecodedFile", "decode_ahead", "decode_file", "list_test_files",
           "windows_from_header"]

AUDIO_SUFFIXES = (".ogg", ".flac", ".wav", ".mp3")


def list_test_files(test_dir: str | Path, max_files: int = 0) -> list[Path]:
    """Audio files in ``test_dir`` sorted by name (a readme or nothing gives ``[]``)."""
    test_dir = Path(test_dir)
    if not test_dir.is_dir():
        return []
    files = sorted(p for p in test_dir.iterdir()
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    return files[:max_files] if max_files else files


@dataclass
class DecodedFile:
    """One test file cut into windows (or the reason it could not be)."""

    index: int
    path: Path
    windows: np.ndarray | None  # (n_windows, window_samples) float32
    error: str = ""
    decode_seconds: float = 0.0


def decode_file(index: int, path: Path, sample_rate: int, window_samples: int) -> DecodedFile:
    """Decode once and cut into consecutive windows (the last one zero-padded)."""
    start = time.perf_counter()
    try:
        wave = load_audio(path, sample_rate)
    except AudioDecodeError as err:
        return DecodedFile(index, path, None, str(err), time.perf_counter() - start)
    n = n_windows_for(len(wave), window_samples)
    return DecodedFile(index, path, window_frames(wave, window_samples, n), "",
                       time.perf_counter() - start)


def decode_ahead(paths: Sequence[Path], sample_rate: int, window_samples: int, workers: int = 1,
                 prefetch: int = 4) -> Iterator[DecodedFile]:
    """Yield decoded files in order while a thread pool decodes up to ``prefetch`` ahead.

    libsndfile releases the GIL, so decoding overlaps the model passes; the bounded queue keeps
    memory at ``prefetch`` minutes of audio. Closing the generator cancels what is queued.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode")
    pending: dict[int, Any] = {}
    try:
        for i in range(min(len(paths), max(1, prefetch))):
            pending[i] = pool.submit(decode_file, i, paths[i], sample_rate, window_samples)
        for i in range(len(paths)):
            result = pending.pop(i).result()
            nxt = i + max(1, prefetch)
            if nxt < len(paths):
                pending[nxt] = pool.submit(decode_file, nxt, paths[nxt], sample_rate,
                                           window_samples)
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def windows_from_header(path: Path, window_samples: int,
                        window_seconds: float = comp.WINDOW_SECONDS,
                        clip_seconds: float = comp.SOUNDSCAPE_SECONDS) -> int:
    """Window count from the file header alone; a full test clip (``clip_seconds``: the
    task's 60-s soundscape or 30-s clip) if even that fails."""
    try:
        seconds = audio_duration(path)
    except AudioDecodeError:
        seconds = clip_seconds
    return n_windows_for(int(round(seconds * window_samples / window_seconds)), window_samples)
