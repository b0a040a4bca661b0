"""Choosing the training window inside a focal clip (numpy, one clip at a time, in the loader).

Training clips are focal recordings of 1 s to several minutes, but the model sees a fixed window
(5 s at 32 kHz = 160000 samples). The clip's labels are only true where the bird calls, and focal
clips often hold long stretches of silence or wind between calls: a uniform random crop of a 60 s
clip with three short calls is mostly a window labelled "bird" that holds no bird. The energy crop
centres the window on the loudest smoothed stretch instead, with a little jitter so the model does
not learn that calls sit in the middle of the window.

This is the only per-sample CPU work the loader does (a slice, plus one RMS envelope for the
energy crop); everything else augments whole batches on the GPU (:mod:`common.audio.augment`).

``frame_activity`` is the same energy measure summarised once per clip during data preparation
(share of active frames, start of the most active window), so the prep report can flag clips that
are mostly silence.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

CropMode = Literal["energy", "random", "start"]
CROP_MODES: tuple[str, ...] = ("energy", "random", "start")

# Below this power (about -100 dBFS) a frame counts as digital silence in dB conversions.
_POWER_FLOOR = 1e-10


def _check_wave(wave: np.ndarray, length: int) -> None:
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (samples,), got shape {wave.shape}")
    if wave.size == 0:
        raise ValueError("cannot crop or pad an empty waveform (0 samples); drop the clip in prep")
    if length <= 0:
        raise ValueError(f"crop length must be a positive number of samples, got {length}")


def pad_by_repetition(wave: np.ndarray, length: int) -> np.ndarray:
    """Tile a short clip until it fills ``length`` samples.

    Repetition rather than zero padding: a 2 s call padded with 3 s of digital silence teaches the
    model that silence is part of the species, and silence never occurs in soundscapes.

    Args:
        wave: ``(samples,)`` any float dtype, at least one sample.
        length: output length in samples.

    Returns:
        ``(length,)`` same dtype; the first ``length`` samples when ``wave`` is already longer.

    Raises:
        ValueError: ``wave`` is empty or not 1-D, or ``length`` is not positive.
    """
    _check_wave(wave, length)
    if wave.size >= length:
        return wave[:length]
    reps = -(-length // wave.size)  # ceil division
    return np.tile(wave, reps)[:length]


def random_crop(wave: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A window of ``length`` samples at a uniform random start (short clips are repeated).

    Args:
        wave: ``(samples,)``.
        length: window length in samples.
        rng: numpy generator (the loader's per-worker generator).

    Returns:
        ``(length,)`` same dtype; a view of ``wave`` when it is long enough (copy before writing).
    """
    _check_wave(wave, length)
    if wave.size <= length:
        return pad_by_repetition(wave, length)
    start = int(rng.integers(0, wave.size - length + 1))
    return wave[start:start + length]


def _frame_power(wave: np.ndarray, frame_length: int) -> np.ndarray:
    """Mean power of consecutive non-overlapping frames, ``(n_frames,)`` float64.

    The last partial frame is dropped; a clip shorter than one frame is a single frame. Computed
    in float64 because the cache stores float16, whose squares lose precision when summed.
    """
    frame_length = max(1, min(frame_length, wave.size))
    n_frames = wave.size // frame_length
    frames = wave[: n_frames * frame_length].reshape(n_frames, frame_length)
    return np.mean(np.square(frames, dtype=np.float64), axis=1)


