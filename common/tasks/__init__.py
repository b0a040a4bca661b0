"""Competitions as task objects: what differs between two audio competitions, in one place.

A task (:class:`common.tasks.base.Task`) says, for one Kaggle competition, how its labels are
read, how training and validation windows are cut, which loss, activation and metric apply, how
predictions become submission rows, how pseudo labels are chosen, and its defaults for each
stage. The stages call it; they never ask which competition they run.

- ``base``: the :class:`Task` interface and what every task shares;
- ``birdclef/``: BirdCLEF+ 2026 (multi-label, a row per 5-s window of 60-s soundscapes);
- ``mashup/``: messy mashup (one music genre per 30-s clip, feature-model blend).

A third competition is a new sub-package here plus its entry in ``_REGISTRY`` (and, for local
development, a synthetic generator under ``devtools/synthetic/``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from common.tasks.base import Task

# name -> module holding its ``TASK``; imported on first use, so that asking for a task's name
# or slugs costs no torch import and the stages' building blocks can import the task modules.
_REGISTRY = {
    "birdclef-2026": "common.tasks.birdclef",
    "messy-mashup": "common.tasks.mashup",
}
DEFAULT_TASK = "birdclef-2026"


def task_names() -> tuple[str, ...]:
    """The registered task names (Kaggle competition slugs), default first."""
    return tuple(_REGISTRY)


def get_task(name: str) -> Task:
    """The registered task called ``name``; unknown names list the valid ones."""
    try:
        module = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; choose one of {', '.join(_REGISTRY)}") from None
    return importlib.import_module(module).TASK
