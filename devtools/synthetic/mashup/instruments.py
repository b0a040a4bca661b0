"""The four stems of a synthetic song, rendered mono at 44.1 kHz from a :class:`SongPlan`.

- drums: a kit of synthetic hits (pitch-swept kick, noise snare, hats, ride, clap, rim, brush,
  timpani) placed on a 16-step grid by a named pattern, with swing and humanised timing;
- bass: plucked or bowed harmonic tones following the chord roots in a style (root, root-fifth,
  walking, octave, sub, pedal, arco);
- other: chords (guitars, keys, strings) voiced around C3-B4 in a style (pad, strum, skank, stab,
  chug, arpeggio, comp), with the genre's brightness (harmonic roll-off) and distortion;
- vocals: a formant-shaped harmonic voice (vowels a/e/i/o/u, vibrato) singing scale melodies,
  rapping 16th-note syllables, singing opera or growling, in some bars only.

Tones come from a wavetable per note (one cycle with the note's harmonics below 12 kHz, so
nothing aliases), read at the note's instantaneous frequency: cheap whatever the harmonic count.
"""

from __future__ import annotations

import math

import numpy as np

from devtools.synthetic.birdclef.noise import band_noise
from devtools.synthetic.mashup.config import SAMPLE_RATE
from devtools.synthetic.mashup.styles import CHORD_QUALITIES, SCALES, SongPlan

_TABLE = 2048  # wavetable length, samples per cycle
_MAX_PARTIAL_HZ = 12_000.0

# (instrument, steps of a 16-step bar, velocity, probability per bar)
DRUM_PATTERNS: dict[str, tuple[tuple[str, tuple[int, ...], float, float], ...]] = {
    "backbeat": (("kick", (0, 8), 1.0, 1.0), ("kick", (10,), 0.8, 0.5), ("kick", (6,), 0.7, 0.2),
                 ("snare", (4, 12), 1.0, 1.0), ("hat", tuple(range(0, 16, 2)), 0.6, 1.0)),
    "four_floor": (("kick", (0, 4, 8, 12), 1.0, 1.0), ("clap", (4, 12), 0.9, 1.0),
                   ("open_hat", (2, 6, 10, 14), 0.7, 1.0), ("hat", tuple(range(16)), 0.35, 0.5)),
    "shuffle": (("kick", (0, 8), 1.0, 1.0), ("kick", (14,), 0.6, 0.3), ("snare", (4, 12), 0.9, 1.0),
                ("hat", tuple(range(0, 16, 2)), 0.6, 1.0)),
    "boom_bap": (("kick", (0, 10), 1.0, 1.0), ("kick", (7,), 0.8, 0.7),
                 ("snare", (4, 12), 1.0, 1.0), ("snare", (14,), 0.3, 0.2),
                 ("hat", tuple(range(0, 16, 2)), 0.5, 1.0)),
    "halftime": (("kick", (0,), 1.0, 1.0), ("kick", (6, 11), 0.7, 0.4), ("snare", (8,), 1.0, 1.0),
                 ("hat", tuple(range(0, 16, 2)), 0.5, 1.0)),
    "one_drop": (("kick", (8,), 1.0, 1.0), ("rim", (8,), 0.9, 1.0),
                 ("hat", tuple(range(0, 16, 2)), 0.5, 1.0), ("hat", (3, 11), 0.3, 0.3)),
    "double_kick": (("kick", tuple(range(16)), 0.8, 1.0), ("snare", (4, 12), 1.0, 1.0),
                    ("ride", tuple(range(0, 16, 2)), 0.6, 1.0)),
    "train": (("kick", (0, 8), 1.0, 1.0), ("brush", tuple(range(16)), 0.4, 1.0),
              ("snare", (4, 12), 0.8, 1.0)),
    "ride_swing": (("ride", (0, 4, 6, 8, 12, 14), 0.7, 1.0), ("hat", (4, 12), 0.4, 1.0),
                   ("kick", (0,), 0.4, 0.3), ("snare", (2, 6, 10, 14), 0.25, 0.15)),
    "none": (("timpani", (0,), 0.8, 0.3),),
}
VOWELS = {  # (formant Hz, bandwidth Hz, gain) x 3
    "a": ((800, 80, 1.0), (1200, 90, 0.6), (2500, 120, 0.25)),
    "e": ((400, 60, 1.0), (2000, 100, 0.5), (2600, 120, 0.3)),
    "i": ((300, 50, 1.0), (2300, 100, 0.4), (3000, 150, 0.3)),
    "o": ((500, 70, 1.0), (900, 80, 0.6), (2400, 120, 0.15)),
    "u": ((350, 60, 1.0), (800, 80, 0.4), (2300, 120, 0.1)),
}


