"""The mashup feature baseline, part 2: sklearn models on the clip features, OOF, blend weights.

The winning write-up's first model, kept as a strong, fast, comparable baseline: ~200 numbers per
30-s clip (:mod:`common.tasks.mashup.features`), a logistic regression and a tree ensemble,
out-of-fold predictions on the same folds as the CNN, and a blend whose weights are chosen on
those predictions.

Models (:data:`MODEL_BUILDERS`): ``logreg`` (StandardScaler + multinomial logistic regression)
and ``extra_trees`` (ExtraTreesClassifier), the default pair, and ``hgb``
(HistGradientBoostingClassifier; optional: slower, and no better with a few hundred rows).
Out-of-fold (OOF) predictions follow the pipeline's fold convention: a row of fold ``k`` is
predicted by the model trained on every other fold; rows with a negative fold are always trained
on and never predicted (their OOF rows are NaN).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "MODEL_BUILDERS",
    "FeatureModels",
    "blend",
    "blend_weights",
    "nested_blend_weights",
    "encode_labels",
    "fit_feature_models",
    "fit_final_feature_models",
    "macro_f1_probs",
    "predict_feature_models",
]


# ---------------------------------------------------------------------------------------------
# Models and out-of-fold predictions.


def _logreg(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # C=0.5: a little more regularisation than sklearn's 1.0 for ~200 correlated features.
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=3000))


def _hgb(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Small trees, 150 rounds (one tree per class per round: 1,500 trees for ten genres), and
    # leaves of 5 rows so that a few hundred mashups can still be split. Slower than the extra
    # trees by ~10x on CPU and no better on small data: not in the default model list.
    return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=150, max_leaf_nodes=15,
                                          min_samples_leaf=5, l2_regularization=1.0,
                                          early_stopping=False, random_state=seed)


def _extra_trees(seed: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier

    # 500 fully grown trees on sqrt(194) ~ 14 features per split: robust with few rows, seconds
    # to fit; n_jobs=1 because the folds and the feature workers already fill the cores.
    return ExtraTreesClassifier(n_estimators=500, max_features="sqrt", random_state=seed,
                                n_jobs=1)


MODEL_BUILDERS: dict[str, Callable[[int], Any]] = {
    "logreg": _logreg, "hgb": _hgb, "extra_trees": _extra_trees,
}


@dataclass
class FeatureModels:
    """Fitted per-fold models and their out-of-fold probabilities."""

    classes: list[str]
    oof: dict[str, np.ndarray]  # model -> (rows, classes), NaN rows where not validated
    fold_models: dict[str, dict[int, Any]]  # model -> fold -> estimator (trained without fold)
    scores_df: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, fold, macro_f1, ...


def encode_labels(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """``(rows,)`` int64 class indices of string ``labels``; an unknown label raises."""
    index = {str(c): i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in labels} - set(index))
    if unknown:
        raise ValueError(f"labels {unknown[:10]} are not among the classes {list(classes)[:20]}")
    return np.array([index[str(v)] for v in labels], dtype=np.int64)


def _full_proba(estimator: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all ``n_classes`` columns (a fold may lack a class)."""
    proba = estimator.predict_proba(X)
    out = np.zeros((X.shape[0], n_classes))
    out[:, np.asarray(estimator.classes_, dtype=int)] = proba
    return out


def macro_f1_probs(y: np.ndarray, probs: np.ndarray) -> float:
    """Macro F1 of the arg-max of ``probs`` ``(rows, classes)`` against int labels ``y``."""
    from sklearn.metrics import f1_score

    return float(f1_score(y, np.argmax(probs, axis=1), average="macro", zero_division=0.0))


