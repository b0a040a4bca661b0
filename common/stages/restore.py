"""A stage's previous output, attached as an input, copied back so a new session continues it.

A Kaggle notebook version starts with an empty ``/kaggle/working``: what an earlier session
finished (nb02's ``done`` folds, their checkpoints, the ``resume/`` state of a fold cut by the
12-hour limit) is gone unless it comes back as an input. ``python -m common.kaggle_push
--resume`` attaches the notebook's own latest output, which Kaggle mounts like any other
notebook output (``/kaggle/input/<stage slug>`` or ``notebooks/<owner>/<stage slug>``); a
dataset made of it may be attached instead as ``<stage slug>-resume`` (that one wins when both
are there). :func:`restore_previous_output` copies its files into the working dir before the
stage starts, and the stage's own resume logic does the rest (nb02: finished folds are skipped,
a cut fold reloads its resume state, :mod:`common.stages.train.resume`).

Files already in the working dir are kept (this session's log, anything newer); temporary files
of an interrupted write are not copied. Locally, where a stage's working dir *is*
``<input_root>/<slug>``, there is nothing to restore.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from common.core.paths import find_dataset_dir

log = logging.getLogger(__name__)

__all__ = ["RESUME_SUFFIX", "Restored", "previous_output_dir", "restore_previous_output"]

RESUME_SUFFIX = "-resume"


@dataclass(frozen=True)
class Restored:
    """What :func:`restore_previous_output` did: the source folder, the files copied (paths
    relative to the working dir), the files skipped because the working dir had them, bytes."""

    source: Path
    copied: tuple[str, ...]
    kept: tuple[str, ...]
    n_bytes: int


def previous_output_dir(input_root: str | Path, slug: str) -> Path | None:
    """The attached previous output of the stage publishing ``slug``: ``<slug>-resume`` first,
    then ``<slug>`` itself (a notebook's own output); ``None`` when neither is attached."""
    for name in (f"{slug}{RESUME_SUFFIX}", slug):
        try:
            return find_dataset_dir(input_root, name)
        except FileNotFoundError:
            continue
    return None


def _is_partial(path: Path) -> bool:
    """A temporary file of an atomic write that a kill interrupted (``.<name>.tmp``)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def restore_previous_output(input_root: str | Path, slug: str, working_dir: str | Path
                            ) -> Restored | None:
    """Copy the stage's previous output (see the module docstring) into ``working_dir``.

    Args:
        input_root: ``/kaggle/input`` or its local mirror.
        slug: the stage's own output slug (``<competition>-models`` for nb02).
        working_dir: where the stage writes; created if needed.

    Returns:
        What was restored, or ``None`` when no previous output is attached or it is the working
        dir itself.
    """
    source = previous_output_dir(input_root, slug)
    working_dir = Path(working_dir)
    if source is None:
        log.info("no previous output of %s attached (%s or %s%s under %s): starting fresh",
                 slug, slug, slug, RESUME_SUFFIX, input_root)
        return None
    if working_dir.exists() and source.resolve() == working_dir.resolve():
        return None
    copied, kept, n_bytes = [], [], 0
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not _is_partial(p)):
        relative = path.relative_to(source)
        target = working_dir / relative
        if target.exists():
            kept.append(str(relative))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # A copy, not a link: the working dir's files are appended to and replaced later.
        shutil.copy2(path, target)
        copied.append(str(relative))
        n_bytes += path.stat().st_size
    log.info("restored %d files (%.1f MB) of the previous output from %s%s", len(copied),
             n_bytes / 1e6, source, f"; kept this session's {len(kept)}" if kept else "")
    return Restored(source, tuple(copied), tuple(kept), n_bytes)
