"""What a fake mashup competition is: audio constants, the named sizes, and the random streams.

Every random decision draws from ``stream_rng(seed, Stream.X, *index)``, one generator per
purpose and item, so the output depends neither on the order of work nor on the worker count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

SAMPLE_RATE = 44_100  # Hz; stems and noise clips, like the real 44.1 kHz stems
COMPETITION_DIRNAME = "messy-mashup"
NOISE_CATEGORIES = ("dog", "rain", "traffic", "vacuum_cleaner", "crickets", "crying_baby")


class Stream(IntEnum):
    """Second entry of every rng key, so that no two purposes share random numbers."""

    SONG_PLAN = 1
    SONG_AUDIO = 2
    NOISE = 3
    CORRUPT = 4
    TEST_IDS = 5


def stream_rng(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """The generator of one purpose (``stream``) and item (``index``) under ``seed``."""
    return np.random.default_rng([seed, int(stream), *index])


@dataclass(frozen=True)
class MashupCompetitionSize:
    """How big a fake mashup competition is. See ``SIZES``."""

    n_train_songs_per_genre: int  # songs with stems in train/ (real: 100 per genre)
    n_test_songs_per_genre: int  # hidden songs whose stems make the test mashups
    n_test_per_genre: int  # test mashups per genre
    song_seconds: tuple[float, float]  # song length range, seconds (real: 30 s)
    n_noise_per_category: int  # noise clips in noise/ per ESC-50-like category
    n_hidden_noise_per_category: int  # other clips, used only by the test mashups
    n_corrupt_stems: int  # train stem files replaced by < 4 KB junk (undecodable or truncated)
    noise_seconds: float = 5.0  # ESC-50 clips are 5 s


SIZES: dict[str, MashupCompetitionSize] = {
    # Unit and end-to-end tests: 30 songs of ~6 s (130 MB of stems), 10 test clips; ~20 s of CPU.
    "tiny": MashupCompetitionSize(
        n_train_songs_per_genre=3,
        n_test_songs_per_genre=2,
        n_test_per_genre=1,
        song_seconds=(5.0, 7.0),
        n_noise_per_category=1,
        n_hidden_noise_per_category=1,
        n_corrupt_stems=2,
    ),
    # README demo and the feature baseline: 200 songs of 10-14 s (1.7 GB of stems, like the
    # real WAVs), 60 test clips; ~2 min of CPU.
    "demo": MashupCompetitionSize(
        n_train_songs_per_genre=20,
        n_test_songs_per_genre=6,
        n_test_per_genre=6,
        song_seconds=(10.0, 14.0),
        n_noise_per_category=4,
        n_hidden_noise_per_category=2,
        n_corrupt_stems=6,
    ),
}