def fit_feature_models(X: np.ndarray, y: np.ndarray, folds: np.ndarray, classes: Sequence[str],
                       models: Sequence[str] = ("logreg", "extra_trees"), seed: int = 0
                       ) -> FeatureModels:
    """Out-of-fold predictions of each model, one fit per (model, fold).

    Args:
        X: ``(rows, features)``.
        y: ``(rows,)`` int class indices into ``classes`` (see :func:`encode_labels`).
        folds: ``(rows,)`` int; fold ``k >= 0`` rows are predicted by the model trained on the
            rows of every other fold (negative folds included); negative-fold rows are never
            predicted.
        classes: class labels, the columns of the probabilities.
        models: keys of :data:`MODEL_BUILDERS`.

    Returns:
        :class:`FeatureModels`; ``scores_df`` has one row per (model, fold) with the fold's
        ``macro_f1`` and ``accuracy``, plus a ``fold = "oof"`` row per model over all OOF rows.
    """
    from sklearn.metrics import accuracy_score

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    folds = np.asarray(folds, dtype=np.int64)
    if not (len(X) == len(y) == len(folds)):
        raise ValueError(f"X, y and folds differ in length: {len(X)}, {len(y)}, {len(folds)}")
    if (y < 0).any() or (y >= len(classes)).any():
        raise ValueError(f"y must hold class indices in [0, {len(classes)})")
    unknown = [m for m in models if m not in MODEL_BUILDERS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {sorted(MODEL_BUILDERS)}")
    fold_ids = sorted(int(k) for k in np.unique(folds) if k >= 0)
    if len(fold_ids) < 2 and not (folds < 0).any():
        raise ValueError("need at least two folds (or always-train rows) for OOF predictions")
    result = FeatureModels(list(classes), {}, {})
    rows = []
    for name in models:
        oof = np.full((len(X), len(classes)), np.nan)
        result.fold_models[name] = {}
        for k in fold_ids:
            train, val = folds != k, folds == k
            estimator = MODEL_BUILDERS[name](seed).fit(X[train], y[train])
            oof[val] = _full_proba(estimator, X[val], len(classes))
            result.fold_models[name][k] = estimator
            f1 = macro_f1_probs(y[val], oof[val])
            accuracy = float(accuracy_score(y[val], oof[val].argmax(axis=1)))
            rows.append({"model": name, "fold": str(k), "n_rows": int(val.sum()),
                         "macro_f1": f1, "accuracy": accuracy})
            log.info("%s fold %d: %d train rows, %d val rows, macro F1 %.4f, accuracy %.4f",
                     name, k, int(train.sum()), int(val.sum()), f1, accuracy)
        scored = ~np.isnan(oof).any(axis=1)
        rows.append({"model": name, "fold": "oof", "n_rows": int(scored.sum()),
                     "macro_f1": macro_f1_probs(y[scored], oof[scored]),
                     "accuracy": float(accuracy_score(y[scored], oof[scored].argmax(axis=1)))})
        result.oof[name] = oof
    result.scores_df = pd.DataFrame(rows)
    return result


def fit_final_feature_models(X: np.ndarray, y: np.ndarray, classes: Sequence[str],
                             models: Sequence[str] = ("logreg", "extra_trees"), seed: int = 0,
                             n_jobs: int = 1) -> FeatureModels:
    """Each model fitted once on every row (no fold held out): the models nb04 predicts with.

    The out-of-fold fits of :func:`fit_feature_models` chose the blend weights; refitting on all
    rows uses every training mashup for the test predictions, as the CNN folds together do.
    Deterministic for a given ``seed`` (fixed ``random_state``; logistic regression's solver is
    deterministic). ``n_jobs`` parallelises the fit of ``extra_trees`` without changing the trees
    (each tree's seed is drawn up front); predictions then run in one thread.

    Returns:
        :class:`FeatureModels` with ``fold_models[name] = {-1: estimator}`` and no OOF, so
        :func:`predict_feature_models` applies unchanged.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(X) != len(y) or not len(X):
        raise ValueError(f"X and y must be non-empty and of one length, got {len(X)}, {len(y)}")
    if (y < 0).any() or (y >= len(classes)).any():
        raise ValueError(f"y must hold class indices in [0, {len(classes)})")
    unknown = [m for m in models if m not in MODEL_BUILDERS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {sorted(MODEL_BUILDERS)}")
    result = FeatureModels(list(classes), {}, {})
    for name in models:
        estimator = MODEL_BUILDERS[name](seed)
        parallel = "n_jobs" in estimator.get_params()
        if parallel:
            estimator.set_params(n_jobs=n_jobs)
        estimator.fit(X, y)
        if parallel:
            # Threads would sum the trees' votes in completion order: predict in one thread,
            # so the probabilities are the same bit for bit on every run.
            estimator.set_params(n_jobs=1)
        result.fold_models[name] = {-1: estimator}
        log.info("%s fitted on all %d rows", name, len(X))
    return result


def predict_feature_models(models: FeatureModels, X: np.ndarray) -> dict[str, np.ndarray]:
    """Test probabilities of each model: the mean over its fold models, ``(rows, classes)``."""
    X = np.asarray(X, dtype=np.float64)
    n_classes = len(models.classes)
    return {name: np.mean([_full_proba(est, X, n_classes) for est in per_fold.values()], axis=0)
            for name, per_fold in models.fold_models.items()}


# ---------------------------------------------------------------------------------------------
# Blending.


def blend(probs_list: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """``sum_m weights[m] * probs_list[m]``, ``(rows, classes)``."""
    if len(probs_list) != len(weights):
        raise ValueError(f"{len(probs_list)} predictions but {len(weights)} weights")
    return sum(w * np.asarray(p, dtype=np.float64) for w, p in zip(weights, probs_list))


def _simplex_grid(n_models: int, step: float) -> np.ndarray:
    """Every weight vector with entries in multiples of ``step`` summing to 1, ``(G, M)``."""
    n = int(round(1.0 / step))
    if abs(n * step - 1.0) > 1e-9:
        raise ValueError(f"step {step} must divide 1 (e.g. 0.05, 0.1, 0.25)")
    # Compositions of n into n_models parts: choose the cut points among n + M - 1 slots.
    grid = []
    for cuts in itertools.combinations(range(n + n_models - 1), n_models - 1):
        edges = (-1, *cuts, n + n_models - 1)
        grid.append([edges[i + 1] - edges[i] - 1 for i in range(n_models)])
    return np.array(grid, dtype=float) / n


def blend_weights(oof_list: Sequence[np.ndarray], y: np.ndarray, objective: str = "macro_f1",
                  step: float = 0.05) -> np.ndarray:
    """Blend weights chosen on out-of-fold predictions: an exhaustive grid over the simplex.

    Every weight vector with entries in multiples of ``step`` summing to one is scored on the
    rows every model predicted (no NaN):

    - ``"macro_f1"`` (the competition metric): the arg-max macro F1 of the blend; since F1 is a
      step function of the weights, ties (common) go to the lower log-loss, i.e. the better
      calibrated blend among the equally accurate ones;
    - ``"log_loss"``: the multi-class log-loss only (smoother, less prone to fit OOF noise
      when there are few rows per class).

    A grid rather than an optimiser: with 2-4 models at step 0.05 it is 21-1771 candidates,
    exact, deterministic, and immune to the flat regions of F1. Returns ``(models,)`` weights.
    """
    if objective not in ("macro_f1", "log_loss"):
        raise ValueError(f"objective {objective!r}; choose 'macro_f1' or 'log_loss'")
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in oof_list])  # (M, rows, C)
    y = np.asarray(y, dtype=np.int64)
    if stack.shape[1] != len(y):
        raise ValueError(f"OOF predictions have {stack.shape[1]} rows, y has {len(y)}")
    rows = ~np.isnan(stack).any(axis=(0, 2))
    if not rows.any():
        raise ValueError("no row has an OOF prediction from every model")
    stack, y = stack[:, rows], y[rows]
    grid = _simplex_grid(len(oof_list), step)
    best, best_key = grid[0], None
    for weights in grid:
        mixed = np.tensordot(weights, stack, axes=1)
        mixed = mixed / np.clip(mixed.sum(axis=1, keepdims=True), 1e-12, None)
        log_loss = float(-np.mean(np.log(np.clip(mixed[np.arange(len(y)), y], 1e-15, None))))
        key = (-log_loss,) if objective == "log_loss" else (macro_f1_probs(y, mixed), -log_loss)
        if best_key is None or key > best_key:
            best, best_key = weights, key
    log.info("blend weights %s (%s; rows %d)", np.round(best, 3).tolist(), objective, len(y))
    return best


def nested_blend_weights(short: np.ndarray, others: Sequence[np.ndarray], y: np.ndarray,
                         objective: str = "macro_f1", step: float = 0.05) -> np.ndarray:
    """Blend weights when one member predicted fewer out-of-fold rows than the others.

    The CNN of a run that trains one fold (the cpu preset) has OOF predictions for that
    fold's clips only, the feature models for every clip. One grid on the shared rows would
    choose the feature models' mix on a fifth of the clips they predicted (the mashup demo:
    fold 0's 100 clips, where the logistic regression scored 0.39 macro F1 against 0.46 on
    all 500). Here each weight is chosen on every row it can be: the others' mix on the rows
    they all predicted, then the share of ``short`` against that mix on its own rows.

    Args:
        short: ``(rows, classes)`` OOF probabilities, NaN rows where not predicted.
        others: members predicting (at least) the same rows, each ``(rows, classes)``.
        y: ``(rows,)`` class indices.
        objective, step: as :func:`blend_weights`.

    Returns:
        ``(1 + len(others),)`` weights summing to one, ``short``'s first. On ``short``'s rows
        the blend is never worse than ``short`` alone or the others' mix (the second grid
        holds both), and on the others' rows that mix never loses to any one of them.
    """
    mix_weights = blend_weights(others, y, objective, step)
    mix = blend(others, mix_weights)
    share = blend_weights([short, mix], y, objective, step)
    return np.concatenate([[share[0]], share[1] * mix_weights])
