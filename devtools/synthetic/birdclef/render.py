"""Rendering the planned audio files and writing them, in worker processes.

One ``AudioJob`` per file; its rng key depends only on ``(seed, file)``, never on the worker,
so any worker count gives the same bytes. Planted corrupt files are written here too.
"""

from __future__ import annotations

import multiprocessing
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from devtools.synthetic.birdclef.calls import Call
from devtools.synthetic.birdclef.config import SAMPLE_RATE, Stream
from devtools.synthetic.birdclef.noise import Noise, db_to_amplitude, render_background
from devtools.synthetic.birdclef.ogg import encode_ogg
from devtools.synthetic.birdclef.plan import Plan
from devtools.synthetic.birdclef.voices import Voice, render_call

_TRUNCATED_SECONDS = 0.05  # length of the planted too-short clip


@dataclass(frozen=True)
class AudioJob:
    """One audio file to render and write; picklable for the worker processes."""

    path: Path
    n_samples: int
    noise: Noise
    calls: tuple[Call, ...]
    rng_key: tuple[int, ...]  # entropy for np.random.default_rng: noise and call waveforms
    peak: float | None  # normalise to this peak; None keeps absolute levels (soundscapes)
    corruption: str | None


def _render_audio(job: AudioJob, voices: Sequence[Voice]) -> np.ndarray:
    """Background plus calls, float32 of shape (job.n_samples,) in [-1, 1]."""
    rng = np.random.default_rng(list(job.rng_key))
    audio = render_background(job.n_samples, job.noise, rng)
    for call in job.calls:
        voice = voices[call.voice_index]
        wave = render_call(voice, call.time_scale, call.pitch, rng)
        wave *= db_to_amplitude(call.level_dbfs)
        start = round(call.start_seconds * SAMPLE_RATE)
        stop = min(job.n_samples, start + wave.size)
        audio[start:stop] += wave[: stop - start]
    peak = float(np.abs(audio).max())
    if job.peak is not None:
        audio *= job.peak / peak
    elif peak > 0.95:  # soundscapes keep their site level unless they would clip
        audio *= 0.95 / peak
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def write_audio_job(job: AudioJob, voices: Sequence[Voice]) -> Path:
    """Render and write one file; planted corruptions are written instead where asked."""
    try:
        serial = zlib.crc32(job.path.name.encode())
        if job.corruption == "empty":
            data = b""
        elif job.corruption == "garbage":
            # Printable bytes: no 0xFF, so no decoder mistakes them for an MPEG frame sync.
            data = np.random.default_rng(list(job.rng_key)).integers(32, 127, 4096, np.uint8)
            data = data.tobytes()
        elif job.corruption == "silent":
            data = encode_ogg(np.zeros(job.n_samples, np.float32), serial)
        elif job.corruption == "truncated":
            audio = _render_audio(job, voices)
            data = encode_ogg(audio[: round(_TRUNCATED_SECONDS * SAMPLE_RATE)], serial)
        else:
            data = encode_ogg(_render_audio(job, voices), serial)
        job.path.write_bytes(data)
    except Exception as error:  # re-raised with the file name, which pickling would lose
        raise RuntimeError(f"could not write synthetic audio {job.path}: {error!r}") from error
    return job.path


def audio_jobs(plan: Plan, competition_dir: Path, seed: int, empty_test: bool) -> list[AudioJob]:
    """One job per audio file; rng keys depend only on (seed, file), never on the worker."""
    jobs = [
        AudioJob(
            path=competition_dir / "train_audio" / clip.filename,
            n_samples=clip.n_samples,
            noise=clip.noise,
            calls=clip.calls,
            rng_key=(seed, int(Stream.FOCAL_AUDIO), n),
            peak=clip.peak,
            corruption=clip.corruption,
        )
        for n, clip in enumerate(plan.clips)
    ]
    for scape in plan.soundscapes:
        if scape.split == "test" and empty_test:
            continue
        jobs.append(
            AudioJob(
                path=competition_dir / f"{scape.split}_soundscapes" / f"{scape.stem}.ogg",
                n_samples=scape.n_samples,
                noise=scape.noise,
                calls=scape.calls,
                rng_key=(
                    seed,
                    int(Stream.SOUNDSCAPE_AUDIO),
                    int(scape.split == "test"),
                    scape.index,
                ),
                peak=None,
                corruption=None,
            )
        )
    return jobs


def default_workers() -> int:
    """Processes to render with: the CPU cores this process may use."""
    # Containers (Kaggle, CI) often allow fewer cores than os.cpu_count() reports.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_jobs(jobs: list[AudioJob], voices: tuple[Voice, ...], workers: int) -> None:
    """Write all audio files, in parallel when ``workers`` > 1, with a progress bar."""
    jobs = sorted(jobs, key=lambda j: -j.n_samples)  # long files first balances the workers
    progress = tqdm(total=len(jobs), desc="synthetic audio", unit="file")
    workers = min(workers, len(jobs))
    if workers <= 1:
        for job in jobs:
            write_audio_job(job, voices)
            progress.update()
        progress.close()
        return
    # spawn, not fork: the caller may hold threads (torch, tqdm) that fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(write_audio_job, job, voices) for job in jobs]
        try:
            for future in as_completed(futures):
                future.result()
                progress.update()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
        finally:
            progress.close()
