"""Focal clips (train.csv and train_audio): counts, lengths, calls, metadata, planted failures.

Clean (6-30 dB SNR), 2-60 s long; long ones call only in parts, some carry listed secondary
species and a few an unlisted one. Counts per species are long-tailed (Zipf).
"""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True)
class FocalClip:
    """One train.csv row and the recipe of its audio file."""

    species_index: int
    filename: str  # "<label>/XC123456.ogg", relative to train_audio
    collection: str  # "XC" or "iNat"
    n_samples: int
    noise: Noise
    calls: tuple[Call, ...]
    peak: float  # the clip is normalised to this peak amplitude
    secondary: tuple[int, ...]  # listed background species (species indices)
    corruption: str | None  # None, "empty", "garbage", "truncated" or "silent"
    metadata: dict[str, object]  # the remaining train.csv fields


_FIRST_NAMES = tuple(
    (
        "Ana Bruno Carla Diego Elena Fabio Gabriela Hugo Ines Joao Karin Lucas Marta Nuno "
        "Olga Paulo"
    ).split()
)
_LAST_NAMES = tuple(
    "Silva Moreira Tanaka Schmidt Okafor Lopez Novak Fischer Costa Reyes Larsen Dubois".split()
)
_CALL_TYPES = ("['song']", "['call']", "['call', 'song']", "['alarm call']", "['flight call']")
_XC_RATINGS = np.arange(0.0, 5.5, 0.5)  # 0.0 = unrated
_XC_RATING_P = np.array([3, 1, 1, 2, 2, 4, 6, 10, 14, 17, 20]) / 80.0  # XC ratings lean high


def _focal_counts(species: Sequence[Species], n_clips: int) -> dict[int, int]:
    """Clips per focal species: Zipf over ``focal_rank``, at least one each, reptiles one."""
    focal = sorted((s.focal_rank, i) for i, s in enumerate(species) if not s.soundscape_only)
    counts = {i: 1 for _, i in focal}
    weights = np.array(
        [
            0.0 if species[i].class_name == "Reptilia" else 1.0 / (r + 1)
            for r, (_, i) in enumerate(focal)
        ]
    )
    spare = n_clips - len(focal)
    if spare < 0:
        raise ValueError(f"n_focal_clips={n_clips} is fewer than the {len(focal)} focal species")
    # Largest-remainder rounding keeps the total exact and the result deterministic.
    share = spare * weights / weights.sum()
    extra = np.floor(share).astype(int)
    for k in np.argsort(-(share - extra), kind="stable")[: spare - extra.sum()]:
        extra[k] += 1
    for (_, i), e in zip(focal, extra):
        counts[i] += int(e)
    return counts