def midi_hz(midi: float) -> float:
    """Frequency of a MIDI note number, Hz (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def harmonic_table(f0_hz: float, rolloff: float,
                   formants: tuple[tuple[float, float, float], ...] = ()) -> np.ndarray:
    """One cycle, ``(_TABLE,)`` peak 1: partials k ~ k**-rolloff, shaped by formant peaks."""
    k = np.arange(1, max(1, min(48, int(_MAX_PARTIAL_HZ / f0_hz))) + 1, dtype=float)
    amp = k**-rolloff
    if formants:
        shape = sum(g * np.exp(-0.5 * ((k * f0_hz - f) / max(bw, 0.6 * f0_hz)) ** 2)
                    for f, bw, g in formants)
        amp = amp * (shape + 0.02)
    phase = np.arange(_TABLE) / _TABLE
    table = np.sin(2.0 * np.pi * np.outer(phase, k)) @ amp
    return table / max(float(np.abs(table).max()), 1e-12)


def oscillator(freq_hz: np.ndarray, table: np.ndarray, phase0: float = 0.0) -> np.ndarray:
    """Read ``table`` at the instantaneous frequency ``freq_hz`` (Hz, one per sample)."""
    phase = phase0 + np.cumsum(freq_hz) / SAMPLE_RATE
    index = ((phase % 1.0) * _TABLE).astype(np.int64)
    return table[np.minimum(index, _TABLE - 1)]


def envelope(n: int, attack_s: float, tau_s: float | None = None,
             release_s: float = 0.02) -> np.ndarray:
    """Linear attack, optional exponential decay (time constant ``tau_s``), linear release."""
    t = np.arange(n) / SAMPLE_RATE
    env = np.minimum(t / max(attack_s, 1e-4), 1.0)
    if tau_s is not None:
        env = env * np.exp(-t / tau_s)
    n_release = min(n, int(release_s * SAMPLE_RATE))
    if n_release:
        env[n - n_release:] *= np.linspace(1.0, 0.0, n_release)
    return env


def place(out: np.ndarray, start_s: float, wave: np.ndarray) -> None:
    """Add ``wave`` into ``out`` from ``start_s`` seconds, cut at both ends."""
    start = int(round(start_s * SAMPLE_RATE))
    if start >= out.size or start + wave.size <= 0:
        return
    a, b = max(start, 0), min(start + wave.size, out.size)
    out[a:b] += wave[a - start:b - start]


def _note(f0_hz: float, seconds: float, table: np.ndarray, attack_s: float,
          tau_s: float | None, vibrato: tuple[float, float] = (0.0, 0.0),
          rng: np.random.Generator | None = None) -> np.ndarray:
    n = max(1, int(seconds * SAMPLE_RATE))
    freq = np.full(n, f0_hz)
    rate, depth = vibrato
    if depth:
        t = np.arange(n) / SAMPLE_RATE
        freq = freq * (1.0 + depth * np.sin(2.0 * np.pi * rate * t) * np.minimum(t / 0.3, 1.0))
    phase0 = float(rng.random()) if rng is not None else 0.0
    return oscillator(freq, table, phase0) * envelope(n, attack_s, tau_s)


def _step_time(index: int, step_s: float, swing: float) -> float:
    """Onset of 16th-step ``index``: off-beat 8ths delayed by ``swing`` of an 8th."""
    t = index * step_s
    within = index % 4
    if within == 2:
        t += swing * 2.0 * step_s
    elif within in (1, 3):
        t += swing * step_s
    return t


# ---------------------------------------------------------------------------------------------
# Drums.


def drum_kit(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One song's drum sounds (each drawn once, so a song's kit is consistent)."""

    def hit(seconds: float) -> tuple[int, np.ndarray]:
        n = int(seconds * SAMPLE_RATE)
        return n, np.arange(n) / SAMPLE_RATE

    kit: dict[str, np.ndarray] = {}
    n, t = hit(0.4)
    f_hi, f_lo, sweep = rng.uniform(110, 180), rng.uniform(40, 62), rng.uniform(0.02, 0.05)
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / rng.uniform(0.1, 0.25))
    click = band_noise(n, 1000, 6000, rng, SAMPLE_RATE) * np.exp(-t / 0.002)
    kit["kick"] = body + 0.3 * click / (np.abs(click).max() + 1e-12)
    n, t = hit(0.35)
    tone = np.sin(2 * np.pi * rng.uniform(170, 250) * t) * np.exp(-t / 0.05)
    rattle = band_noise(n, rng.uniform(800, 1500), rng.uniform(6000, 9000), rng, SAMPLE_RATE)
    rattle = rattle / (np.abs(rattle).max() + 1e-12) * np.exp(-t / rng.uniform(0.05, 0.14))
    kit["snare"] = 0.6 * tone + rattle
    for name, tau in (("hat", rng.uniform(0.015, 0.035)), ("open_hat", rng.uniform(0.12, 0.25))):
        n, t = hit(min(6 * tau, 0.8))
        noise = band_noise(n, 6000, 15000, rng, SAMPLE_RATE)
        kit[name] = noise / (np.abs(noise).max() + 1e-12) * np.exp(-t / tau)
    n, t = hit(1.2)
    partials = rng.uniform(3000, 9000, 6)
    ring = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in partials) / 6.0
    shimmer = band_noise(n, 5000, 14000, rng, SAMPLE_RATE)
    kit["ride"] = (ring + 0.5 * shimmer / (np.abs(shimmer).max() + 1e-12)) * np.exp(
        -t / rng.uniform(0.3, 0.7))
    n, t = hit(0.25)
    burst = band_noise(n, 900, 4500, rng, SAMPLE_RATE)
    burst = burst / (np.abs(burst).max() + 1e-12)
    claps = sum(np.where(t >= d, np.exp(-(t - d) / 0.008), 0.0) for d in (0.0, 0.011, 0.022))
    kit["clap"] = burst * (claps + 0.6 * np.exp(-np.maximum(t - 0.03, 0) / 0.07) * (t >= 0.03))
    n, t = hit(0.1)
    kit["rim"] = (np.sin(2 * np.pi * rng.uniform(1500, 2100) * t)
                  + 0.5 * band_noise(n, 2000, 7000, rng, SAMPLE_RATE) * 8) * np.exp(-t / 0.015)
    n, t = hit(0.3)
    brush = band_noise(n, 2000, 9000, rng, SAMPLE_RATE)
    kit["brush"] = brush / (np.abs(brush).max() + 1e-12) * envelope(n, 0.01, 0.06)
    n, t = hit(1.5)
    f0 = rng.uniform(70, 110)
    kit["timpani"] = sum(a * np.sin(2 * np.pi * f0 * r * t) for r, a in
                         ((1.0, 1.0), (1.5, 0.5), (1.98, 0.35))) * np.exp(-t / 0.6)
    return {name: wave / max(float(np.abs(wave).max()), 1e-12) for name, wave in kit.items()}


