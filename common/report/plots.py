"""Figures the notebooks show and save as PNG. Each function returns a matplotlib Figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG (folders created), close it, and return the path.

    Closing keeps long runs from accumulating open figures; notebooks show the saved PNG.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


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


def per_class_auc(per_class_df: pd.DataFrame) -> plt.Figure:
    """nb02: out-of-fold AUC per species (soundscape windows and focal clips), sorted.

    Args:
        per_class_df: ``primary_label, class_name, oof_soundscape_auc, oof_focal_auc``; NaN
            where a species has no positive among the validation rows.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    taxa = sorted(per_class_df["class_name"].astype(str).unique())
    colours = {t: plt.cm.tab10(i % 10) for i, t in enumerate(taxa)}
    for ax, column, title in ((axes[0], "oof_soundscape_auc", "soundscape windows"),
                              (axes[1], "oof_focal_auc", "focal clips")):
        df = per_class_df.dropna(subset=[column]).sort_values(column)
        ax.bar(range(len(df)), df[column], width=1.0,
               color=[colours[str(t)] for t in df["class_name"]])
        ax.axhline(0.5, color="k", ls="--", lw=0.8)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"species with a positive ({len(df)} of {len(per_class_df)})")
        ax.set_ylabel("OOF ROC-AUC")
        ax.set_title(title)
    axes[1].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours[t]) for t in taxa],
                   labels=taxa, fontsize=7, loc="lower right")
    fig.suptitle("Per-class AUC (out of fold)")
    fig.tight_layout()
    return fig


def soundscape_predictions(probs, classes: list[str], title: str = "", top_k: int = 15,
                           window_seconds: int = 5) -> plt.Figure:
    """Predicted probability of the ``top_k`` species (by peak) over one soundscape's windows.

    Args:
        probs: ``(windows, classes)`` probabilities of one file, windows in time order.
        classes: species labels, the columns of ``probs``.

    A heatmap (species x time, 0-1 colour scale) to eyeball detections: a real call shows as
    a bright run of neighbouring windows, a false positive as an isolated cell.
    """
    import numpy as np

    probs = np.asarray(probs, dtype=float)
    k = min(top_k, probs.shape[1])
    order = np.argsort(-probs.max(axis=0), kind="stable")[:k]
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * probs.shape[0] + 2), 0.28 * k + 1.5))
    image = ax.imshow(probs[:, order].T, aspect="auto", vmin=0, vmax=1, cmap="magma",
                      interpolation="nearest")
    ax.set_yticks(range(k), [str(classes[j]) for j in order], fontsize=7)
    ends = [(i + 1) * window_seconds for i in range(probs.shape[0])]
    ax.set_xticks(range(len(ends)), [str(e) for e in ends], fontsize=7)
    ax.set_xlabel("window end (s)")
    ax.set_title(f"{title}: top {k} species by peak probability", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03, label="probability")
    return fig


