"""What a mashup is made of: the recipe config and the records of songs, stems and mashups.

:class:`MashupConfig` is how mashups are made (defaults imitate the competition's test clips);
:class:`SongInfo` is a scanned song (:mod:`common.tasks.mashup.stems`), :class:`StemPart` and
:class:`MashupRecipe` every random choice of one mashup (:mod:`common.tasks.mashup.render`), and
:class:`MashupAudio` one rendered mashup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from common.core.config import param
from common.tasks.mashup.facts import CLIP_SECONDS, SAMPLE_RATE

__all__ = ["STEM_TYPES", "MashupAudio", "MashupConfig", "MashupRecipe", "SongInfo", "StemPart"]

STEM_TYPES = ("drums", "vocals", "bass", "other")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class MashupConfig:
    """How mashups are made; defaults imitate the competition's test clips."""

    sample_rate: int = param(SAMPLE_RATE, "output rate, Hz: the test clips' (mono)")
    clip_seconds: float = param(CLIP_SECONDS, "output length, seconds: the test clips'")
    stem_types: tuple[str, ...] = param(STEM_TYPES, "stem types in every mashup; keep 'other'")
    distinct_songs: bool = param(
        True, "each stem type from another song of the genre when possible")
    tempo_bpm_range: tuple[float, float] = param((70.0, 170.0), "common target tempo, uniform, BPM")
    stretch_rate_range: tuple[float, float] = param(
        (0.6, 1.7), "clamp of the stretch (>1 = faster)")
    tempo_from: str = param(
        "drums", "tempo from the 'drums' stem (the sum if it has no beat) or 'mix'")
    fallback_tempo_bpm: float = param(
        120.0, "a song's tempo when no beat is found (ambient, silence)")
    gain_db_range: tuple[float, float] = param((-9.0, 3.0), "random gain per stem, dB, uniform")
    snr_db_range: tuple[float, float] = param((0.0, 20.0), "music-to-noise ratio, dB, uniform")
    p_noise: float = param(1.0, "share of mashups that get a noise clip (test clips all have one)")
    peak: float = param(0.9, "the output is scaled to this peak amplitude")
    align_beats: bool = param(True, "start each stem on one of its beats, so the stems line up")
    silence_dbfs: float = param(
        -60.0, "a stem or noise clip with RMS below this is skipped as silent")
    min_file_bytes: int = param(
        4096, "smaller files are skipped as corrupt (real data: < 4 KB files)")
    subtype: str = param("PCM_16", "WAV sample format of the written mashups")

    def __post_init__(self) -> None:
        unknown = [s for s in self.stem_types if s not in STEM_TYPES]
        if unknown or not self.stem_types:
            raise ValueError(f"stem_types {self.stem_types}: choose from {STEM_TYPES}")
        if self.tempo_from not in ("drums", "mix"):
            raise ValueError(f"tempo_from={self.tempo_from!r}; choose 'drums' or 'mix'")
        for name in ("tempo_bpm_range", "stretch_rate_range", "gain_db_range", "snr_db_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}={getattr(self, name)}: low > high")
        if self.stretch_rate_range[0] <= 0 or self.tempo_bpm_range[0] <= 0:
            raise ValueError("tempo and stretch rates must be positive")

    @property
    def n_samples(self) -> int:
        """Samples in one mashup."""
        return int(round(self.clip_seconds * self.sample_rate))


@dataclass(frozen=True)
class SongInfo:
    """A song after scanning: its usable stems, tempo and beats."""

    genre: str
    song_id: str
    fold: int
    stems: tuple[tuple[str, str], ...]  # (stem type, path) of every usable stem
    seconds: float  # length of the longest usable stem
    tempo_bpm: float
    tempo_source: str  # "drums", "mix" (drums missing or beatless) or "fallback" (no beat)
    beats: tuple[float, ...]  # beat times, seconds

    def stem_path(self, stem_type: str) -> str | None:
        return dict(self.stems).get(stem_type)


@dataclass(frozen=True)
class StemPart:
    """One stem of one mashup."""

    stem_type: str
    song_id: str
    path: str
    start_seconds: float  # where in the source stem the mashup starts (a beat when aligned)
    rate: float  # time-stretch rate (> 1 = faster)
    gain_db: float


@dataclass(frozen=True)
class MashupRecipe:
    """Every random choice of one mashup, fixed before rendering (picklable)."""

    genre: str
    fold: int
    index: int
    filename: str  # relative to the output folder
    tempo_bpm: float  # the common target tempo
    parts: tuple[StemPart, ...]
    noise_path: str | None
    noise_offset: float  # where the noise clip starts, as a fraction of its length
    snr_db: float | None  # None: no noise


@dataclass(frozen=True)
class MashupAudio:
    """One rendered mashup, float32 ``(n_samples,)`` at the output rate, after normalisation."""

    music: np.ndarray  # the summed, stretched stems
    noise: np.ndarray  # the noise as mixed (scaled); zeros without noise
    mixture: np.ndarray  # music + noise, what is written

    @property
    def snr_db(self) -> float:
        """Achieved music-to-noise ratio, dB (inf without noise)."""
        noise_power = float(np.mean(self.noise.astype(np.float64) ** 2))
        if noise_power == 0.0:
            return math.inf
        return 10.0 * math.log10(float(np.mean(self.music.astype(np.float64) ** 2))
                                 / noise_power)

