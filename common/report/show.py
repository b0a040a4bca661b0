"""Showing tables and figures the same way in a notebook and in a script's log.

In a Jupyter kernel a table renders as HTML and a figure as an image; run as a script, the
same call prints the table as text and the figure's path, instead of ``<Image object>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from common.core.config import apply_preset, default_config, flatten, running_in_notebook


def show_table(df: pd.DataFrame, max_rows: int = 30, title: str = "") -> None:
    """Display ``df`` (HTML in a notebook, aligned text in a script), at most ``max_rows``.

    A table without rows prints one line saying so (with its columns), in both modes.
    """
    if title:
        print(title)
    if df.empty:
        print(f"(no rows; columns: {', '.join(map(str, df.columns))})")
        return
    if running_in_notebook():
        from IPython.display import display

        display(df.head(max_rows) if len(df) > max_rows else df)
        return
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(df.to_string(max_rows=max_rows))


def show_figures(paths: Iterable[str | Path]) -> None:
    """Display saved PNG figures in a notebook; print their paths in a script."""
    if running_in_notebook():
        from IPython.display import Image, display

        for path in paths:
            display(Image(filename=str(path)))
        return
    for path in paths:
        print(f"figure: {path}")


def config_changes(config: Any) -> list[dict[str, Any]]:
    """What a resolved stage config changed from its class defaults, and what changed it.

    Returns one ``{"parameter", "value", "default", "set by"}`` row per leaf field whose value
    differs from the class default, ``set by`` being ``task`` (the task's defaults), ``preset``
    or ``overrides`` (the notebook's ``OVERRIDES`` or a flag), in field order. The stage's
    ``preset`` and ``task`` fields are left out: they name the sources.
    """
    cls = type(config)
    base = flatten(cls())
    final = flatten(config)
    task = getattr(config, "task", None)
    by_task = flatten(default_config(cls, task)) if task else base
    preset = getattr(config, "preset", "default")
    by_preset = flatten(apply_preset(cls, preset, task)) if task else by_task
    rows = []
    for name, value in final.items():
        if name in ("preset", "task") or value == base.get(name):
            continue
        source = ("overrides" if value != by_preset.get(name) else
                  "preset" if value != by_task.get(name) else "task")
        rows.append({"parameter": name, "value": _shown(value),
                     "default": _shown(base.get(name)), "set by": source})
    return rows


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def show_config(config) -> None:
    """Show a stage config as the table of values that differ from the defaults.

    One row per changed parameter (value, class default, and whether the task, the preset or
    the notebook's overrides/flags set it), headed by the stage, task and preset.
    """
    rows = config_changes(config)
    title = (f"{type(config).__name__}: task {getattr(config, 'task', '-')}, preset "
             f"{getattr(config, 'preset', '-')}; {len(rows)} values differ from the defaults "
             "(--help lists every parameter)")
    table = pd.DataFrame(rows, columns=["parameter", "value", "default", "set by"])
    show_table(table.set_index("parameter"), max_rows=200, title=title)


def show_markdown(text: str) -> None:
    """Show prose: rendered Markdown in a notebook, the plain text in a script's log."""
    if not text:
        return
    if running_in_notebook():
        from IPython.display import Markdown, display

        display(Markdown(text))
        return
    print(text)


def show_report(report: dict[str, Any], output_dir: str | Path | None = None,
                title: str = "Summary") -> None:
    """Show a stage's ``report`` as a two-column table (nested values as compact text), then
    where its outputs are; the same closing cell in every notebook."""
    rows = [{"item": key, "value": _compact(value)} for key, value in report.items()]
    show_table(pd.DataFrame(rows, columns=["item", "value"]).set_index("item"),
               max_rows=200, title=title)
    if output_dir is not None:
        print(f"outputs in {output_dir}")


def _compact(value: Any, width: int = 100) -> str:
    text = _shown(value) if not isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."
