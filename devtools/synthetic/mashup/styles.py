"""Genres as distributions over musical choices, and the plan of one song drawn from them.

A genre is not one sound: it is a tempo range, a mix of drum patterns, bass and chord styles, a
harmony (progressions and chord qualities), a brightness and distortion of the ``other`` stem
(guitars, keys, strings) and a chance and style of vocals. The ranges overlap (pop, rock and
country share backbeats and major triads; blues and jazz share swing and seventh chords; hip-hop
and reggae share slow tempi and sub bass), and one song in six borrows one ingredient from
another genre, so a classifier has to combine cues, as with real music.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.tasks.mashup import GENRES

Choices = tuple[tuple[str, float], ...]  # (option, weight)
Chord = tuple[int, str]  # (semitones above the key root, quality)

CHORD_QUALITIES = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10), "power": (0, 7, 12),
}
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
    "blues": (0, 3, 5, 6, 7, 10), "pentatonic": (0, 2, 4, 7, 9), "dorian": (0, 2, 3, 5, 7, 9, 10),
}
_P_BORROW = 1.0 / 6.0  # share of songs that take one ingredient from another genre


@dataclass(frozen=True)
class GenreStyle:
    """The distributions one genre's songs are drawn from."""

    tempo_bpm: tuple[float, float]  # uniform
    drum_patterns: Choices  # see instruments.DRUM_PATTERNS
    swing: tuple[float, float]  # delay of the off-beat 8th, fraction of an 8th (0.33 = triplet)
    drum_level_db: tuple[float, float]  # drums RMS re the other stems, dB
    bass_styles: Choices  # see instruments.bass_notes
    bass_root_midi: tuple[int, int]  # register of the bass (E1 = 28)
    progressions: tuple[tuple[Chord, ...], ...]  # one chord per bar, cycled
    chord_styles: Choices  # see instruments.chord_events
    rolloff: tuple[float, float]  # harmonic amplitude ~ k**-rolloff of "other": low = bright
    drive: tuple[float, float]  # tanh distortion of "other" (0 = clean)
    scale: str  # melody scale of the vocals
    p_vocals: float  # chance a song has vocals at all
    vocal_styles: Choices  # "sung", "rap", "opera" or "growl"


