"""ESC-50-like environmental noise clips (5 s, 44.1 kHz mono), one renderer per category.

dog: 2-5 barks (harmonic, falling pitch, noisy); rain: hiss plus dense droplet clicks; traffic:
low rumble, engine hum and passing-car swooshes; vacuum_cleaner: a motor's harmonic whine over
loud broadband noise; crickets: 4-5 kHz pulse trains in chirps; crying_baby: arched wails with
vowel formants and gasps between them. Each clip is scaled to a random peak in [0.3, 0.9].
"""

from __future__ import annotations

import numpy as np

from devtools.synthetic.birdclef.noise import band_noise
from devtools.synthetic.mashup.config import SAMPLE_RATE
from devtools.synthetic.mashup.instruments import (
    VOWELS,
    envelope,
    harmonic_table,
    oscillator,
    place,
)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.abs(x).max()), 1e-12)


def _noise(n: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    return _unit(band_noise(n, low, high, rng, SAMPLE_RATE))


def _dog(n: int, rng: np.random.Generator) -> np.ndarray:
    out = 0.02 * _noise(n, 100, 4000, rng)
    f0 = rng.uniform(380, 900)
    for _ in range(int(rng.integers(2, 6))):
        m = int(rng.uniform(0.12, 0.3) * SAMPLE_RATE)
        freq = f0 * np.linspace(1.3, 0.8, m) * rng.uniform(0.95, 1.05)
        bark = oscillator(freq, harmonic_table(f0, 1.0, VOWELS["a"]), rng.random())
        bark = (bark + 0.6 * _noise(m, 500, 4000, rng)) * envelope(m, 0.005, 0.08)
        place(out, rng.uniform(0.0, n / SAMPLE_RATE - 0.3), bark)
    return out


def _rain(n: int, rng: np.random.Generator) -> np.ndarray:
    out = 0.3 * _noise(n, 500, 12000, rng)
    n_drops = int(rng.uniform(100, 400) * n / SAMPLE_RATE)
    drop = np.exp(-np.arange(88) / 15.0)
    positions = rng.integers(0, n - drop.size, n_drops)
    np.add.at(out, positions[:, None] + np.arange(drop.size),
              rng.standard_normal((n_drops, 1)) * drop)
    return out


def _traffic(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    out = _noise(n, 20, 400, rng)
    hum = sum(np.sin(2 * np.pi * rng.uniform(30, 90) * k * t) / k for k in (1, 2, 3))
    out += 0.4 * hum * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t))
    for _ in range(int(rng.integers(1, 4))):
        centre, width = rng.uniform(0.0, t[-1]), rng.uniform(0.4, 1.2)
        out += 0.8 * _noise(n, 200, 3000, rng) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return out


def _vacuum(n: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(150, 350)
    motor = oscillator(np.full(n, f0), harmonic_table(f0, 0.7), rng.random())
    out = 0.5 * motor + _noise(n, 800, 8000, rng)
    if rng.random() < 0.3:  # switched on during the clip
        out *= np.minimum(np.arange(n) / (SAMPLE_RATE * rng.uniform(0.3, 1.0)), 1.0)
    return out


def _crickets(n: int, rng: np.random.Generator) -> np.ndarray:
    out = 0.01 * _noise(n, 100, 8000, rng)
    for _ in range(int(rng.integers(1, 4))):
        carrier = rng.uniform(3500, 5500)
        pulse = int(rng.uniform(0.012, 0.02) * SAMPLE_RATE)
        tone = np.sin(2 * np.pi * carrier * np.arange(pulse) / SAMPLE_RATE) * np.hanning(pulse)
        pulse_gap, chirp_rate = 1.0 / rng.uniform(25, 35), rng.uniform(1.0, 3.0)
        level = rng.uniform(0.3, 1.0)
        t = rng.uniform(0.0, 1.0 / chirp_rate)
        while t < n / SAMPLE_RATE:
            for k in range(int(rng.integers(3, 6))):
                place(out, t + k * pulse_gap, level * tone)
            t += rng.uniform(0.8, 1.2) / chirp_rate
    return out


def _crying_baby(n: int, rng: np.random.Generator) -> np.ndarray:
    out = 0.01 * _noise(n, 100, 6000, rng)
    t0 = rng.uniform(0.0, 0.5)
    f0 = rng.uniform(350, 550)
    while t0 < n / SAMPLE_RATE - 0.3:
        m = int(rng.uniform(0.5, 1.5) * SAMPLE_RATE)
        arch = np.sin(np.pi * np.linspace(0, 1, m)) ** 0.5
        freq = f0 * (0.85 + 0.3 * arch) * (1 + 0.01 * rng.standard_normal(m).cumsum() / 50)
        vowel = VOWELS[str(rng.choice(["a", "e"]))]
        wail = oscillator(freq, harmonic_table(f0, 0.9, vowel), rng.random())
        place(out, t0, wail * envelope(m, 0.05, None, 0.1) * arch)
        gasp = int(0.15 * SAMPLE_RATE)
        place(out, t0 + m / SAMPLE_RATE + 0.05, 0.2 * _noise(gasp, 1000, 5000, rng)
              * envelope(gasp, 0.03, None, 0.05))
        t0 += m / SAMPLE_RATE + rng.uniform(0.25, 0.7)
    return out


NOISE_RENDERERS = {
    "dog": _dog, "rain": _rain, "traffic": _traffic, "vacuum_cleaner": _vacuum,
    "crickets": _crickets, "crying_baby": _crying_baby,
}


def render_noise(category: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One noise clip of ``category``, float32 ``(samples,)`` at 44.1 kHz, peak in [0.3, 0.9]."""
    n = int(seconds * SAMPLE_RATE)
    clip = NOISE_RENDERERS[category](n, rng)
    return (_unit(clip) * rng.uniform(0.3, 0.9)).astype(np.float32)
