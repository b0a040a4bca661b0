"""Showing tables and figures the same way in a notebook and in a script's log.

In a Jupyter kernel a table renders as HTML and a figure as an image; run as a script, the
same call prints the table as text and the figure's path, instead of ``<Image object>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from common.core.config import running_in_notebook


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
