"""What every notebook does first: resolve its stage config, start its log, show both.

One call instead of the same four lines in each notebook: the notebook's start time recorded
for the stage's deadline (:func:`common.budget.clock.mark_stage_start`), the config from the
parameters cell
(:func:`common.core.config.resolve_config`: task defaults, preset, ``OVERRIDES``, flags), the
log file ``<working_dir>/<notebook>.log`` (opened at its first record, so bad input leaves
nothing behind), the config as a table of what differs from the defaults, and the task's notes
for this notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from common.budget.clock import mark_stage_start
from common.core.config import resolve_config
from common.core.runtime import setup_logging
from common.report.show import show_config, show_markdown

C = TypeVar("C")

__all__ = ["start_stage"]


def start_stage(cls: type[C], notebook: str, preset: str, task: str, input_root: str,
                working_dir: str, overrides: dict[str, Any] | None = None,
                description: str = "") -> C:
    """The resolved config of a stage notebook (``notebook``: ``"nb01"``..``"nb04"``), with its
    log started and its config and task notes shown.

    ``preset``, ``task``, ``input_root``, ``working_dir`` and ``overrides`` are the notebook's
    parameters cell; command-line flags win over all of them when run as a script.
    """
    mark_stage_start()  # Kaggle's session clock runs from here, whatever the stage does next
    cfg = resolve_config(cls, preset, {"input_root": input_root, "working_dir": working_dir,
                                       **(overrides or {})},
                         task=task, description=description)
    setup_logging(Path(cfg.working_dir) / f"{notebook}.log")
    show_config(cfg)
    show_markdown(cfg.task_spec.notes(notebook))
    return cfg