def plan_focal_clips(
    species: Sequence[Species], size: SyntheticSize, seed: int
) -> tuple[FocalClip, ...]:
    """train.csv rows with their audio recipes, sorted by (primary_label, filename)."""
    counts = _focal_counts(species, size.n_focal_clips)
    order = [i for i in sorted(counts) for _ in range(counts[i])]
    ids_rng = stream_rng(seed, Stream.FOCAL_COUNTS)
    xc_ids = ids_rng.choice(900_000, len(order), replace=False) + 100_000
    inat_ids = ids_rng.choice(9_000_000, len(order), replace=False) + 1_000_000
    focal_indices = sorted(counts)
    clips = []
    for n, species_index in enumerate(order):
        rng = stream_rng(seed, Stream.FOCAL_CLIP, n)
        sp = species[species_index]
        voice = sp.voice
        is_xc = rng.random() < (0.65 if sp.class_name == "Aves" else 0.3)
        lo = size.min_clip_seconds
        if is_xc:  # long tail of long XC recordings
            seconds = math.exp(rng.uniform(math.log(lo), math.log(size.max_clip_seconds)))
        else:  # phone recordings are short
            seconds = rng.uniform(lo, min(size.max_clip_seconds, 15.0))
        seconds = max(seconds, voice.call_seconds * 1.15 + 0.6)
        level = -20.0
        calls: list[Call] = []
        if seconds > 2 * WINDOW_SECONDS and rng.random() < 0.7:
            # Calls only in a few stretches: random 5-s crops of this clip often miss the bird.
            for _ in range(int(rng.integers(1, 4))):
                length = max(seconds * rng.uniform(0.1, 0.25), voice.call_seconds * 1.2 + 0.5)
                start = rng.uniform(0.0, max(seconds - length, 0.0))
                calls += plan_calls(species_index, voice, start, start + length, level, rng)
        else:
            calls += plan_calls(species_index, voice, 0.0, seconds, level, rng)

        secondary: list[int] = []
        p_secondary = 0.15 if sp.class_name == "Aves" else 0.05
        others = [i for i in focal_indices if i != species_index]
        if rng.random() < p_secondary:
            n_secondary = int(rng.integers(1, 3))
            secondary = sorted(int(i) for i in rng.choice(others, n_secondary, replace=False))
        background = list(secondary)
        if rng.random() < 0.05:  # unlisted background species: label noise, as in real data
            background.append(int(rng.choice(others)))
        for i in background:
            start = rng.uniform(0.0, seconds * 0.5)
            calls += plan_calls(
                i, species[i].voice, start, seconds, level - rng.uniform(6.0, 18.0), rng
            )

        snr_db = rng.uniform(12.0, 30.0) if is_xc else rng.uniform(6.0, 20.0)
        noise = Noise(level - snr_db, rng.uniform(0.5, 1.5), None, None)
        collection = "XC" if is_xc else "iNat"
        record_id = int(xc_ids[n] if is_xc else inat_ids[n])
        no_location = rng.random() < 0.03  # a few real rows lack coordinates
        metadata = dict(
            type=str(rng.choice(_CALL_TYPES)) if is_xc else "[]",
            latitude=np.nan if no_location else round(float(rng.uniform(-35.0, 45.0)), 4),
            longitude=np.nan if no_location else round(float(rng.uniform(-120.0, -35.0)), 4),
            author=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            license="cc-by-nc-sa 4.0" if is_xc else str(rng.choice(["cc-by 4.0", "cc-by-nc 4.0"])),
            rating=float(rng.choice(_XC_RATINGS, p=_XC_RATING_P)) if is_xc else 0.0,
            url=(
                f"https://xeno-canto.org/{record_id}"
                if is_xc
                else f"https://static.inaturalist.org/sounds/{record_id}.wav"
            ),
        )
        clips.append(
            FocalClip(
                species_index=species_index,
                filename=f"{sp.label}/{collection}{record_id}.ogg",
                collection=collection,
                n_samples=round(seconds * SAMPLE_RATE),
                noise=noise,
                calls=tuple(calls),
                peak=float(rng.uniform(0.3, 0.9)),
                secondary=tuple(secondary),
                corruption=None,
                metadata=metadata,
            )
        )
    clips.sort(key=lambda c: (species[c.species_index].label, c.filename))
    return _plant_corruption(clips, counts, size, seed)


def _plant_corruption(
    clips: list[FocalClip], counts: dict[int, int], size: SyntheticSize, seed: int
) -> tuple[FocalClip, ...]:
    """Mark a deterministic few clips broken, only in species that keep two good clips."""
    kinds = ["empty", "garbage", "truncated"] + (["silent"] if size.silent_clip else [])
    candidates = [n for n, c in enumerate(clips) if counts[c.species_index] >= len(kinds) + 2]
    if len(candidates) < len(kinds):
        raise ValueError(f"n_focal_clips={size.n_focal_clips} is too few to plant {kinds}")
    picked = stream_rng(seed, Stream.CORRUPT).choice(candidates, len(kinds), replace=False)
    clips = list(clips)
    for n, kind in zip(sorted(int(p) for p in picked), kinds):
        clips[n] = dataclasses.replace(clips[n], corruption=kind)
    return tuple(clips)
