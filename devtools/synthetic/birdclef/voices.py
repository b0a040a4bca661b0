"""Per-taxon vocalisations: one call recipe (``Voice``) per species, one renderer per family.

Birds: FM whistles, sweeps and trills in 2-9 kHz with harmonics; frogs: pulsed croaks at
0.3-2 kHz; insects: narrowband 4-12 kHz buzzes and stridulation; mammals: 100-1500 Hz howls and
grunts with vibrato; reptiles: clicks or hiss. ``confusable_twin`` makes a near-identical voice
for the confusable species pairs. ``render_call`` turns a recipe into the waveform of one call.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from devtools.synthetic.birdclef.config import SAMPLE_RATE
from devtools.synthetic.birdclef.noise import band_noise

_MAX_PARTIAL_HZ = 15_000.0  # drop harmonics above this: Nyquist is 16 kHz


@dataclass(frozen=True)
class Voice:
    """How one species calls. A call is ``notes_per_call`` notes separated by short gaps."""

    family: str  # "bird", "frog", "insect", "mammal" or "reptile": picks the renderer
    style: str  # variant within the family, e.g. "trill", "hiss" (reported in the manifest)
    start_hz: float  # fundamental at the start of a note (reptiles: lower band edge)
    end_hz: float  # fundamental at the end of a note, linear sweep (reptiles: upper band edge)
    note_seconds: float  # one note, pulse or click
    note_gap_seconds: float  # silence between the notes of a call
    notes_per_call: int
    call_gap_seconds: float  # typical silence between the calls of a bout
    bout_seconds: float  # typical length of a calling bout in a soundscape
    n_harmonics: int = 1  # partials including the fundamental
    harmonic_decay: float = 0.5  # amplitude ratio between successive partials
    fm_rate_hz: float = 0.0  # sinusoidal frequency modulation (warble, vibrato); 0 = none
    fm_depth: float = 0.0  # FM depth as a fraction of the fundamental
    am_rate_hz: float = 0.0  # amplitude modulation (insect buzz, mammal roughness); 0 = none
    am_depth: float = 0.0  # 0..1, fraction of the amplitude that the AM removes at its troughs

    @property
    def call_seconds(self) -> float:
        """Length of one call at nominal speed, seconds."""
        period = self.note_seconds + self.note_gap_seconds
        return self.notes_per_call * period - self.note_gap_seconds


def _draw_bird_voice(rng: np.random.Generator) -> Voice:
    style = str(rng.choice(["whistle", "sweep", "trill"]))
    low = rng.uniform(2000.0, 7000.0)
    high = min(low + rng.uniform(400.0, 2500.0), 9000.0)
    start, end = (low, high) if rng.random() < 0.5 else (high, low)
    fm_rate = fm_depth = 0.0
    if style == "whistle":
        # A whistle hardly sweeps; its warble rate and depth carry the identity.
        end = float(np.clip(start * rng.uniform(0.9, 1.1), 2000.0, 9000.0))
        note, gap, notes = rng.uniform(0.25, 0.9), rng.uniform(0.05, 0.2), rng.integers(1, 4)
        fm_rate, fm_depth = rng.uniform(3.0, 14.0), rng.uniform(0.03, 0.1)
    elif style == "sweep":
        note, gap, notes = rng.uniform(0.08, 0.3), rng.uniform(0.04, 0.15), rng.integers(1, 5)
    else:
        note, gap, notes = rng.uniform(0.02, 0.06), rng.uniform(0.01, 0.04), rng.integers(8, 25)
    return Voice(
        family="bird",
        style=style,
        start_hz=start,
        end_hz=end,
        note_seconds=note,
        note_gap_seconds=gap,
        notes_per_call=int(notes),
        call_gap_seconds=rng.uniform(0.5, 3.0),
        bout_seconds=rng.uniform(4.0, 15.0),
        n_harmonics=int(rng.integers(1, 4)),
        harmonic_decay=rng.uniform(0.2, 0.5),
        fm_rate_hz=fm_rate,
        fm_depth=fm_depth,
    )


def _draw_frog_voice(rng: np.random.Generator) -> Voice:
    carrier = math.exp(rng.uniform(math.log(300.0), math.log(2000.0)))
    pulse = rng.uniform(0.006, 0.03)
    pulse_rate = rng.uniform(10.0, 80.0)  # pulses per second: the main cue between frogs
    return Voice(
        family="frog",
        style="croak",
        start_hz=carrier,
        end_hz=carrier * rng.uniform(0.88, 1.0),
        note_seconds=pulse,
        note_gap_seconds=max(1.0 / pulse_rate - pulse, 0.002),
        notes_per_call=int(rng.integers(4, 40)),
        call_gap_seconds=rng.uniform(0.2, 1.5),
        bout_seconds=rng.uniform(8.0, 30.0),
        n_harmonics=int(rng.integers(2, 6)),
        harmonic_decay=rng.uniform(0.5, 0.8),
    )


def _draw_insect_voice(rng: np.random.Generator) -> Voice:
    carrier = rng.uniform(4000.0, 12000.0)
    if rng.random() < 0.5:
        style, note, gap, notes = "buzz", rng.uniform(1.0, 4.0), 0.0, 1
        am_rate, am_depth = rng.uniform(30.0, 200.0), rng.uniform(0.3, 0.9)
    else:
        pulse, pulse_rate = rng.uniform(0.002, 0.015), rng.uniform(20.0, 200.0)
        style, note, gap = "stridulation", pulse, max(1.0 / pulse_rate - pulse, 0.001)
        notes, am_rate, am_depth = int(rng.integers(10, 150)), 0.0, 0.0
    return Voice(
        family="insect",
        style=style,
        start_hz=carrier,
        end_hz=carrier,
        note_seconds=note,
        note_gap_seconds=gap,
        notes_per_call=notes,
        call_gap_seconds=rng.uniform(0.05, 1.0),
        bout_seconds=rng.uniform(15.0, 50.0),
        n_harmonics=int(rng.integers(1, 3)),
        harmonic_decay=rng.uniform(0.2, 0.4),
        am_rate_hz=am_rate,
        am_depth=am_depth,
    )


def _draw_mammal_voice(rng: np.random.Generator) -> Voice:
    if rng.random() < 0.5:  # long howls with vibrato
        style, start = "howl", rng.uniform(150.0, 600.0)
        end, note, notes = start * rng.uniform(0.8, 1.5), rng.uniform(0.6, 2.0), rng.integers(1, 3)
        fm_depth, am_rate, am_depth = rng.uniform(0.02, 0.06), 0.0, 0.0
    else:  # series of short rough grunts
        style, start = "grunt", rng.uniform(100.0, 400.0)
        end, note, notes = start * rng.uniform(0.85, 1.0), rng.uniform(0.1, 0.3), rng.integers(2, 7)
        fm_depth, am_rate, am_depth = 0.02, rng.uniform(20.0, 40.0), 0.5
    return Voice(
        family="mammal",
        style=style,
        start_hz=start,
        end_hz=end,
        note_seconds=note,
        note_gap_seconds=rng.uniform(0.1, 0.4),
        notes_per_call=int(notes),
        call_gap_seconds=rng.uniform(1.0, 4.0),
        bout_seconds=rng.uniform(5.0, 20.0),
        n_harmonics=int(rng.integers(5, 13)),
        harmonic_decay=rng.uniform(0.6, 0.85),
        fm_rate_hz=rng.uniform(3.0, 8.0),
        fm_depth=fm_depth,
        am_rate_hz=am_rate,
        am_depth=am_depth,
    )


def _draw_reptile_voice(rng: np.random.Generator) -> Voice:
    if rng.random() < 0.5:  # click trains in a low band
        style, low, high = "click", rng.uniform(500.0, 1500.0), rng.uniform(2000.0, 5000.0)
        note, click_rate = rng.uniform(0.002, 0.008), rng.uniform(5.0, 30.0)
        gap, notes = 1.0 / click_rate - note, int(rng.integers(5, 30))
    else:  # a single hiss
        style, low = "hiss", rng.uniform(2000.0, 4000.0)
        high, note, gap, notes = low + rng.uniform(1500.0, 4000.0), rng.uniform(0.4, 1.5), 0.2, 1
    return Voice(
        family="reptile",
        style=style,
        start_hz=low,
        end_hz=high,
        note_seconds=note,
        note_gap_seconds=gap,
        notes_per_call=notes,
        call_gap_seconds=rng.uniform(0.5, 4.0),
        bout_seconds=rng.uniform(4.0, 15.0),
    )


VOICE_DRAWERS = {
    "Aves": _draw_bird_voice,
    "Amphibia": _draw_frog_voice,
    "Insecta": _draw_insect_voice,
    "Mammalia": _draw_mammal_voice,
    "Reptilia": _draw_reptile_voice,
}


def confusable_twin(voice: Voice, rng: np.random.Generator) -> Voice:
    """A voice in the same band whose modulation or note rate differs by 25-50 %."""
    pitch = rng.uniform(1.02, 1.05) if rng.random() < 0.5 else 1.0 / rng.uniform(1.02, 1.05)
    rate = rng.uniform(1.25, 1.5) if rng.random() < 0.5 else 1.0 / rng.uniform(1.25, 1.5)
    twin = dataclasses.replace(voice, start_hz=voice.start_hz * pitch, end_hz=voice.end_hz * pitch)
    if voice.fm_rate_hz > 0:
        return dataclasses.replace(twin, fm_rate_hz=voice.fm_rate_hz * rate)
    if voice.am_rate_hz > 0:
        return dataclasses.replace(twin, am_rate_hz=voice.am_rate_hz * rate)
    return dataclasses.replace(twin, note_gap_seconds=voice.note_gap_seconds * rate)


def _note_positions(voice: Voice, n_samples: int, time_scale: float) -> np.ndarray:
    """Position of every sample inside its note, 0..1, and > 1 in the gaps; shape (n_samples,)."""
    t = np.arange(n_samples) / SAMPLE_RATE
    period = (voice.note_seconds + voice.note_gap_seconds) * time_scale
    return np.mod(t, period) / (voice.note_seconds * time_scale)


def _harmonic_tone(freq_hz: np.ndarray, n_harmonics: int, decay: float) -> np.ndarray:
    """Sum of partials on the instantaneous fundamental ``freq_hz`` (Hz, shape (n,))."""
    phase = 2.0 * np.pi * np.cumsum(freq_hz) / SAMPLE_RATE
    top_hz = float(freq_hz.max())
    tone = np.zeros_like(phase)
    for k in range(1, n_harmonics + 1):
        if k > 1 and k * top_hz > _MAX_PARTIAL_HZ:
            break
        tone += decay ** (k - 1) * np.sin(k * phase)
    return tone


def _bird_call(
    voice: Voice, n_samples: int, pitch: float, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Whistles, sweeps or trills: FM notes with Hann envelopes and a few harmonics, (n,)."""
    u = _note_positions(voice, n_samples, time_scale)
    sweep = voice.start_hz + (voice.end_hz - voice.start_hz) * np.minimum(u, 1.0)
    t = np.arange(n_samples) / SAMPLE_RATE
    freq = pitch * sweep * (1.0 + voice.fm_depth * np.sin(2.0 * np.pi * voice.fm_rate_hz * t))
    envelope = np.where(u <= 1.0, np.sin(np.pi * np.minimum(u, 1.0)) ** 2, 0.0)
    return envelope * _harmonic_tone(freq, voice.n_harmonics, voice.harmonic_decay)


