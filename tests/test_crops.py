"""Tests for common.audio.crops: padding, random and energy crops, the dispatcher, frame
activity."""

from __future__ import annotations

import numpy as np
import pytest

from common.audio.crops import (
    crop_clip,
    energy_crop,
    frame_activity,
    pad_by_repetition,
    random_crop,
)

SR = 8000  # a low rate keeps the arrays small; every function takes the rate as an argument
WINDOW = 5 * SR
FRAME = int(0.025 * SR)


def _noise_floor(seconds: float, seed: int = 0, level: float = 1e-4) -> np.ndarray:
    """Faint continuous noise: every sample value is unique, so a crop can be located."""
    return level * np.random.default_rng(seed).standard_normal(int(seconds * SR))


def _add_burst(wave: np.ndarray, centre_seconds: float, seconds: float = 1.0,
               amplitude: float = 0.5) -> np.ndarray:
    """Add a Hann-windowed 2 kHz tone: symmetric envelope, single energy peak at its centre."""
    n = int(seconds * SR)
    start = int(centre_seconds * SR) - n // 2
    t = np.arange(n) / SR
    wave = wave.copy()
    wave[start:start + n] += amplitude * np.hanning(n) * np.sin(2 * np.pi * 2000 * t)
    return wave


def _start_of(crop: np.ndarray, wave: np.ndarray) -> int:
    """Where ``crop`` starts inside ``wave`` (values are unique), checking it is a true slice."""
    hits = np.flatnonzero(wave == crop[0])
    assert hits.size == 1
    start = int(hits[0])
    np.testing.assert_array_equal(crop, wave[start:start + crop.size])
    return start


# ---------------------------------------------------------------------------------------------
# pad_by_repetition


def test_pad_by_repetition_tiles_and_keeps_dtype() -> None:
    wave = np.array([1, 2, 3], dtype=np.float16)
    out = pad_by_repetition(wave, 8)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, np.array([1, 2, 3, 1, 2, 3, 1, 2], dtype=np.float16))


def test_pad_by_repetition_long_clip_is_truncated() -> None:
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(pad_by_repetition(wave, 4), wave[:4])


@pytest.mark.parametrize("func", [
    lambda w: pad_by_repetition(w, 10),
    lambda w: random_crop(w, 10, np.random.default_rng(0)),
    lambda w: energy_crop(w, 10, SR, np.random.default_rng(0)),
    lambda w: crop_clip(w, 10, SR, np.random.default_rng(0), mode="start"),
])
def test_empty_wave_raises_clear_error(func) -> None:
    with pytest.raises(ValueError, match="empty"):
        func(np.zeros(0, dtype=np.float32))


def test_two_dimensional_wave_raises() -> None:
    with pytest.raises(ValueError, match="mono"):
        pad_by_repetition(np.zeros((2, 10), dtype=np.float32), 20)


# ---------------------------------------------------------------------------------------------
# random_crop


def test_random_crop_is_a_slice_and_covers_the_clip() -> None:
    wave = _noise_floor(12.0)
    starts = [_start_of(random_crop(wave, WINDOW, np.random.default_rng(seed)), wave)
              for seed in range(40)]
    assert all(0 <= s <= wave.size - WINDOW for s in starts)
    # Uniform over 7 s of possible starts: 40 draws spread over most of it.
    assert max(starts) - min(starts) > 4 * SR


