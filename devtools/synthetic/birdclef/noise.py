"""Background noise of a recording: coloured noise, gusty wind and rain, and band-limited noise.

Everything here returns float64 waveforms at ``SAMPLE_RATE`` and draws only from the generator
it is given, so a file's background is fixed by its rng key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from devtools.synthetic.birdclef.config import SAMPLE_RATE

_WIND_DECIMATION = 32  # wind is rendered at SAMPLE_RATE / 32 = 1 kHz


@dataclass(frozen=True)
class Noise:
    """Background of one recording."""

    level_dbfs: float  # RMS of the coloured noise, dB re full scale
    colour: float  # spectral exponent, power ~ 1/f**colour (1 pink, 2 brown)
    wind_db: float | None  # gusty rumble below 200 Hz, dB re level_dbfs; None = calm
    rain: tuple[float, float, float, float] | None  # (start s, end s, drops/s, dB re level)


def db_to_amplitude(db: float) -> float:
    """Amplitude ratio of a level difference in dB."""
    return 10.0 ** (db / 20.0)


def _fast_length(n_samples: int) -> int:
    # Call and clip lengths are arbitrary; a prime-length FFT is 20x slower than a smooth one.
    return scipy.fft.next_fast_len(n_samples, real=True)


def band_noise(
    n_samples: int,
    low_hz: float,
    high_hz: float,
    rng: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """White noise restricted to [low_hz, high_hz] by an FFT mask, shape (n_samples,)."""
    n_fft = _fast_length(n_samples)
    spectrum = scipy.fft.rfft(rng.standard_normal(n_fft))
    freqs = scipy.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0.0
    return scipy.fft.irfft(spectrum, n_fft)[:n_samples]


def _coloured_noise(n_samples: int, colour: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power ~ 1/f**colour, RMS 1, shape (n_samples,)."""
    n_fft = _fast_length(n_samples)
    # float32 halves the cost of the two minute-long FFTs; the noise needs no more precision.
    spectrum = scipy.fft.rfft(rng.standard_normal(n_fft, dtype=np.float32))
    freqs = scipy.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE).astype(np.float32)
    # Flat below 20 Hz and no DC: recorders high-pass there and 1/f would blow up.
    spectrum *= np.maximum(freqs, np.float32(20.0)) ** np.float32(-colour / 2.0)
    spectrum[freqs < 5.0] = 0.0
    noise = scipy.fft.irfft(spectrum, n_fft)[:n_samples].astype(np.float64)
    return noise / float(np.sqrt(np.mean(noise**2)))


def _slow_envelope(n_samples: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Random positive envelope in [0.1, 1] changing about ``rate_hz`` times a second."""
    n_knots = int(n_samples / SAMPLE_RATE * rate_hz) + 2
    knots = rng.uniform(0.1, 1.0, n_knots)
    return np.interp(np.linspace(0, n_knots - 1, n_samples), np.arange(n_knots), knots)


def _rain(
    n_samples: int, rain: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Drops as short decaying noise bursts between rain[0] and rain[1] s, RMS 1 there."""
    start_s, end_s, drops_per_second, _ = rain
    drop_len = 160  # 5 ms
    lo = int(start_s * SAMPLE_RATE)
    hi = max(lo + 1, int(end_s * SAMPLE_RATE) - drop_len)
    n_drops = max(1, int(rng.poisson(drops_per_second * (end_s - start_s))))
    positions = rng.integers(lo, hi, n_drops)
    drops = rng.standard_normal((n_drops, drop_len)) * np.exp(-np.arange(drop_len) / 30.0)
    drops *= rng.lognormal(0.0, 0.6, (n_drops, 1))
    out = np.zeros(n_samples)
    np.add.at(out, positions[:, None] + np.arange(drop_len), drops)
    span = out[lo : hi + drop_len]
    return out / max(float(np.sqrt(np.mean(span**2))), 1e-12)


def render_background(n_samples: int, noise: Noise, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise plus optional wind and rain, float64 of shape (n_samples,)."""
    level = db_to_amplitude(noise.level_dbfs)
    audio = level * _coloured_noise(n_samples, noise.colour, rng)
    if noise.wind_db is not None:
        # Wind lives below 200 Hz: synthesise it at 1 kHz and interpolate, 32x cheaper.
        n_low = n_samples // _WIND_DECIMATION + 2
        low = band_noise(n_low, 15.0, 200.0, rng, SAMPLE_RATE // _WIND_DECIMATION)
        rumble = np.interp(np.arange(n_samples) / _WIND_DECIMATION, np.arange(n_low), low)
        rumble *= _slow_envelope(n_samples, 0.3, rng) / max(float(np.std(rumble)), 1e-12)
        audio += level * db_to_amplitude(noise.wind_db) * rumble
    if noise.rain is not None:
        audio += level * db_to_amplitude(noise.rain[3]) * _rain(n_samples, noise.rain, rng)
    return audio
