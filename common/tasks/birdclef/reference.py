"""The simple reference nb02's CNN must beat: log-mel statistics + logistic regression.

Per fold, on exactly the CNN's data (:func:`common.stages.train.items.fold_data`: focal clips
and labelled soundscape windows of the other folds, repeats removed), each 5-s window becomes a
fixed vector: per mel band the mean, standard deviation and maximum over time of the CNN's own
frontend output (``(3 * n_mels,)``). One L2-regularised logistic regression per species
(one-vs-rest, standardised features) predicts the fold's held-out soundscape windows, which are
scored like the CNN's out-of-fold predictions. A recipe whose CNN does not beat this by a clear
margin is not learning what the spectrogram holds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from common.data.loaders import WindowDataset
from common.data.windows import WindowItems
from common.model.band_stats import band_statistics
from common.model.frontend import Frontend
from common.stages.train.items import audio_source, fold_data
from common.stages.train.validation import soundscape_auc

if TYPE_CHECKING:
    from common.data.prep_data import PrepData
    from common.stages.train.config import TrainConfig

__all__ = ["window_features", "fit_predict_logreg", "logreg_reference"]

log = logging.getLogger(__name__)

_C = 0.1  # inverse L2 strength; ~100 features and a few hundred rows per species need it


def window_features(cfg: TrainConfig, prep: PrepData, items: WindowItems,
                    batch_size: int = 64) -> np.ndarray:
    """``(rows, 3 * n_mels)`` float32: per mel band mean, std and max over the frames of each
    row's window (focal clips: the energy crop centred on the loudest stretch, no jitter)."""
    dataset = WindowDataset(items, audio_source(cfg, prep), cfg.frontend.clip_samples,
                            train=False, seed=cfg.seed)
    frontend = Frontend(cfg.frontend).eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(dataset), batch_size):
            wave = torch.stack([dataset[i]["wave"] for i in range(lo, min(lo + batch_size,
                                                                           len(dataset)))])
            out.append(band_statistics(frontend(wave.float())).numpy())
    return np.concatenate(out) if out else np.zeros((0, 3 * cfg.frontend.n_mels), np.float32)


def fit_predict_logreg(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                       seed: int = 0) -> np.ndarray:
    """One-vs-rest logistic regression on standardised features.

    Args:
        x_train: ``(rows, features)``; y_train: ``(rows, classes)`` targets, >= 0.5 positive.
        x_test: ``(test rows, features)``.

    Returns:
        ``(test rows, classes)`` probabilities; a class with no positive (or no negative) in
        training gets its training rate, a constant that ranks nothing.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    xs, xt = scaler.transform(x_train), scaler.transform(x_test)
    y = y_train >= 0.5
    probs = np.zeros((len(x_test), y.shape[1]), dtype=np.float32)
    for c in range(y.shape[1]):
        if y[:, c].all() or not y[:, c].any():
            probs[:, c] = float(y[:, c].mean())
            continue
        model = LogisticRegression(C=_C, max_iter=2000, random_state=seed)
        probs[:, c] = model.fit(xs, y[:, c]).predict_proba(xt)[:, 1]
    return probs


def _unique_rows(items: WindowItems) -> WindowItems:
    """Drop repeats (``soundscape_repeats``, ``extra_repeats``): a linear model gains nothing."""
    key = items.table_df[["key", "crop", "start_seconds"]].astype(str).agg("|".join, axis=1)
    return items.select(~key.duplicated().to_numpy())


def logreg_reference(cfg: TrainConfig, prep: PrepData, folds: list[int]
                     ) -> tuple[float, pd.DataFrame]:
    """Out-of-fold predictions of the reference on the held-out soundscape windows of
    ``folds``, and their macro ROC-AUC (NaN without a scored window).

    Returns:
        ``(oof_auc, oof_df)``; ``oof_df``: ``row_id``, one column per species, ``fold``.
    """
    parts, items_parts = [], []
    for fold in folds:
        data = fold_data(cfg, prep, fold)
        if not len(data.val_soundscapes):
            continue
        train = _unique_rows(data.train)
        probs = fit_predict_logreg(window_features(cfg, prep, train), train.targets,
                                   window_features(cfg, prep, data.val_soundscapes), cfg.seed)
        parts.append(pd.DataFrame(probs, columns=prep.classes).assign(
            row_id=data.val_soundscapes.table_df["row_id"].to_numpy(), fold=fold))
        items_parts.append(data.val_soundscapes)
        log.info("log-mel logistic regression, fold %d: %d training rows, soundscape AUC %.4f",
                 fold, len(train), soundscape_auc(data.val_soundscapes, probs, prep.classes))
    if not parts:
        return float("nan"), pd.DataFrame(columns=["row_id", *prep.classes, "fold"])
    oof_df = pd.concat(parts, ignore_index=True)[["row_id", *prep.classes, "fold"]]
    items = WindowItems.concat(items_parts, len(prep.classes))
    return soundscape_auc(items, oof_df[prep.classes].to_numpy(), prep.classes), oof_df
