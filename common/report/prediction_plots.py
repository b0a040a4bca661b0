"""Figures of predictions: soundscape and clip predictions, pseudo-label confidence, confusions.

Each function returns a matplotlib Figure; :func:`common.report.plots.save_figure` writes it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


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




def student_gate_gains(samples: dict[str, np.ndarray], confidence: float, metric: str,
                       unit: str = "file", min_gain: float = 0.0) -> plt.Figure:
    """The gate's evidence: each student round's resampled out-of-fold gain over its teacher.

    Args:
        samples: per round name, ``(resamples,)`` gains (student minus teacher) on paired
            bootstrap resamples of the validation ``unit``s.
        confidence: the share of resamples a student must be ahead in; its (1 - confidence)
            quantile is marked on each histogram (a published student has it above 0).
        metric: the score's name, for the axis.
        min_gain: "ahead" means a gain above this.
    """
    fig, axes = plt.subplots(len(samples), 1, figsize=(6, 1.9 * len(samples) + 0.6),
                             sharex=True, squeeze=False)
    for ax, (name, gains) in zip(axes[:, 0], samples.items()):
        gains = np.asarray(gains, dtype=float)
        ahead = float(np.mean(gains > min_gain)) if len(gains) else float("nan")
        ax.hist(gains, bins=40, color="tab:green" if ahead >= confidence else "tab:gray",
                alpha=0.8)
        ax.axvline(min_gain, color="black", linewidth=1)
        if len(gains):
            ax.axvline(np.quantile(gains, 1 - confidence), color="tab:red", linestyle="--",
                       label=f"{1 - confidence:.0%} quantile")
        ax.set_title(f"{name}: ahead in {ahead:.0%} of {len(gains)} resamples of the "
                     f"validation {unit}s", fontsize=9)
        ax.set_ylabel("resamples")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel(f"student minus teacher, out-of-fold {metric}")
    fig.tight_layout()
    return fig
