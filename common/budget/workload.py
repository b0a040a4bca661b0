"""What the stages work on, in counts and seconds: :class:`Workload`.

One value feeds every stage's projection (:mod:`common.budget.model`). It comes from the real
competition's published sizes (:func:`workload_from_facts`, the task's ``kaggle_facts.json``)
or from a competition folder measured by the task
(:meth:`common.tasks.base.Task.measure_workload`: file counts, header durations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Workload", "workload_from_facts"]


@dataclass(frozen=True)
class Workload:
    """The work of one competition, as the budget sees it.

    ``clip_durations``: ``(clips,)`` seconds of each focal clip when measured; empty when only
    ``n_clips`` is known, and the cache projection then takes every clip to be at least as
    long as the cache keeps (an upper bound).
    """

    n_clips: int  # focal training clips
    decode_clip_seconds: float  # mean seconds nb01 decodes per clip (it decodes clips whole)
    n_soundscapes: int  # training soundscapes, labelled and not
    n_labelled_soundscapes: int
    soundscape_seconds: float  # length of one soundscape (train and test)
    n_test_files: int  # hidden test files nb04 predicts
    n_classes: int
    sample_rate: int  # Hz
    source: str  # where the figures come from, for the table
    clip_durations: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_unlabelled_soundscapes(self) -> int:
        return max(0, self.n_soundscapes - self.n_labelled_soundscapes)

    def windows_per_soundscape(self, window_seconds: float) -> int:
        """5-s windows in one soundscape (the last partial window counts)."""
        return int(np.ceil(self.soundscape_seconds / window_seconds))

    def clip_cache_seconds(self, keep_seconds: float | None) -> float:
        """Seconds of focal-clip audio a cache keeping ``keep_seconds`` per clip holds
        (``None``: whole clips; unknown durations: ``n_clips x keep_seconds``)."""
        if len(self.clip_durations):
            limit = np.inf if keep_seconds is None else keep_seconds
            return float(np.minimum(self.clip_durations, limit).sum())
        per_clip = self.decode_clip_seconds if keep_seconds is None else keep_seconds
        return float(self.n_clips * per_clip)


def workload_from_facts(facts: dict[str, Any], source: str) -> Workload:
    """A :class:`Workload` from a task's published sizes (``kaggle_facts.json`` values)."""
    return Workload(
        n_clips=int(facts["n_train_clips"]),
        decode_clip_seconds=float(facts["decode_clip_seconds"]),
        n_soundscapes=int(facts["n_train_soundscapes"]),
        n_labelled_soundscapes=int(facts["n_labelled_soundscapes"]),
        soundscape_seconds=float(facts["soundscape_seconds"]),
        n_test_files=int(facts["n_test_soundscapes"]),
        n_classes=int(facts["n_classes"]),
        sample_rate=int(facts["sample_rate"]),
        source=source,
        clip_durations=(np.full(int(facts["n_train_clips"]), float(facts["mean_clip_seconds"]))
                        if facts.get("mean_clip_seconds") else np.zeros(0)),
    )