STYLES: dict[str, GenreStyle] = {
    "blues": GenreStyle(
        (60, 110), (("shuffle", 0.6), ("backbeat", 0.3), ("ride_swing", 0.1)), (0.2, 0.33),
        (-3, 0), (("walking", 0.6), ("root", 0.4)), (28, 36),
        (((0, "dom7"), (5, "dom7"), (0, "dom7"), (7, "dom7")),
         ((0, "dom7"), (0, "dom7"), (5, "dom7"), (0, "dom7"))),
        (("strum", 0.5), ("comp", 0.3), ("pad", 0.2)), (1.0, 1.6), (0.0, 1.5), "blues", 0.85,
        (("sung", 1.0),)),
    "classical": GenreStyle(
        (50, 130), (("none", 0.85), ("halftime", 0.15)), (0.0, 0.0), (-24, -14),
        (("arco", 0.8), ("root", 0.2)), (26, 38),
        (((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),
         ((0, "min"), (5, "min"), (7, "maj"), (0, "min")),
         ((0, "maj"), (9, "min"), (2, "min"), (7, "dom7"))),
        (("pad", 0.6), ("arpeggio", 0.4)), (0.9, 1.6), (0.0, 0.0), "major", 0.25,
        (("opera", 1.0),)),
    "country": GenreStyle(
        (85, 140), (("train", 0.6), ("backbeat", 0.4)), (0.0, 0.1), (-4, 0),
        (("root_fifth", 0.8), ("walking", 0.2)), (28, 38),
        (((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),
         ((0, "maj"), (0, "maj"), (5, "maj"), (7, "maj"))),
        (("strum", 0.8), ("arpeggio", 0.2)), (0.8, 1.3), (0.0, 0.3), "major", 0.9,
        (("sung", 1.0),)),
    "disco": GenreStyle(
        (108, 132), (("four_floor", 0.85), ("backbeat", 0.15)), (0.0, 0.05), (-2, 1),
        (("octave", 0.8), ("root", 0.2)), (28, 38),
        (((0, "min7"), (5, "min7")), ((0, "min7"), (3, "maj7"), (5, "min7"), (7, "min7"))),
        (("stab", 0.5), ("pad", 0.3), ("skank", 0.2)), (0.9, 1.4), (0.0, 0.0), "dorian", 0.8,
        (("sung", 1.0),)),
    "hiphop": GenreStyle(
        (75, 100), (("boom_bap", 0.6), ("halftime", 0.3), ("four_floor", 0.1)), (0.05, 0.2),
        (-1, 2), (("sub", 0.7), ("root", 0.3)), (24, 33),
        (((0, "min7"), (8, "maj7")), ((0, "min7"), (3, "maj7"), (10, "dom7"), (8, "maj7"))),
        (("pad", 0.5), ("stab", 0.3), ("arpeggio", 0.2)), (1.6, 2.4), (0.0, 0.0), "minor",
        0.95, (("rap", 0.85), ("sung", 0.15))),
    "jazz": GenreStyle(
        (90, 200), (("ride_swing", 0.8), ("shuffle", 0.2)), (0.25, 0.33), (-6, -2),
        (("walking", 0.9), ("root", 0.1)), (28, 38),
        (((2, "min7"), (7, "dom7"), (0, "maj7"), (9, "min7")),
         ((0, "maj7"), (9, "dom7"), (2, "min7"), (7, "dom7"))),
        (("comp", 0.7), ("pad", 0.3)), (1.4, 2.2), (0.0, 0.0), "dorian", 0.5, (("sung", 1.0),)),
    "metal": GenreStyle(
        (100, 200), (("double_kick", 0.6), ("backbeat", 0.4)), (0.0, 0.0), (-2, 1),
        (("pedal", 0.8), ("root", 0.2)), (24, 33),
        (((0, "power"), (8, "power"), (10, "power"), (0, "power")),
         ((0, "power"), (1, "power"), (0, "power"), (6, "power"))),
        (("chug", 0.8), ("strum", 0.2)), (0.6, 1.0), (3.0, 8.0), "minor", 0.75,
        (("growl", 0.6), ("sung", 0.4))),
    "pop": GenreStyle(
        (92, 128), (("backbeat", 0.5), ("four_floor", 0.4), ("halftime", 0.1)), (0.0, 0.05),
        (-3, 0), (("root", 0.5), ("pedal", 0.3), ("octave", 0.2)), (28, 38),
        (((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
         ((9, "min"), (5, "maj"), (0, "maj"), (7, "maj"))),
        (("pad", 0.4), ("strum", 0.3), ("stab", 0.3)), (0.8, 1.4), (0.0, 0.5), "major", 0.95,
        (("sung", 1.0),)),
    "reggae": GenreStyle(
        (60, 95), (("one_drop", 0.8), ("halftime", 0.2)), (0.0, 0.15), (-4, -1),
        (("sub", 0.6), ("root", 0.4)), (24, 33),
        (((0, "maj"), (5, "maj")), ((0, "min"), (5, "min")),
         ((0, "maj"), (7, "maj"), (5, "maj"), (7, "maj"))),
        (("skank", 0.8), ("pad", 0.2)), (1.0, 1.6), (0.0, 0.0), "major", 0.85,
        (("sung", 0.7), ("rap", 0.3))),
    "rock": GenreStyle(
        (100, 160), (("backbeat", 0.8), ("double_kick", 0.1), ("halftime", 0.1)), (0.0, 0.05),
        (-2, 1), (("pedal", 0.6), ("root", 0.4)), (28, 36),
        (((0, "power"), (5, "power"), (7, "power"), (5, "power")),
         ((0, "maj"), (10, "maj"), (5, "maj"), (0, "maj"))),
        (("strum", 0.5), ("chug", 0.4), ("pad", 0.1)), (0.7, 1.2), (1.5, 4.0), "minor", 0.85,
        (("sung", 0.8), ("growl", 0.2))),
}
assert tuple(STYLES) == GENRES


@dataclass(frozen=True)
class SongPlan:
    """Every musical choice of one song; rendering adds only waveform-level randomness."""

    genre: str
    song_id: str
    seconds: float
    tempo_bpm: float
    key_root: int  # pitch class of the key, 0 = C
    progression: tuple[Chord, ...]
    drum_pattern: str
    swing: float
    drum_level_db: float
    bass_style: str
    bass_root_midi: int
    chord_style: str
    rolloff: float
    drive: float
    scale: str
    vocals: str  # "sung", "rap", "opera", "growl" or "none"
    vocal_density: float  # share of bars with a vocal phrase
    vocal_f0_hz: float  # centre of the melody
    silent_vocals: str  # vocals == "none": "zeros" (digital silence) or "floor" (-75 dBFS hiss)
    borrowed: str  # the ingredient taken from another genre ("" = none)
    borrowed_from: str


def _pick(choices: Choices, rng: np.random.Generator) -> str:
    weights = np.array([w for _, w in choices], dtype=float)
    return choices[int(rng.choice(len(choices), p=weights / weights.sum()))][0]


def plan_song(genre: str, song_id: str, seconds: float, rng: np.random.Generator) -> SongPlan:
    """Draw one song of ``genre`` from its style (and, one time in six, another genre's)."""
    style = STYLES[genre]
    borrowed, lender = "", ""
    parts = {"drums": style, "bass": style, "chords": style, "vocals": style}
    if rng.random() < _P_BORROW:
        borrowed = str(rng.choice(list(parts)))
        lender = str(rng.choice([g for g in GENRES if g != genre]))
        parts[borrowed] = STYLES[lender]
    vocal_style = parts["vocals"]
    vocals = _pick(vocal_style.vocal_styles, rng) if rng.random() < vocal_style.p_vocals else "none"
    if vocals == "opera":
        f0 = rng.uniform(260.0, 620.0)
    elif vocals == "growl":
        f0 = rng.uniform(80.0, 140.0)
    elif vocals == "rap":
        f0 = rng.uniform(100.0, 200.0)
    else:
        f0 = rng.uniform(140.0, 420.0)
    return SongPlan(
        genre=genre,
        song_id=song_id,
        seconds=round(float(seconds), 3),
        tempo_bpm=round(float(rng.uniform(*style.tempo_bpm)), 2),
        key_root=int(rng.integers(12)),
        progression=style.progressions[int(rng.integers(len(style.progressions)))],
        drum_pattern=_pick(parts["drums"].drum_patterns, rng),
        swing=float(rng.uniform(*parts["drums"].swing)),
        drum_level_db=float(rng.uniform(*parts["drums"].drum_level_db)),
        bass_style=_pick(parts["bass"].bass_styles, rng),
        bass_root_midi=int(rng.integers(parts["bass"].bass_root_midi[0],
                                        parts["bass"].bass_root_midi[1] + 1)),
        chord_style=_pick(parts["chords"].chord_styles, rng),
        rolloff=float(rng.uniform(*parts["chords"].rolloff)),
        drive=float(rng.uniform(*parts["chords"].drive)),
        scale=style.scale,
        vocals=vocals,
        vocal_density=float(rng.uniform(0.15, 0.9)),
        vocal_f0_hz=float(f0),
        silent_vocals=str(rng.choice(["zeros", "floor"])) if vocals == "none" else "",
        borrowed=borrowed,
        borrowed_from=lender,
    )