def render_drums(plan: SongPlan, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The drums stem, mono ``(n_samples,)``, peak 1 (or silence for an empty pattern)."""
    out = np.zeros(n_samples)
    kit = drum_kit(rng)
    step_s = 60.0 / plan.tempo_bpm / 4.0
    n_bars = int(math.ceil(n_samples / SAMPLE_RATE / (16 * step_s)))
    for bar in range(n_bars):
        for instrument, steps, velocity, probability in DRUM_PATTERNS[plan.drum_pattern]:
            if rng.random() > probability:
                continue
            for step in steps:
                t = _step_time(bar * 16 + step, step_s, plan.swing) + rng.normal(0.0, 0.004)
                place(out, max(t, 0.0), kit[instrument] * velocity * rng.uniform(0.85, 1.05))
    return out


# ---------------------------------------------------------------------------------------------
# Harmony: bass and chords.


def _chord(plan: SongPlan, bar: int) -> tuple[int, tuple[int, ...]]:
    """(pitch class of the chord root, intervals) of ``bar``."""
    offset, quality = plan.progression[bar % len(plan.progression)]
    return (plan.key_root + offset) % 12, CHORD_QUALITIES[quality]


def bass_notes(plan: SongPlan, n_bars: int, rng: np.random.Generator
               ) -> list[tuple[float, float, int, float]]:
    """``(start beat, length in beats, MIDI note, velocity)`` of the bass line."""
    notes: list[tuple[float, float, int, float]] = []
    for bar in range(n_bars):
        pc, intervals = _chord(plan, bar)
        root = plan.bass_root_midi + (pc - plan.bass_root_midi) % 12
        b = bar * 4.0
        style = plan.bass_style
        if style == "root":
            notes += [(b + k, 0.9, root, 1.0) for k in range(4)]
        elif style == "root_fifth":
            notes += [(b + k, 0.9, root + (0 if k % 2 == 0 else 7), 1.0) for k in range(4)]
        elif style == "walking":
            next_pc, _ = _chord(plan, bar + 1)
            next_root = plan.bass_root_midi + (next_pc - plan.bass_root_midi) % 12
            tones = [root, root + int(rng.choice(intervals[1:])), root + int(rng.choice(
                intervals)), next_root + int(rng.choice([-1, 1]))]
            notes += [(b + k, 0.95, tones[k], 1.0) for k in range(4)]
        elif style == "octave":
            notes += [(b + k / 2, 0.4, root + 12 * (k % 2), 1.0) for k in range(8)]
        elif style == "sub":
            notes += [(b, 1.9, root, 1.0), (b + 2, 1.9, root, 0.9)]
        elif style == "pedal":
            notes += [(b + k / 2, 0.45, root, 1.0 if k % 2 == 0 else 0.8) for k in range(8)]
        else:  # arco
            notes += [(b, 3.9, root, 1.0)]
    return notes


def render_bass(plan: SongPlan, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The bass stem, mono, peak 1."""
    out = np.zeros(n_samples)
    beat_s = 60.0 / plan.tempo_bpm
    n_bars = int(math.ceil(n_samples / SAMPLE_RATE / (4 * beat_s)))
    rolloff = {"sub": 3.0, "arco": 1.2}.get(plan.bass_style, 1.6)
    tables: dict[int, np.ndarray] = {}
    for start, length, midi, velocity in bass_notes(plan, n_bars, rng):
        if midi not in tables:
            tables[midi] = harmonic_table(midi_hz(midi), rolloff)
        if plan.bass_style == "arco":
            attack, tau = 0.15, None
        elif plan.bass_style == "sub":
            attack, tau = 0.01, 1.2
        else:
            attack, tau = 0.005, rng.uniform(0.2, 0.45)
        t = _step_time(int(round(start * 4)), beat_s / 4, plan.swing)
        place(out, t, velocity * _note(midi_hz(midi), length * beat_s, tables[midi], attack, tau,
                                       rng=rng))
    if plan.bass_style == "pedal" and plan.drive > 1.0:
        out = np.tanh(2.0 * out / (np.abs(out).max() + 1e-12))
    return out / max(float(np.abs(out).max()), 1e-12)


def chord_events(plan: SongPlan, n_bars: int, rng: np.random.Generator
                 ) -> list[tuple[float, float, tuple[int, ...], float]]:
    """``(start beat, length in beats, MIDI notes, velocity)`` of the ``other`` stem."""
    events: list[tuple[float, float, tuple[int, ...], float]] = []
    for bar in range(n_bars):
        pc, intervals = _chord(plan, bar)
        voicing = tuple(48 + pc + i for i in intervals)
        b = bar * 4.0
        style = plan.chord_style
        if style == "pad":
            events.append((b, 4.0, voicing, 0.8))
        elif style == "strum":
            events += [(b + k / 2, 1.0, voicing, 1.0 if k % 2 == 0 else 0.6) for k in range(8)
                       if k % 2 == 0 or rng.random() < 0.5]
        elif style == "skank":
            events += [(b + k + 0.5, 0.2, voicing, 0.9) for k in range(4)]
        elif style == "stab":
            spots = (0.5, 0.75, 1.5, 2.25, 2.5, 3.5)
            events += [(b + s, 0.25, voicing, 0.9) for s in spots if rng.random() < 0.6]
        elif style == "chug":
            events += [(b + k / 2, 0.3, voicing, 1.0 if k % 2 == 0 else 0.75) for k in range(8)
                       if rng.random() < 0.9]
        elif style == "arpeggio":
            order = list(voicing) + [voicing[0] + 12] + list(voicing[-2:0:-1])
            events += [(b + k / 2, 0.6, (order[k % len(order)],), 0.8) for k in range(8)]
        else:  # comp
            events += [(b + k / 2, 0.6, voicing, 0.7) for k in range(8) if rng.random() < 0.3]
    return events


_CHORD_ENVELOPES = {  # style: (attack s, decay time constant s or None)
    "pad": (0.25, None), "strum": (0.005, 0.6), "skank": (0.003, 0.08), "stab": (0.004, 0.12),
    "chug": (0.003, 0.1), "arpeggio": (0.005, 0.4), "comp": (0.005, 0.35),
}


def render_other(plan: SongPlan, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The ``other`` stem (guitars, keys, strings), mono, peak 1."""
    out = np.zeros(n_samples)
    beat_s = 60.0 / plan.tempo_bpm
    n_bars = int(math.ceil(n_samples / SAMPLE_RATE / (4 * beat_s)))
    attack, tau = _CHORD_ENVELOPES[plan.chord_style]
    strum_s = 0.012 if plan.chord_style in ("strum", "chug") else 0.0
    vibrato = (5.0, 0.004) if plan.chord_style == "pad" else (0.0, 0.0)  # string ensemble
    tables: dict[int, np.ndarray] = {}
    for start, length, midis, velocity in chord_events(plan, n_bars, rng):
        t = _step_time(int(round(start * 4)), beat_s / 4, plan.swing)
        for k, midi in enumerate(midis):
            if midi not in tables:
                tables[midi] = harmonic_table(midi_hz(midi), plan.rolloff)
            note = _note(midi_hz(midi) * rng.uniform(0.998, 1.002), length * beat_s, tables[midi],
                         attack, tau, vibrato, rng)
            place(out, t + k * strum_s, velocity * note / len(midis))
    if plan.drive > 0.0:
        gain = 1.0 + plan.drive
        out = np.tanh(gain * out / (np.abs(out).max() + 1e-12)) / math.tanh(gain)
    return out / max(float(np.abs(out).max()), 1e-12)


# ---------------------------------------------------------------------------------------------
# Vocals.


def render_vocals(plan: SongPlan, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The vocals stem, mono, peak 1; all zeros for an instrumental song (``vocals="none"``)."""
    out = np.zeros(n_samples)
    if plan.vocals == "none":
        return out
    beat_s = 60.0 / plan.tempo_bpm
    n_bars = int(math.ceil(n_samples / SAMPLE_RATE / (4 * beat_s)))
    scale = SCALES[plan.scale]
    centre = int(round(69.0 + 12.0 * math.log2(plan.vocal_f0_hz / 440.0)))
    tonic = centre - (centre - plan.key_root) % 12  # the key's root at or below the centre
    degree = 0
    vowels = list(VOWELS)
    for bar in range(n_bars):
        if rng.random() > plan.vocal_density:
            continue
        b = bar * 4.0
        if plan.vocals == "rap":
            for k in range(16):
                if rng.random() > 0.8:
                    continue
                f0 = plan.vocal_f0_hz * 2.0 ** (rng.uniform(-2.0, 2.0) / 12.0)
                n = int(0.8 * beat_s / 4 * SAMPLE_RATE)
                t_rel = np.arange(n) / SAMPLE_RATE
                freq = f0 * (1.0 - 0.08 * t_rel / max(t_rel[-1], 1e-6))  # speech falls
                table = harmonic_table(f0, 1.0, VOWELS[vowels[int(rng.integers(5))]])
                syllable = oscillator(freq, table, rng.random()) * envelope(n, 0.01, None, 0.03)
                consonant = band_noise(n, 2000, 8000, rng, SAMPLE_RATE) * np.exp(-t_rel / 0.012)
                syllable += 0.5 * consonant / (np.abs(consonant).max() + 1e-12)
                place(out, _step_time(int(b * 4) + k, beat_s / 4, plan.swing), syllable)
            continue
        position = 0
        while position < 8:
            length = int(rng.integers(2, 9)) if plan.vocals == "opera" else int(rng.integers(1, 5))
            if rng.random() < 0.25:  # a rest
                position += length
                continue
            degree = int(np.clip(degree + rng.integers(-2, 3), -5, 6))
            octave, index = divmod(degree, len(scale))
            f0 = midi_hz(tonic + 12 * octave + scale[index])
            table = harmonic_table(f0, 1.2, VOWELS[vowels[int(rng.integers(5))]])
            vibrato = (rng.uniform(5.0, 6.5), 0.03 if plan.vocals == "opera" else 0.012)
            seconds = min(length, 8 - position) * beat_s / 2
            note = _note(f0, seconds, table, 0.03, None, vibrato, rng)
            if plan.vocals == "growl":
                grit = band_noise(note.size, 300, 3000, rng, SAMPLE_RATE)
                note = np.tanh(3.0 * (0.5 * note + grit / (np.abs(grit).max() + 1e-12)
                                      * np.abs(note)))
            place(out, _step_time(int(b * 4) + 2 * position, beat_s / 4, plan.swing), note)
            position += length
    breath = band_noise(n_samples, 1500, 6000, rng, SAMPLE_RATE)
    out += 0.03 * breath / (np.abs(breath).max() + 1e-12) * (np.abs(out) > 1e-3)
    return out / max(float(np.abs(out).max()), 1e-12)