def _moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of width ``width`` (same length, edges averaged over fewer values)."""
    width = max(1, min(width, values.size))
    if width == 1:
        return values
    kernel = np.ones(width)
    total = np.convolve(values, kernel, mode="same")
    count = np.convolve(np.ones_like(values), kernel, mode="same")
    return total / count


def _candidate_peaks(envelope: np.ndarray, exclusion: int, n_candidates: int,
                     candidate_db: float) -> list[int]:
    """Indices of up to ``n_candidates`` envelope peaks, greedily, at least ``exclusion`` apart.

    Peaks more than ``candidate_db`` below the highest one are dropped, so a single call in a
    silent clip yields a single candidate.
    """
    env = envelope.copy()
    floor = envelope.max() * 10.0 ** (-candidate_db / 10.0)
    peaks: list[int] = []
    for _ in range(n_candidates):
        index = int(np.argmax(env))
        if env[index] < floor or env[index] < 0:
            break
        peaks.append(index)
        env[max(0, index - exclusion): index + exclusion + 1] = -1.0
    return peaks


def energy_crop(
    wave: np.ndarray,
    length: int,
    sample_rate: int,
    rng: np.random.Generator,
    smooth_seconds: float = 0.5,
    jitter_seconds: float = 1.0,
    *,
    frame_seconds: float = 0.025,
    n_candidates: int = 3,
    candidate_db: float = 6.0,
) -> np.ndarray:
    """A window centred on a loud stretch of the clip, with random jitter.

    Focal clips have long silences and the label is only true where the bird calls, so the window
    is placed where the energy is: the frame power (``frame_seconds`` frames) is smoothed with a
    ``smooth_seconds`` moving average (one click is not a call), up to ``n_candidates`` peaks at
    least half a window apart and within ``candidate_db`` dB of the loudest are found, one is drawn
    uniformly (so a clip with several calls does not always give the same window), and the window
    is centred on it, shifted by uniform jitter in ``[-jitter_seconds, +jitter_seconds]`` and
    clamped to the clip.

    Args:
        wave: ``(samples,)``; clips not longer than ``length`` are padded by repetition.
        length: window length in samples.
        sample_rate: Hz.
        rng: numpy generator.
        smooth_seconds: moving-average width of the power envelope, seconds.
        jitter_seconds: maximum shift of the window centre away from the peak, seconds.
        frame_seconds: frame length of the power envelope, seconds.
        n_candidates: number of peaks drawn among (1 = always the loudest).
        candidate_db: peaks this many dB below the loudest are not candidates.

    Returns:
        ``(length,)`` same dtype; a view of ``wave`` when it is long enough.
    """
    _check_wave(wave, length)
    if wave.size <= length:
        return pad_by_repetition(wave, length)
    frame_length = max(1, int(round(frame_seconds * sample_rate)))
    power = _frame_power(wave, frame_length)
    envelope = _moving_average(power, int(round(smooth_seconds * sample_rate / frame_length)))
    exclusion = max(1, length // (2 * frame_length))
    peaks = _candidate_peaks(envelope, exclusion, max(1, n_candidates), candidate_db)
    peak = peaks[int(rng.integers(0, len(peaks)))] if len(peaks) > 1 else peaks[0]
    centre = peak * frame_length + frame_length // 2
    jitter = int(round(jitter_seconds * sample_rate))
    if jitter > 0:
        centre += int(rng.integers(-jitter, jitter + 1))
    start = int(np.clip(centre - length // 2, 0, wave.size - length))
    return wave[start:start + length]


def crop_clip(
    wave: np.ndarray,
    length: int,
    sample_rate: int,
    rng: np.random.Generator,
    mode: CropMode = "energy",
) -> np.ndarray:
    """The loader's entry point: pad a short clip by repetition, crop a long one by ``mode``.

    Args:
        wave: ``(samples,)``.
        length: window length in samples (``clip_seconds * sample_rate``).
        sample_rate: Hz.
        rng: numpy generator.
        mode: ``"energy"`` (training default, :func:`energy_crop`), ``"random"`` (uniform start)
            or ``"start"`` (the first ``length`` samples: deterministic, for validation).

    Returns:
        ``(length,)`` same dtype as ``wave``.
    """
    if mode == "energy":
        return energy_crop(wave, length, sample_rate, rng)
    if mode == "random":
        return random_crop(wave, length, rng)
    if mode == "start":
        return pad_by_repetition(wave, length)
    raise ValueError(f"unknown crop mode {mode!r}; choose one of {', '.join(CROP_MODES)}")


class FrameActivity(NamedTuple):
    """A clip's energy activity; a plain tuple: ``share, start = frame_activity(...)``."""

    active_share: float  # share of frames above the adaptive threshold, in [0, 1]
    best_window_start_seconds: float  # start of the window with the most active frames, seconds


def frame_activity(
    wave: np.ndarray,
    sample_rate: int,
    frame_seconds: float = 0.025,
    threshold_db: float = 10.0,
    window_seconds: float = 5.0,
    floor_percentile: float = 20.0,
) -> FrameActivity:
    """Energy voice-activity of a clip: how much of it is active, and where its busiest window is.

    A frame is active when its power is more than ``threshold_db`` above the clip's noise floor,
    estimated as the ``floor_percentile`` percentile of frame powers in dB. The threshold adapts to
    each recording's gain and background, which vary by 40 dB across xeno-canto. Consequence: a
    clip at a constant level throughout (steady noise, or one call filling the whole clip) has no
    frame above its own floor and reads as 0 activity.

    Args:
        wave: ``(samples,)``.
        sample_rate: Hz.
        frame_seconds: analysis frame length, seconds (non-overlapping frames).
        threshold_db: dB above the noise floor for a frame to be active.
        window_seconds: length of the window whose start is reported, seconds.
        floor_percentile: percentile of frame powers taken as the noise floor.

    Returns:
        ``FrameActivity(active_share, best_window_start_seconds)``. Among windows tied for the
        most active frames the middle one of the first tied run is reported, which centres the
        window on a call shorter than the window. 0.0 for clips shorter than the window.
    """
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a non-empty (samples,) waveform, got shape {wave.shape}")
    frame_length = max(1, int(round(frame_seconds * sample_rate)))
    power_db = 10.0 * np.log10(_frame_power(wave, frame_length) + _POWER_FLOOR)
    floor_db = np.percentile(power_db, floor_percentile)
    active = power_db > floor_db + threshold_db
    share = float(active.mean())
    window_frames = max(1, int(round(window_seconds * sample_rate / frame_length)))
    if active.size <= window_frames or not active.any():
        return FrameActivity(share, 0.0)
    counts = np.convolve(active.astype(np.int64), np.ones(window_frames, np.int64), mode="valid")
    best = np.flatnonzero(counts == counts.max())
    # The first run of consecutive tied starts, then its middle.
    run_end = np.flatnonzero(np.diff(best) > 1)
    first_run = best[: run_end[0] + 1] if run_end.size else best
    start_frame = int(first_run[len(first_run) // 2])
    return FrameActivity(share, start_frame * frame_length / sample_rate)
