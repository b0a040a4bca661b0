"""Soundscapes (train and test): sites, time stamps, species present, calls, noise, labels.

60 s of site-specific background with several species at 0-15 dB SNR and unlabelled
distractors; birds dominate at dawn, frogs and insects at night.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devtools.synthetic.birdclef.calls import Call, plan_calls
from devtools.synthetic.birdclef.config import (
    SAMPLE_RATE,
    WINDOW_SECONDS,
    Stream,
    SyntheticSize,
    stream_rng,
)
from devtools.synthetic.birdclef.noise import Noise
from devtools.synthetic.birdclef.species import Species
from devtools.synthetic.birdclef.voices import Voice

_MIN_LABEL_OVERLAP_SECONDS = 0.1  # a call must overlap a window this much to label it
_NIGHT_HOURS = (18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6)  # real recorders run at night


@dataclass(frozen=True)
class Soundscape:
    """One 60-s soundscape file: its recipe and the truth of its 5-s windows."""

    split: str  # "train" or "test"
    index: int
    stem: str  # file name without ".ogg"
    labelled: bool  # listed in train_soundscapes_labels.csv
    n_samples: int
    noise: Noise
    calls: tuple[Call, ...]
    window_labels: tuple[tuple[str, ...], ...]  # species per 5-s window, sorted as strings


def _window_labels(
    calls: Sequence[Call], voices: Sequence[Voice], species: Sequence[Species], n_windows: int
) -> tuple[tuple[str, ...], ...]:
    """Species heard in each 5-s window (distractor voices excluded), labels sorted."""
    windows: list[set[str]] = [set() for _ in range(n_windows)]
    for call in calls:
        if call.voice_index >= len(species):
            continue
        start = call.start_seconds
        end = start + voices[call.voice_index].call_seconds * call.time_scale
        first, last = int(start // WINDOW_SECONDS), math.ceil(end / WINDOW_SECONDS)
        for w in range(first, min(last, n_windows)):
            overlap = min(end, (w + 1) * WINDOW_SECONDS) - max(start, w * WINDOW_SECONDS)
            if overlap >= _MIN_LABEL_OVERLAP_SECONDS:
                windows[w].add(species[call.voice_index].label)
    return tuple(tuple(sorted(w)) for w in windows)


def _hour_factor(class_name: str, hour: int) -> float:
    """Diel activity: birds sing at dawn, frogs call in the evening, insects all night."""
    if class_name == "Aves":
        return 3.0 if 4 <= hour <= 6 else 0.3
    if class_name == "Amphibia":
        return 2.0 if hour >= 18 else 1.0
    if class_name == "Insecta":
        return 1.5
    return 1.0


@dataclass(frozen=True)
class _Site:
    number: int  # the S<nn> in file names
    level_dbfs: float  # typical background noise RMS
    colour: float  # spectral exponent of the background noise
    windiness: float  # 0..1
    rain_probability: float  # chance that a recording has a shower
    affinity: np.ndarray  # (n_species,) multiplier on each species' chance to be heard here


def _plan_sites(size: SyntheticSize, seed: int, n_species: int) -> list[_Site]:
    rng = stream_rng(seed, Stream.SITES)
    numbers = sorted(int(s) for s in rng.choice(np.arange(1, 26), size.n_sites, replace=False))
    return [
        _Site(
            number=number,
            level_dbfs=rng.uniform(-44.0, -30.0),
            colour=rng.uniform(1.0, 2.0),
            windiness=rng.uniform(0.0, 1.0),
            rain_probability=rng.uniform(0.0, 0.5),
            affinity=rng.uniform(0.2, 1.8, n_species),
        )
        for number in numbers
    ]


def _plan_soundscape(
    split: str,
    index: int,
    labelled: bool,
    forced: Sequence[int],
    sites: Sequence[_Site],
    species: Sequence[Species],
    voices: Sequence[Voice],
    size: SyntheticSize,
    seed: int,
) -> Soundscape:
    """One soundscape: site, time stamp, species present, their calls, noise, window labels."""
    rng = stream_rng(seed, Stream.SOUNDSCAPE, 0 if split == "train" else 1, index)
    seconds = size.soundscape_seconds
    site = sites[int(rng.integers(len(sites)))]
    hour = int(rng.choice(_NIGHT_HOURS))
    date = f"{rng.integers(2021, 2026)}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    clock = f"{hour:02d}{rng.integers(0, 60):02d}{rng.integers(0, 60):02d}"
    stem = f"BC2026_{split.capitalize()}_{index + 1:04d}_S{site.number:02d}_{date}_{clock}"

    present = list(forced)
    weights = site.affinity * [
        s.soundscape_weight * _hour_factor(s.class_name, hour) for s in species
    ]
    weights[present] = 0.0
    n_more = min(int(1 + rng.poisson(2.5)), int((weights > 0).sum()))
    if n_more:
        chosen = rng.choice(len(species), n_more, replace=False, p=weights / weights.sum())
        present += [int(i) for i in chosen]
    calls: list[Call] = []
    for i in present:
        voice = voices[i]
        level = site.level_dbfs + rng.uniform(0.0, 15.0)  # SNR 0-15 dB re the noise floor
        for _ in range(1 + int(rng.poisson(1.0))):
            length = voice.bout_seconds * rng.uniform(0.5, 1.5)
            length = min(max(length, voice.call_seconds * 1.3 + 0.5), seconds)
            start = rng.uniform(0.0, seconds - length)
            calls += plan_calls(i, voice, start, start + length, level, rng)
    for d in range(len(species), len(voices)):
        if rng.random() < 0.3:  # non-target sounds that no label mentions
            start = rng.uniform(0.0, seconds - 10.0)
            level = site.level_dbfs + rng.uniform(0.0, 10.0)
            calls += plan_calls(d, voices[d], start, start + 10.0, level, rng)

    rain = None
    if rng.random() < site.rain_probability:
        start = rng.uniform(0.0, seconds * 0.7)
        rain = (
            start,
            rng.uniform(start + 5.0, seconds),
            rng.uniform(5.0, 40.0),
            rng.uniform(0, 10),
        )
    wind = site.windiness * rng.uniform(0.5, 1.5)
    noise = Noise(
        level_dbfs=site.level_dbfs + rng.uniform(-3.0, 3.0),
        colour=site.colour,
        wind_db=-6.0 + 12.0 * wind if wind > 0.3 else None,
        rain=rain,
    )
    return Soundscape(
        split=split,
        index=index,
        stem=stem,
        labelled=labelled,
        n_samples=round(seconds * SAMPLE_RATE),
        noise=noise,
        calls=tuple(calls),
        window_labels=_window_labels(calls, voices, species, int(seconds // WINDOW_SECONDS)),
    )


def plan_soundscapes(
    species: Sequence[Species], voices: Sequence[Voice], size: SyntheticSize, seed: int
) -> tuple[Soundscape, ...]:
    """Train soundscapes then test soundscapes, each in file-id order."""
    sites = _plan_sites(size, seed, len(species))
    labelled_rng = stream_rng(seed, Stream.LABELLED)
    labelled = sorted(
        int(i)
        for i in labelled_rng.choice(
            size.n_train_soundscapes, size.n_labelled_soundscapes, replace=False
        )
    )
    # Soundscape-only species are placed round-robin so that each is in a labelled train
    # soundscape and in a test soundscape, whatever the random draws.
    forced: dict[tuple[str, int], list[int]] = {}
    for k, i in enumerate(i for i, s in enumerate(species) if s.soundscape_only):
        forced.setdefault(("train", labelled[k % len(labelled)]), []).append(i)
        forced.setdefault(("test", k % size.n_test_soundscapes), []).append(i)
    return tuple(
        _plan_soundscape(
            split,
            index,
            split == "train" and index in labelled,
            forced.get((split, index), []),
            sites,
            species,
            voices,
            size,
            seed,
        )
        for split, n_files in (
            ("train", size.n_train_soundscapes),
            ("test", size.n_test_soundscapes),
        )
        for index in range(n_files)
    )