def test_random_crop_is_deterministic_and_pads_short_clips() -> None:
    wave = _noise_floor(12.0)
    a = random_crop(wave, WINDOW, np.random.default_rng(7))
    b = random_crop(wave, WINDOW, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    short = _noise_floor(2.0)
    out = random_crop(short, WINDOW, np.random.default_rng(0))
    np.testing.assert_array_equal(out, pad_by_repetition(short, WINDOW))


# ---------------------------------------------------------------------------------------------
# energy_crop


def test_energy_crop_centres_on_burst_in_silence_without_jitter() -> None:
    burst_centre = 21.3
    wave = _add_burst(_noise_floor(30.0), burst_centre)
    starts = {_start_of(energy_crop(wave, WINDOW, SR, np.random.default_rng(seed),
                                    jitter_seconds=0.0), wave)
              for seed in range(5)}
    assert len(starts) == 1  # no jitter and a single candidate: no randomness left
    (start,) = starts
    crop_centre = start + WINDOW // 2
    assert abs(crop_centre - burst_centre * SR) <= FRAME
    # The whole 1 s burst lies inside the window.
    assert start <= (burst_centre - 0.5) * SR and (burst_centre + 0.5) * SR <= start + WINDOW


def test_energy_crop_jitter_stays_within_bounds_and_keeps_the_burst() -> None:
    burst_centre = 14.0
    wave = _add_burst(_noise_floor(30.0), burst_centre)
    centred = burst_centre * SR - WINDOW // 2
    offsets = []
    for seed in range(60):
        crop = energy_crop(wave, WINDOW, SR, np.random.default_rng(seed), jitter_seconds=1.0)
        start = _start_of(crop, wave)
        offsets.append(start - centred)
        assert start <= (burst_centre - 0.5) * SR and (burst_centre + 0.5) * SR <= start + WINDOW
    offsets = np.array(offsets)
    assert np.all(np.abs(offsets) <= 1.0 * SR + FRAME)
    assert offsets.min() < -0.3 * SR and offsets.max() > 0.3 * SR  # jitter in both directions


@pytest.mark.parametrize("burst_centre, expected_start", [(0.6, 0), (29.4, 30 * SR - WINDOW)])
def test_energy_crop_clamps_to_the_clip(burst_centre: float, expected_start: int) -> None:
    wave = _add_burst(_noise_floor(30.0), burst_centre)
    for seed in range(10):
        crop = energy_crop(wave, WINDOW, SR, np.random.default_rng(seed), jitter_seconds=1.0)
        assert crop.size == WINDOW
        assert _start_of(crop, wave) == expected_start


def test_energy_crop_draws_among_loud_calls_only() -> None:
    wave = _add_burst(_noise_floor(40.0), 6.0)  # loud call
    wave = _add_burst(wave, 20.0, amplitude=0.45)  # 1 dB quieter: still a candidate
    wave = _add_burst(wave, 33.0, amplitude=0.05)  # 20 dB quieter: not a candidate
    centres = []
    for seed in range(40):
        crop = energy_crop(wave, WINDOW, SR, np.random.default_rng(seed), jitter_seconds=0.0)
        centres.append((_start_of(crop, wave) + WINDOW // 2) / SR)
    picked = {round(c) for c in centres}
    assert picked == {6, 20}
    only_loudest = energy_crop(wave, WINDOW, SR, np.random.default_rng(0), jitter_seconds=0.0,
                               n_candidates=1)
    assert abs(_start_of(only_loudest, wave) + WINDOW // 2 - 6.0 * SR) <= FRAME


def test_energy_crop_prefers_a_call_over_a_louder_click() -> None:
    # A 10 ms click has the loudest frame, but over the 0.5 s smoothing the 1 s call carries more
    # energy: the crop must follow the call (the smoothing is what makes this work).
    wave = _add_burst(_noise_floor(30.0), 8.0, amplitude=0.4)
    wave[int(22.0 * SR): int(22.01 * SR)] += 1.0
    crop = energy_crop(wave, WINDOW, SR, np.random.default_rng(0), jitter_seconds=0.0,
                       n_candidates=1)
    assert abs(_start_of(crop, wave) + WINDOW // 2 - 8.0 * SR) <= FRAME


def test_energy_crop_is_deterministic_and_keeps_float16() -> None:
    wave = _add_burst(_noise_floor(30.0), 12.0).astype(np.float16)
    a = energy_crop(wave, WINDOW, SR, np.random.default_rng(3))
    b = energy_crop(wave, WINDOW, SR, np.random.default_rng(3))
    assert a.dtype == np.float16 and a.shape == (WINDOW,)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# crop_clip


def test_crop_clip_dispatches_by_mode() -> None:
    wave = _add_burst(_noise_floor(30.0), 21.0)
    np.testing.assert_array_equal(
        crop_clip(wave, WINDOW, SR, np.random.default_rng(1), mode="start"), wave[:WINDOW])
    np.testing.assert_array_equal(
        crop_clip(wave, WINDOW, SR, np.random.default_rng(1), mode="random"),
        random_crop(wave, WINDOW, np.random.default_rng(1)))
    np.testing.assert_array_equal(
        crop_clip(wave, WINDOW, SR, np.random.default_rng(1)),
        energy_crop(wave, WINDOW, SR, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="unknown crop mode"):
        crop_clip(wave, WINDOW, SR, np.random.default_rng(1), mode="middle")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["energy", "random", "start"])
def test_crop_clip_pads_short_clips_by_repetition(mode: str) -> None:
    short = _noise_floor(1.5).astype(np.float32)
    out = crop_clip(short, WINDOW, SR, np.random.default_rng(0), mode=mode)  # type: ignore[arg-type]
    assert out.shape == (WINDOW,) and out.dtype == np.float32
    np.testing.assert_array_equal(out[: short.size], short)
    np.testing.assert_array_equal(out[short.size: 2 * short.size], short)


# ---------------------------------------------------------------------------------------------
# frame_activity


def test_frame_activity_of_silence_and_tone() -> None:
    wave = _noise_floor(10.0, level=1e-5)
    t = np.arange(2 * SR) / SR
    wave[6 * SR: 8 * SR] += 0.5 * np.sin(2 * np.pi * 1000 * t)
    share, start = frame_activity(wave, SR)
    assert share == pytest.approx(0.2, abs=1.5 / 400)  # 2 s of 10 s, within a frame
    # Windows starting anywhere in [3 s, 5 s] hold the whole tone and fit in the 10 s clip; the
    # middle one is reported.
    assert start == pytest.approx(4.0, abs=0.025)


def test_frame_activity_of_digital_silence_and_short_clips() -> None:
    result = frame_activity(np.zeros(3 * SR, dtype=np.float32), SR)
    assert result.active_share == 0.0 and result.best_window_start_seconds == 0.0
    wave = _noise_floor(3.0, level=1e-5)
    wave[SR: 2 * SR] += 0.3
    share, start = frame_activity(wave, SR)  # shorter than the 5 s window
    assert share == pytest.approx(1 / 3, abs=1.5 / 120) and start == 0.0
