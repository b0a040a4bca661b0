"""Planned calls: one record per call, and the scheduler that repeats a voice through a bout.

Shared by focal clips and soundscapes; the waveforms are rendered later, from these records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devtools.synthetic.birdclef.voices import Voice

_MAX_CALLS_PER_BOUT = 400  # bounds rendering cost of fast insect calls


@dataclass(frozen=True)
class Call:
    """One planned call of one voice in one recording."""

    voice_index: int  # into Plan.voices (species first, then distractors)
    start_seconds: float
    time_scale: float  # duration jitter, 0.85..1.15
    pitch: float  # pitch jitter, 0.95..1.05
    level_dbfs: float  # RMS of the call over its sounding part


def plan_calls(
    voice_index: int,
    voice: Voice,
    start_s: float,
    end_s: float,
    level_dbfs: float,
    rng: np.random.Generator,
) -> list[Call]:
    """Calls of one voice repeated from ``start_s`` until ``end_s`` (seconds)."""
    calls: list[Call] = []
    t = start_s + rng.uniform(0.0, min(0.5, voice.call_gap_seconds))
    while len(calls) < _MAX_CALLS_PER_BOUT:
        time_scale = rng.uniform(0.85, 1.15)
        if t + voice.call_seconds * time_scale > end_s:
            break
        calls.append(
            Call(
                voice_index,
                float(t),
                float(time_scale),
                float(rng.uniform(0.95, 1.05)),
                float(level_dbfs + rng.uniform(-3.0, 3.0)),
            )
        )
        t += voice.call_seconds * time_scale + voice.call_gap_seconds * rng.uniform(0.6, 1.4)
    if not calls and end_s - start_s >= voice.call_seconds * 0.85:
        calls.append(Call(voice_index, float(start_s), 0.85, 1.0, float(level_dbfs)))
    return calls
