"""The plan: every random decision of a fake competition, made up front, cheaply, in one process.

Rendering (``render``) and the CSV files (``layout``) only read the plan, so both are
deterministic given ``(size, seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from devtools.synthetic.birdclef.clips import FocalClip, plan_focal_clips
from devtools.synthetic.birdclef.config import Stream, SyntheticSize, stream_rng
from devtools.synthetic.birdclef.soundscapes import Soundscape, plan_soundscapes
from devtools.synthetic.birdclef.species import Species, plan_species
from devtools.synthetic.birdclef.voices import VOICE_DRAWERS, Voice

_DISTRACTOR_CLASSES = ("Aves", "Amphibia", "Insecta")  # voices heard but never labelled


@dataclass(frozen=True)
class Plan:
    """Everything ``render`` and ``layout`` need; indices point into ``species``/``voices``."""

    species: tuple[Species, ...]  # taxonomy order: sorted by label as strings
    voices: tuple[Voice, ...]  # species voices, then distractor voices
    clips: tuple[FocalClip, ...]  # train.csv order
    soundscapes: tuple[Soundscape, ...]  # train then test, by file id
    confusable_pairs: tuple[tuple[str, str], ...]


def plan_competition(size: SyntheticSize, seed: int) -> Plan:
    """Every random decision of a fake competition; cheap, no audio rendered."""
    if size.n_test_soundscapes < 3:
        raise ValueError("n_test_soundscapes must be at least 3: sample_submission lists three")
    if not 1 <= size.n_labelled_soundscapes <= size.n_train_soundscapes:
        raise ValueError("need 1 <= n_labelled_soundscapes <= n_train_soundscapes")
    species, pairs = plan_species(size, seed)
    distractor_rng = stream_rng(seed, Stream.DISTRACTORS)
    distractors = tuple(VOICE_DRAWERS[c](distractor_rng) for c in _DISTRACTOR_CLASSES)
    voices = tuple(s.voice for s in species) + distractors
    clips = plan_focal_clips(species, size, seed)
    soundscapes = plan_soundscapes(species, voices, size, seed)
    return Plan(species, voices, clips, soundscapes, pairs)
