"""nb01's figures for the mashup task: songs and training mashups per genre and fold, and how
the mashups were made. Each function returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def genre_fold_counts(songs_df: pd.DataFrame, train_df: pd.DataFrame,
                      classes: list[str]) -> plt.Figure:
    """nb01 (messy-mashup): usable songs and training mashups per genre and fold.

    Args:
        songs_df: ``genre, song_id, fold, usable_stems`` (``songs_folds.csv``; ``""`` = a song
            with no usable stem, drawn hatched).
        train_df: ``primary_label, fold`` per training mashup (``train_folds.csv``).
        classes: genres in output order.

    A zero cell in the right panel means a fold cannot validate that genre.
    """
    folds = sorted(int(k) for k in songs_df["fold"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    x = np.arange(len(classes))
    bottom = np.zeros(len(classes))
    usable = songs_df["usable_stems"].fillna("") != ""
    for k in folds:
        in_fold = songs_df["fold"] == k
        good = songs_df[in_fold & usable]["genre"].value_counts()
        dead = songs_df[in_fold & ~usable]["genre"].value_counts()
        heights = np.array([good.get(c, 0) for c in classes], dtype=float)
        axes[0].bar(x, heights, bottom=bottom, label=f"fold {k}", color=plt.cm.tab10(k % 10))
        bottom += heights
        lost = np.array([dead.get(c, 0) for c in classes], dtype=float)
        if lost.any():
            axes[0].bar(x, lost, bottom=bottom, color="none", edgecolor="grey", hatch="//")
            bottom += lost
    axes[0].set_xticks(x, classes, rotation=45, ha="right", fontsize=8)
    axes[0].set_ylabel("songs")
    axes[0].set_title("Songs per genre and fold (hatched: no usable stem)", fontsize=9)
    axes[0].legend(fontsize=7)
    counts = np.array([[int(((train_df["fold"] == k) & (train_df["primary_label"] == c)).sum())
                        for c in classes] for k in folds])
    # vmax at twice the largest count keeps every cell light enough for its black number.
    image = axes[1].imshow(counts, aspect="auto", cmap="Greens", vmin=0,
                           vmax=2 * max(1, int(counts.max(initial=0))))
    for i in range(len(folds)):
        for j in range(len(classes)):
            axes[1].text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                         color="red" if counts[i, j] == 0 else "black")
    axes[1].set_xticks(x, classes, rotation=45, ha="right", fontsize=8)
    axes[1].set_yticks(range(len(folds)), [f"fold {k}" for k in folds], fontsize=8)
    axes[1].set_title(f"Training mashups per genre and fold ({len(train_df)} in all)",
                      fontsize=9)
    fig.colorbar(image, ax=axes[1], fraction=0.03)
    fig.tight_layout()
    return fig


def mashup_recipes(train_df: pd.DataFrame) -> plt.Figure:
    """nb01 (messy-mashup): how the training mashups were made.

    Histograms of the common target tempo (BPM), the music-to-noise SNR (dB; mashups without
    noise are counted in the title), the per-stem time-stretch rates (``stretch_rates``
    strings ``"drums:1.02;bass:0.97"``; rates pinned at the clamp show songs whose tempo was
    far from the target) and the stems per mashup (fewer than 4: a genre-fold lacks a stem
    type, e.g. instrumental songs with silent vocals).
    """
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.0))
    axes[0].hist(train_df["tempo_bpm"].astype(float), bins=20, color="tab:blue")
    axes[0].set_xlabel("target tempo (BPM)")
    axes[0].set_ylabel("mashups")
    snr = train_df["snr_db"].astype(float)
    axes[1].hist(snr.dropna(), bins=20, color="tab:orange")
    axes[1].set_xlabel("SNR (dB)")
    axes[1].set_title(f"{int(snr.isna().sum())} without noise", fontsize=8)
    rates = [float(part.split(":")[1]) for text in train_df["stretch_rates"].fillna("")
             for part in str(text).split(";") if ":" in part]
    axes[2].hist(rates, bins=30, color="tab:green")
    axes[2].set_xlabel("time-stretch rate per stem (>1 = faster)")
    stems = train_df["n_stems"].astype(int).value_counts().sort_index()
    axes[3].bar(stems.index.to_numpy(), stems.to_numpy(), color="tab:purple")
    axes[3].set_xticks(stems.index.to_numpy())
    axes[3].set_xlabel("stems per mashup")
    fig.suptitle(f"Training mashups ({len(train_df)})")
    fig.tight_layout()
    return fig
