"""Saving figures: the one place a matplotlib Figure becomes a PNG file.

The figures themselves are built by :mod:`common.report.data_plots` (nb01's data),
:mod:`common.report.training_plots` (nb02's training) and :mod:`common.report.prediction_plots`
(predictions, pseudo labels, confusion matrices); each returns a Figure that this module saves.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG (folders created), close it, and return the path.

    Closing keeps long runs from accumulating open figures; notebooks show the saved PNG.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path

