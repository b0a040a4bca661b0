"""Process-level set-up shared by the stages: logging, worker counts, seeds."""

from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path

import numpy as np

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LazyFileHandler(logging.FileHandler):
    """A file handler that creates its folder and file at the first record, not before: a stage
    that stops on bad input before logging anything leaves no log (nor folder) behind."""

    def __init__(self, filename: str | Path) -> None:
        super().__init__(filename, delay=True)

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Log to stderr (what a Kaggle log shows) and optionally to a file in the working dir.

    The file (and its folder) appear with the first record. Safe to call twice: handlers are
    replaced, not stacked, when a notebook cell is re-run.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_birdclef", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(_LazyFileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        handler._birdclef = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def cpu_count() -> int:
    """CPUs this process may use (respects container affinity, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows
        return max(1, os.cpu_count() or 1)


def resolve_workers(requested: int) -> int:
    """``requested`` if positive, else every available CPU."""
    return requested if requested > 0 else cpu_count()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
