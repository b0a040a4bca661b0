"""Figures of nb02's training: learning curves, per-class AUC/F1 and the sweep leaderboard.

Each function returns a matplotlib Figure; :func:`common.report.plots.save_figure` writes it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def per_class_auc(per_class_df: pd.DataFrame, n_named: int = 12) -> plt.Figure:
    """nb02: out-of-fold AUC per species (soundscape windows and focal clips), by name.

    Each panel is a horizontal bar per species, worst at the top, coloured by taxon; with more
    than ``2 * n_named`` scored species only the worst and the best ``n_named`` are drawn (the
    title says how many are left out), so every bar carries a readable name.

    Args:
        per_class_df: ``primary_label, class_name, oof_soundscape_auc, oof_focal_auc``; NaN
            where a species has no positive among the validation rows (left out).
    """
    taxa = sorted(per_class_df["class_name"].astype(str).unique())
    colours = {t: plt.cm.tab10(i % 10) for i, t in enumerate(taxa)}
    panels = (("oof_soundscape_auc", "soundscape windows"), ("oof_focal_auc", "focal clips"))
    rows = min(2 * n_named, max(len(per_class_df), 1))
    fig, axes = plt.subplots(1, 2, figsize=(12, max(3.0, 0.22 * rows + 1.2)))
    for ax, (column, title) in zip(axes, panels):
        scored = per_class_df.dropna(subset=[column]).sort_values(column)
        shown = scored if len(scored) <= 2 * n_named else pd.concat(
            [scored.head(n_named), scored.tail(n_named)])
        y = np.arange(len(shown))
        ax.barh(y, shown[column], color=[colours[str(t)] for t in shown["class_name"]])
        ax.set_yticks(y, shown["primary_label"].astype(str).tolist(), fontsize=7)
        ax.invert_yaxis()  # worst first, as in the notebook's table
        ax.axvline(0.5, color="k", ls="--", lw=0.8)
        if len(shown) < len(scored):
            ax.axhline(n_named - 0.5, color="grey", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("OOF ROC-AUC")
        left_out = len(scored) - len(shown)
        ax.set_title(f"{title}: {len(scored)} of {len(per_class_df)} species scored"
                     + (f" ({left_out} middle ones not drawn)" if left_out else ""), fontsize=9)
    axes[1].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours[t]) for t in taxa],
                   labels=taxa, fontsize=7, loc="lower right")
    fig.suptitle("Per-class AUC (out of fold), worst first")
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
