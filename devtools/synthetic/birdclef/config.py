"""What a fake competition is: audio constants, the named sizes, and the random streams.

Every random decision of the generator draws from ``stream_rng(seed, Stream.X, *index)``, so
each purpose (taxonomy, one focal clip, one soundscape's audio, ...) has its own generator and
the output depends on neither the order of work nor the number of worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

SAMPLE_RATE = 32_000  # Hz; every real competition file is 32 kHz
WINDOW_SECONDS = 5  # length of one scored window, seconds
COMPETITION_DIRNAME = "birdclef-2026"
CLASS_NAMES = ("Aves", "Amphibia", "Insecta", "Mammalia", "Reptilia")


class Stream(IntEnum):
    """Second entry of every rng key, so that no two purposes share random numbers."""

    TAXONOMY = 1
    FOCAL_COUNTS = 2
    FOCAL_CLIP = 3
    FOCAL_AUDIO = 4
    CORRUPT = 5
    SITES = 6
    SOUNDSCAPE = 7
    SOUNDSCAPE_AUDIO = 8
    DISTRACTORS = 9
    LABELLED = 10


def stream_rng(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """The generator of one purpose (``stream``) and item (``index``) under ``seed``."""
    return np.random.default_rng([seed, int(stream), *index])


@dataclass(frozen=True)
class SyntheticSize:
    """How big a fake competition is. See ``SIZES`` for the named sizes."""

    n_species: int  # taxonomy rows (real: 234); at least 8
    n_focal_clips: int  # rows of train.csv = files in train_audio, planted corrupt files included
    n_train_soundscapes: int  # files in train_soundscapes, labelled and unlabelled
    n_labelled_soundscapes: int  # of those, how many appear in train_soundscapes_labels.csv
    n_test_soundscapes: int  # files in test_soundscapes (the hidden test set); at least 3
    min_clip_seconds: float = 3.0  # shortest focal clip (real: many frog clips are under 5 s)
    max_clip_seconds: float = 15.0  # longest focal clip (real XC clips reach 120 s)
    soundscape_seconds: float = 60.0  # real soundscapes are one minute, 12 windows
    n_sites: int = 3  # recorder sites; each has its own noise floor, weather and species mix
    soundscape_only_fraction: float = 0.1  # species without focal clips (real: 28 of 234)
    n_confusable_pairs: int = 1  # species pairs whose calls differ only slightly
    silent_clip: bool = False  # also plant an all-zero clip among the focal clips


SIZES: dict[str, SyntheticSize] = {
    # Unit and end-to-end tests: ~18 min of audio (6.5 min of clips), ~16 s of CPU, 10 MB.
    "tiny": SyntheticSize(
        n_species=12,
        n_focal_clips=50,
        n_train_soundscapes=7,
        n_labelled_soundscapes=3,
        n_test_soundscapes=4,
    ),
    # README demo and the cpu preset. The real competition's proportion of labelled soundscapes
    # (~66 files, ~13 per fold of 5): with 2 per fold (24 windows) CV could not rank two runs
    # or choose an epoch; 13 per fold give 156 scored windows per fold.
    "demo": SyntheticSize(
        n_species=28,
        n_focal_clips=320,
        n_train_soundscapes=80,
        n_labelled_soundscapes=66,
        n_test_soundscapes=12,
        min_clip_seconds=2.0,
        max_clip_seconds=45.0,
        n_sites=5,
        n_confusable_pairs=3,
        silent_clip=True,
    ),
}