def confidence_histogram(confidence, threshold: float = 0.5, title: str = "",
                         unit: str = "window") -> plt.Figure:
    """Histogram of the teacher's top-class probability per pseudo-labelled window.

    ``confidence`` ``(windows,)`` in [0, 1]; the threshold of the hard-label view is drawn, and
    the counts are on a log scale (most windows of field audio are near 0). ``unit`` names
    what was scored (``"clip"`` for whole-clip tasks: one top softmax probability per clip,
    the threshold being the pseudo-label confidence cut).
    """
    values = np.asarray(confidence, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(values, bins=np.linspace(0.0, 1.0, 41), color="tab:blue", alpha=0.8)
    ax.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel(f"top-class probability of the {unit}")
    ax.set_ylabel(f"{unit}s")
    kept = int((values >= threshold).sum())
    ax.set_title(f"Pseudo-label confidence {title}: {kept} of {len(values)} {unit}s >= "
                 f"{threshold:g}".replace("  ", " "))
    ax.legend(fontsize=8)
    return fig


def pseudo_clip_counts(counts_df: pd.DataFrame, min_confidence: float, title: str = ""
                       ) -> plt.Figure:
    """nb03 (whole-clip tasks): clips per class, as the teacher predicted them and as kept.

    Args:
        counts_df: ``primary_label``, ``n_scored`` (clips whose arg-max is the class) and
            ``n_clips`` (those pseudo-labelled: top probability >= ``min_confidence``).

    A class the teacher is rarely sure about gets few pseudo labels: the students then see the
    test domain mostly through the other classes.
    """
    labels = counts_df["primary_label"].astype(str).tolist()
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(labels) + 2), 3.4))
    ax.bar(x - 0.2, counts_df["n_scored"].astype(int), 0.4, color="tab:gray",
           label="teacher's arg-max (every scored clip)")
    ax.bar(x + 0.2, counts_df["n_clips"].astype(int), 0.4, color="tab:blue",
           label=f"pseudo-labelled (top probability >= {min_confidence:g})")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("clips")
    ax.legend(fontsize=8)
    kept, scored = int(counts_df["n_clips"].sum()), int(counts_df["n_scored"].sum())
    ax.set_title(f"Pseudo labels per class {title}: {kept} of {scored} clips".replace("  ", " "))
    fig.tight_layout()
    return fig


def sweep_leaderboard(leaderboard_df: pd.DataFrame, label_columns: list[str]) -> plt.Figure:
    """CV macro AUC (mean +- std over folds) per finished sweep run, best at the top.

    ``label_columns`` are the swept keys; each bar is labelled with their values.
    """
    df = leaderboard_df[leaderboard_df["status"] == "ok"].sort_values("cv_auc_mean")
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(df) + 1)))
    labels = [", ".join(f"{c}={row[c]}" for c in label_columns) for _, row in df.iterrows()]
    ax.barh(range(len(df)), df["cv_auc_mean"], xerr=df["cv_auc_std"].fillna(0.0),
            color="tab:green", alpha=0.8)
    ax.set_yticks(range(len(df)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("CV macro ROC-AUC (soundscape windows)")
    if len(df):
        low = float((df["cv_auc_mean"] - df["cv_auc_std"].fillna(0.0)).min())
        ax.set_xlim(max(0.0, low - 0.02), 1.0)
    n_failed = int((leaderboard_df["status"] != "ok").sum())
    ax.set_title(f"Sweep leaderboard ({len(df)} runs" + (f", {n_failed} failed)" if n_failed
                                                          else ")"))
    return fig


def confusion_matrix(y_true, y_pred, classes: list[str], title: str = "",
                     normalize: bool = True) -> plt.Figure:
    """Confusion matrix of single-label predictions (rows: true class, columns: predicted).

    Args:
        y_true, y_pred: ``(rows,)`` int class indices into ``classes``.
        normalize: show each row as shares of its true class (recall on the diagonal), with the
            counts written in the cells; ``False`` colours by count.

    The title carries the accuracy and macro F1, so two models' figures compare at a glance.
    """
    from sklearn.metrics import f1_score

    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    n = len(classes)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.5 * n + 2))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                dark = shown[i, j] > (0.5 if normalize else counts.max() / 2)
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), [str(c) for c in classes], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = float((y_true == y_pred).mean()) if len(y_true) else float("nan")
    f1 = float(f1_score(y_true, y_pred, average="macro", zero_division=0.0)) if len(y_true) \
        else float("nan")
    ax.set_title(f"{title} accuracy {accuracy:.3f}, macro F1 {f1:.3f}".strip(), fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true class" if normalize
                 else "clips")
    fig.tight_layout()
    return fig


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