def _frog_call(
    voice: Voice, n_samples: int, pitch: float, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Croaks: pulse trains on a low, slowly falling harmonic carrier, shape (n_samples,)."""
    u = _note_positions(voice, n_samples, time_scale)
    # The carrier drifts down over the whole call, not within each pulse.
    drift = np.linspace(0.0, 1.0, n_samples)
    freq = pitch * (voice.start_hz + (voice.end_hz - voice.start_hz) * drift)
    pulse = np.minimum(u / 0.15, 1.0) * np.exp(-4.0 * u)  # fast attack, exponential decay
    envelope = np.where(u <= 1.0, pulse, 0.0)
    return envelope * _harmonic_tone(freq, voice.n_harmonics, voice.harmonic_decay)


def _insect_call(
    voice: Voice, n_samples: int, pitch: float, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Buzzes or stridulation: a narrowband high tone, pulsed or amplitude-modulated, (n,)."""
    u = _note_positions(voice, n_samples, time_scale)
    t = np.arange(n_samples) / SAMPLE_RATE
    # A little random pitch wander keeps the buzz narrowband but not a pure line.
    wander = 1.0 + 0.004 * np.sin(2.0 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 6.3))
    freq = np.full(n_samples, pitch * voice.start_hz) * wander
    # Near-rectangular notes: 10-ms ramps, or a quarter of a short stridulation pulse.
    ramp_seconds = min(0.01, 0.25 * voice.note_seconds) * time_scale
    edge_seconds = np.minimum(u, 1.0 - np.minimum(u, 1.0)) * voice.note_seconds * time_scale
    envelope = np.where(u <= 1.0, np.clip(edge_seconds / ramp_seconds, 0.0, 1.0), 0.0)
    if voice.am_rate_hz > 0:
        am = 0.5 + 0.5 * np.sin(2.0 * np.pi * voice.am_rate_hz * t)
        envelope = envelope * (1.0 - voice.am_depth * am)
    return envelope * _harmonic_tone(freq, voice.n_harmonics, voice.harmonic_decay)


