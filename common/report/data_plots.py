"""Figures of nb01's data: class balance, clip durations, taxa, excluded files.

Each function returns a matplotlib Figure; :func:`common.report.plots.save_figure` writes it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd


def class_distribution(species_df: pd.DataFrame) -> plt.Figure:
    """Focal clips per species, sorted, log scale, coloured by taxon: shows the long tail."""
    df = species_df.sort_values("n_focal_clips", ascending=False)
    taxa = sorted(df["class_name"].unique())
    colours = {t: plt.cm.tab10(i % 10) for i, t in enumerate(taxa)}
    fig, ax = plt.subplots(figsize=(max(6, len(df) * 0.06), 3.5))
    ax.bar(range(len(df)), df["n_focal_clips"].clip(lower=0.8),
           color=[colours[t] for t in df["class_name"]], width=1.0)
    ax.set_yscale("log")
    ax.set_xlabel("species (sorted by focal clips)")
    ax.set_ylabel("focal clips")
    n_zero = int((df["n_focal_clips"] == 0).sum())
    ax.set_title(f"Class distribution ({len(df)} species, {n_zero} with no focal clip)")
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours[t]) for t in taxa],
              labels=taxa, fontsize=8, loc="upper right")
    return fig


def durations(train_df: pd.DataFrame) -> plt.Figure:
    """Histogram of focal-clip durations (seconds) and of their active share."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].hist(train_df["duration_seconds"], bins=40, color="tab:blue")
    axes[0].axvline(5, color="k", ls="--", lw=1)
    axes[0].set_xlabel("duration (s); dashed = 5-s window")
    axes[0].set_ylabel("clips")
    axes[1].hist(train_df["active_share"], bins=20, range=(0, 1), color="tab:green")
    axes[1].set_xlabel("share of active frames (energy VAD)")
    fig.suptitle("Focal clips: duration and activity")
    return fig


def taxon_counts(species_df: pd.DataFrame) -> plt.Figure:
    """Species and focal clips per taxonomic class."""
    grouped = species_df.groupby("class_name").agg(
        species=("primary_label", "count"), clips=("n_focal_clips", "sum"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    grouped["species"].plot.bar(ax=axes[0], color="tab:orange")
    axes[0].set_ylabel("species")
    grouped["clips"].plot.bar(ax=axes[1], color="tab:purple")
    axes[1].set_ylabel("focal clips")
    for ax in axes:
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Per taxon")
    fig.tight_layout()
    return fig


def bad_file_reasons(bad_df: pd.DataFrame) -> plt.Figure:
    """nb01: excluded files per kind and reason (the category: the reason's text before ``:``).

    Args:
        bad_df: ``bad_files.csv`` (``filename, kind, reason``); a file of kind ``stem`` (a part
            of a recording, e.g. ``vocals.wav``) is counted under its file name instead.
    """
    fig, ax = plt.subplots(figsize=(7, 3.0))
    if bad_df.empty:
        ax.text(0.5, 0.5, "no bad files", ha="center", va="center")
        ax.set_axis_off()
        return fig
    what = [Path(f).stem if k == "stem" else k for f, k in zip(bad_df["filename"],
                                                               bad_df["kind"])]
    table = pd.crosstab(pd.Series(what, name="file"),
                        bad_df["reason"].str.split(":").str[0].rename("reason"))
    table.plot.bar(stacked=True, ax=ax, rot=0)
    ax.set_xlabel("")
    ax.set_ylabel("files")
    ax.legend(fontsize=8, title="reason", title_fontsize=8)
    ax.set_title(f"Excluded files ({len(bad_df)}; all listed in bad_files.csv)", fontsize=9)
    fig.tight_layout()
    return fig