def bad_file_reasons(bad_df: pd.DataFrame) -> plt.Figure:
    """nb01 (messy-mashup): excluded files per stem type (or kind) and reason.

    Args:
        bad_df: ``bad_files.csv`` (``filename, kind, reason``); a stem's type is its file name
            (``vocals.wav`` -> vocals), the reason's category the text before ``:``.
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


def clip_predictions(labels, top_probability, classes: list[str], title: str = "") -> plt.Figure:
    """Whole-clip predictions: clips per predicted class, and how sure the arg-max was.

    Args:
        labels: ``(clips,)`` predicted class label of each clip (strings from ``classes``).
        top_probability: ``(clips,)`` the arg-max class's probability, in [0, 1].
        classes: every class in output order (classes never predicted show as empty bars).

    A test set drawn evenly from the classes should give bars of similar height; one class
    swallowing the others is a calibration or domain problem worth a look before submitting.
    """
    labels = [str(label) for label in labels]
    top = np.asarray(top_probability, dtype=float)
    counts = [labels.count(str(c)) for c in classes]
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 0.5 * len(classes) + 5), 3.4),
                             gridspec_kw={"width_ratios": [1.4, 1]})
    axes[0].bar(range(len(classes)), counts, color="tab:blue")
    if counts and sum(counts):
        axes[0].axhline(sum(counts) / len(classes), color="k", ls="--", lw=1,
                        label="even share")
        axes[0].legend(fontsize=8)
    axes[0].set_xticks(range(len(classes)), [str(c) for c in classes], rotation=45, ha="right",
                       fontsize=8)
    axes[0].set_ylabel("clips")
    axes[0].set_title(f"Predicted class of {len(labels)} clips", fontsize=9)
    axes[1].hist(top, bins=np.linspace(0.0, 1.0, 21), color="tab:green")
    if classes:
        axes[1].axvline(1.0 / len(classes), color="k", ls="--", lw=1, label="chance (1/classes)")
        axes[1].legend(fontsize=8)
    axes[1].set_xlabel("top-class probability of the clip")
    axes[1].set_ylabel("clips")
    median = float(np.median(top)) if top.size else float("nan")
    axes[1].set_title(f"Confidence (median {median:.2f})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(log_df: pd.DataFrame, panels: dict[str, str],
                    reference_lines: dict[str, float] | None = None) -> plt.Figure:
    """nb02: one panel per ``training_log.csv`` column, one line per fold, against the epoch.

    Args:
        log_df: ``fold, epoch`` and the columns named in ``panels``.
        panels: ``{column: panel title}``, in panel order (e.g. the training loss and the
            validation scores).
        reference_lines: ``{column: value}`` drawn as a dashed line on that panel (e.g. 0.5,
            the AUC of a random ranking).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for ax, (column, title) in zip(axes[0], panels.items()):
        for fold, rows in log_df.groupby("fold"):
            ax.plot(rows["epoch"], rows[column], marker="o", ms=3, label=f"fold {fold}")
        if column in (reference_lines or {}):
            ax.axhline(reference_lines[column], color="k", ls="--", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Learning curves")
    fig.tight_layout()
    return fig


def per_class_f1(per_class_df: pd.DataFrame) -> plt.Figure:
    """nb02 (single-label tasks): out-of-fold F1 per class, one bar per model.

    Args:
        per_class_df: ``primary_label`` and one ``f1_<model>`` column per model, in [0, 1].
    """
    models = [c[len("f1_"):] for c in per_class_df.columns if str(c).startswith("f1_")]
    labels = per_class_df["primary_label"].astype(str).tolist()
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(labels) + 2), 3.4))
    x = np.arange(len(labels))
    for i, model in enumerate(models):
        ax.bar(x + (i - (len(models) - 1) / 2) * width, per_class_df[f"f1_{model}"], width,
               label=model, color=plt.cm.tab10(i % 10))
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("OOF F1")
    ax.legend(fontsize=8, ncol=len(models))
    ax.set_title("Per-class F1 (out of fold)")
    fig.tight_layout()
    return fig
