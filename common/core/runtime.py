"""Process-level set-up shared by the stages: logging, worker counts, seeds."""

from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path

import numpy as np

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Log to stderr (what a Kaggle log shows) and optionally to a file in the working dir.

    Safe to call twice: handlers are replaced, not stacked, when a notebook cell is re-run.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_birdclef", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
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
