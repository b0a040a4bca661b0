"""When the notebook started, and the deadline counted from it.

Kaggle stops a session 12 h after the notebook started, not after a stage's current step
started. :func:`mark_stage_start` records the start once (``start_stage`` calls it first
thing in every notebook) in the environment, so training worker processes started later read
the same instant; :func:`stage_started_at` returns it; :class:`Deadline` turns it and a limit
into seconds left. Times are ``time.time()`` seconds (comparable across processes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["STARTED_AT_ENV", "Deadline", "mark_stage_start", "stage_started_at"]

STARTED_AT_ENV = "COMMON_STAGE_STARTED_AT"


def mark_stage_start(now: float | None = None) -> float:
    """Record ``now`` (default: the current ``time.time()``) as the notebook's start, in this
    process and every process it starts later. Returns it."""
    started = time.time() if now is None else float(now)
    os.environ[STARTED_AT_ENV] = repr(started)
    return started


def stage_started_at(default: float | None = None) -> float:
    """The notebook's start recorded by :func:`mark_stage_start`; ``default`` (or now) when
    none was recorded or the record is not a time in the past."""
    text = os.environ.get(STARTED_AT_ENV, "")
    try:
        started = float(text)
    except ValueError:
        started = float("nan")
    if started == started and 0 < started <= time.time():
        return started
    return time.time() if default is None else default


@dataclass(frozen=True)
class Deadline:
    """``hours`` after ``started_at`` (``time.time()`` seconds); ``hours <= 0``: none."""

    started_at: float
    hours: float
    clock: Callable[[], float] = time.time

    @classmethod
    def from_stage_start(cls, hours: float, clock: Callable[[], float] = time.time
                         ) -> Deadline:
        """The deadline ``hours`` after the notebook's recorded start."""
        return cls(stage_started_at(clock()), hours, clock)

    @property
    def enabled(self) -> bool:
        return self.hours > 0

    def elapsed_hours(self) -> float:
        return (self.clock() - self.started_at) / 3600

    def hours_left(self) -> float:
        """Hours until the deadline (``inf`` without one; negative once past)."""
        return self.hours - self.elapsed_hours() if self.enabled else float("inf")