def _mammal_call(
    voice: Voice, n_samples: int, pitch: float, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Howls or grunts: harmonic-rich low tones with vibrato and breath noise, (n_samples,)."""
    u = _note_positions(voice, n_samples, time_scale)
    t = np.arange(n_samples) / SAMPLE_RATE
    contour = voice.start_hz + (voice.end_hz - voice.start_hz) * np.minimum(u, 1.0)
    vibrato = 1.0 + voice.fm_depth * np.sin(2.0 * np.pi * voice.fm_rate_hz * t)
    tone = _harmonic_tone(pitch * contour * vibrato, voice.n_harmonics, voice.harmonic_decay)
    # Breath noise under the voiced part makes grunts and howls less tonal than birds.
    breath = band_noise(n_samples, 80.0, 1500.0, rng)
    tone = tone + 0.3 * breath / (np.std(breath) + 1e-12)
    envelope = np.where(u <= 1.0, np.sqrt(np.sin(np.pi * np.minimum(u, 1.0))), 0.0)
    if voice.am_rate_hz > 0:
        roughness = 0.5 + 0.5 * np.sin(2.0 * np.pi * voice.am_rate_hz * t)
        envelope = envelope * (1.0 - voice.am_depth * roughness)
    return envelope * tone


def _reptile_call(
    voice: Voice, n_samples: int, pitch: float, time_scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Click trains or a hiss: band-limited noise bursts, shape (n_samples,)."""
    u = _note_positions(voice, n_samples, time_scale)
    noise = band_noise(n_samples, voice.start_hz * pitch, voice.end_hz * pitch, rng)
    if voice.style == "click":
        envelope = np.where(u <= 1.0, np.exp(-5.0 * u), 0.0)
    else:
        envelope = np.where(u <= 1.0, np.sin(np.pi * np.minimum(u, 1.0)) ** 2, 0.0)
    return envelope * noise


_CALL_RENDERERS = {
    "bird": _bird_call,
    "frog": _frog_call,
    "insect": _insect_call,
    "mammal": _mammal_call,
    "reptile": _reptile_call,
}


def _call_samples(voice: Voice, time_scale: float) -> int:
    return max(1, round(voice.call_seconds * time_scale * SAMPLE_RATE))


def render_call(
    voice: Voice, time_scale: float, pitch: float, rng: np.random.Generator
) -> np.ndarray:
    """One call, float64 of shape (samples,), scaled to RMS 1 over its sounding part."""
    n_samples = _call_samples(voice, time_scale)
    wave = _CALL_RENDERERS[voice.family](voice, n_samples, pitch, time_scale, rng)
    peak = float(np.abs(wave).max())
    if peak == 0.0:
        return wave
    # RMS over the sounding samples only, so sparse click trains are as loud as whistles.
    sounding = wave[np.abs(wave) > 0.05 * peak]
    return wave / float(np.sqrt(np.mean(sounding**2)))
