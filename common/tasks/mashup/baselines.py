"""nb02 for single-label, whole-clip tasks (the mashup genres): clip scores, the CNN's out-of-fold
report, and the feature baseline blended with it on the same folds.

nb02's hooks for this task (:mod:`common.tasks.mashup.train`) call :func:`clip_scores` every
epoch (the selection metric) and :func:`report_clip_models` once the folds are done. The
report puts every model on the same footing: one probability row per training clip, out of
fold (a clip of fold ``k`` is predicted by the model that never saw fold ``k``), scored with the
task metric on the clips every model predicted, so the numbers compare directly:

- ``cnn``: nb02's checkpoints, window probabilities pooled per clip (``oof_clips.csv``);
- the feature models (:mod:`common.tasks.mashup.features`: 194 summary statistics per clip;
  :mod:`common.tasks.mashup.feature_models`: a logistic regression and extra trees), fitted on
  the same folds from the prep cache's audio;
- ``blend``: their weighted mean, weights chosen on the OOF predictions
  (:func:`common.tasks.mashup.feature_models.blend_weights`, macro F1 on a grid over the
  simplex). When the CNN trained fewer folds than the feature models were fitted on, the
  feature models' mix is chosen on all their OOF clips and the CNN's share on its own
  (:func:`common.tasks.mashup.feature_models.nested_blend_weights`). Its OOF score is measured
  on the rows the weights were chosen on, so it is optimistic: two or three weights on
  hundreds of clips overfit little, a few dozen clips (the smoke data) a lot.

Outputs in the models dir: ``features.csv`` (key, label, fold, features: computed once and
reused by a resumed or repeated run), ``oof_<model>.csv`` per feature model (the layout of
``oof_clips.csv``), ``blend.json``, ``per_class_f1.csv``, ``model_scores.csv`` and
``figures/confusion_<model>.png`` / ``figures/per_class_f1.png``. nb04 refits the feature models
on ``features.csv`` and blends the test predictions with ``blend.json``'s weights.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.audio.cache import AudioCache
from common.core.parallel import parallel_map
from common.tasks.base import Task
from common.tasks.mashup.feature_models import (
    blend,
    blend_weights,
    encode_labels,
    fit_feature_models,
    nested_blend_weights,
)
from common.tasks.mashup.features import FEATURE_NAMES, extract_features

if TYPE_CHECKING:
    from common.data.prep_data import PrepData

log = logging.getLogger(__name__)

__all__ = ["ClipReport", "clip_features", "clip_scores", "oof_table", "report_clip_models"]

FEATURES_CSV = "features.csv"
BLEND_JSON = "blend.json"
CNN = "cnn"
BLEND = "blend"


def clip_scores(task: Task, keys: Sequence[str], targets: np.ndarray, probs: np.ndarray,
                classes: Sequence[str]) -> dict[str, float]:
    """The task metric and the accuracy of per-clip probabilities.

    Args:
        keys: ``(clips,)`` clip ids.
        targets: ``(clips, classes)`` one-hot (the arg-max is the true class).
        probs: ``(clips, classes)`` pooled probabilities.

    Returns:
        ``{"val_<task.metric>": ..., "val_accuracy": ...}``: the metric as Kaggle scores a
        submission (:func:`common.tasks.base.format_submission` then
        :func:`common.tasks.base.score`: macro
        F1 of the arg-max for the mashup task); NaN when there is no clip or a probability is
        not finite (a diverged model), which the caller treats as unscorable.
    """
    names = (f"val_{task.metric}", "val_accuracy")
    probs = np.asarray(probs, dtype=np.float64)
    if not len(keys):
        return dict.fromkeys(names, float("nan"))
    if not np.isfinite(probs).all():
        log.warning("non-finite probabilities on %d clips: scored as NaN", len(keys))
        return dict.fromkeys(names, float("nan"))
    classes = list(classes)
    truth = np.asarray(targets).argmax(axis=1)
    ids = [str(k) for k in keys]
    solution = pd.DataFrame({task.id_column: ids,
                             task.label_column: [classes[j] for j in truth]})
    submission = task.format_submission(ids, probs, classes)
    return {names[0]: float(task.score(solution, submission)),
            names[1]: float(np.mean(probs.argmax(axis=1) == truth))}


# ---------------------------------------------------------------------------------------------
# Features of the cached clips.


def _cached_features(cache_dir: str, keys: list[str]) -> np.ndarray:
    """``(len(keys), 194)`` features of cached clips, each at its cached sample rate."""
    cache = AudioCache(cache_dir)
    return np.stack([extract_features(np.asarray(cache.get(k), dtype=np.float32),
                                      cache.entry(k).sample_rate) for k in keys])


def clip_features(prep: PrepData, path: str | Path, label_column: str = "genre",
                  workers: int = 1) -> pd.DataFrame:
    """The feature table of every training clip, computed from the prep cache once and reused.

    Rows already in ``path`` (a ``features.csv`` of an earlier or interrupted run) are reused by
    key; the others are computed in ``workers`` processes with a progress bar, and the whole
    table is written to ``path``.

    Returns:
        ``key, <label_column>, fold`` and the :data:`common.tasks.mashup.features.FEATURE_NAMES`
        columns,
        one row per ``train_folds.csv`` row in its order (labels and folds from it).
    """
    path = Path(path)
    keys = prep.train_df["filename"].astype(str).tolist()
    known = pd.DataFrame(columns=["key", *FEATURE_NAMES])
    previous = None
    if path.is_file():
        previous = pd.read_csv(path, dtype={"key": str, label_column: str},
                               keep_default_na=False, na_values=[""])
        if set(FEATURE_NAMES) <= set(previous.columns):
            known = previous[["key", *FEATURE_NAMES]].drop_duplicates("key", keep="last")
        else:
            log.warning("%s lacks some of the %d feature columns: recomputing every clip",
                        path, len(FEATURE_NAMES))
    known = known[known["key"].isin(set(keys))]
    todo = [k for k in keys if k not in set(known["key"])]
    if todo:
        log.info("clip features: %d clips to compute (%d reused from %s), %d worker(s)",
                 len(todo), len(known), path.name, workers)
        size = max(1, min(32, math.ceil(len(todo) / max(1, 4 * workers))))
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        parts = parallel_map(_cached_features, [(str(prep.cache_dir), c) for c in chunks],
                             workers, f"features ({size} clips per step)", "step", star=True)
        computed = pd.DataFrame(np.concatenate(parts), columns=list(FEATURE_NAMES))
        computed.insert(0, "key", todo)
        known = pd.concat([known, computed], ignore_index=True) if len(known) else computed
    table = known.set_index("key").loc[keys].reset_index()
    table.insert(1, label_column, prep.train_df["primary_label"].astype(str).to_numpy())
    table.insert(2, "fold", prep.train_df["fold"].astype(int).to_numpy())
    header = ["key", label_column, "fold"]
    if todo or previous is None or not set(header) <= set(previous.columns) or not (
            previous[header].astype(str).equals(table[header].astype(str))):
        # New clips, or nb01 re-ran with other clips, labels or folds: the file follows nb01.
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    # The values as stored (CSV text), fresh or reused alike: nb04 refits the feature models on
    # this file, and the OOF fits here must see the same numbers.
    stored = pd.read_csv(path, dtype={"key": str, label_column: str}, keep_default_na=False,
                         na_values=[""]).drop_duplicates("key", keep="last").set_index("key")
    table[list(FEATURE_NAMES)] = stored.loc[keys, list(FEATURE_NAMES)].to_numpy(np.float64)
    return table


# ---------------------------------------------------------------------------------------------
# The report.


@dataclass
class ClipReport:
    """What :func:`report_clip_models` made (figures and CSVs are in the models dir)."""

    per_class_df: pd.DataFrame  # primary_label, n_clips, f1_<model> per model
    scores_df: pd.DataFrame  # model, oof macro F1 (task metric), accuracy, clips, blend weight
    report: dict[str, Any]  # for train_report.json
    figures: dict[str, Path] = field(default_factory=dict)


def oof_table(keys: Sequence[str], folds: Sequence[int], probs: np.ndarray,
              classes: Sequence[str]) -> pd.DataFrame:
    """``key, fold, <classes...>`` rows of the clips with a prediction (no NaN), the layout of
    ``oof_clips.csv``."""
    probs = np.asarray(probs, dtype=np.float64)
    df = pd.DataFrame(probs, columns=pd.Index(list(classes), dtype=object))
    df.insert(0, "key", [str(k) for k in keys])
    df.insert(1, "fold", np.asarray(folds, dtype=int))
    return df[~np.isnan(probs).any(axis=1)].reset_index(drop=True)


def _per_class_f1(y: np.ndarray, probs: np.ndarray, n_classes: int) -> np.ndarray:
    from sklearn.metrics import f1_score

    return f1_score(y, probs.argmax(axis=1), labels=list(range(n_classes)), average=None,
                    zero_division=0.0)


def _choose_weights(probs: dict[str, np.ndarray], names: list[str], y: np.ndarray,
                    scored: np.ndarray) -> np.ndarray:
    """One grid over every member on the rows all predicted, or, when the CNN predicted fewer
    rows than the feature models (fewer folds trained), the nested choice of
    :func:`common.tasks.mashup.feature_models.nested_blend_weights`."""
    features = [m for m in names if m != CNN]
    if CNN in probs and features:
        feature_rows = np.all([~np.isnan(probs[m]).any(axis=1) for m in features], axis=0)
        if feature_rows.sum() > scored.sum():
            w = nested_blend_weights(probs[CNN], [probs[m] for m in features], y)
            log.info("blend: the feature models' mix chosen on their %d OOF clips, the CNN's "
                     "share on its %d", int(feature_rows.sum()), int(scored.sum()))
            return np.array([dict(zip([CNN, *features], w))[m] for m in names])
    return blend_weights([probs[m][scored] for m in names], y[scored])


def report_clip_models(prep: PrepData, oof_df: pd.DataFrame, out_dir: str | Path, *,
                       task: Task, feature_models: Sequence[str] = ("logreg", "extra_trees"),
                       workers: int = 1, seed: int = 0) -> ClipReport:
    """Score the CNN's clip OOF, fit the feature models on the same folds, blend, and plot.

    Args:
        prep: nb01's outputs (clips, labels, folds, cache).
        oof_df: the CNN's ``oof_clips.csv`` (``key, fold, <classes...>``), any subset of clips.
        out_dir: the models dir; see the module docstring for what is written there.
        feature_models: :data:`common.tasks.mashup.feature_models.MODEL_BUILDERS` keys; empty = no
        feature baseline
            (the CNN is still scored and plotted).
        workers: processes for the clip features.
        seed: seed of the feature models.
    """
    from common.report import plots, prediction_plots, training_plots

    out = Path(out_dir)
    classes = prep.classes
    keys = prep.train_df["filename"].astype(str).tolist()
    folds = prep.train_df["fold"].astype(int).to_numpy()
    y = encode_labels(prep.train_df["primary_label"].astype(str), classes)
    probs: dict[str, np.ndarray] = {}
    cnn = oof_df.set_index(oof_df["key"].astype(str))[classes].reindex(keys)
    if cnn.notna().all(axis=1).any():
        probs[CNN] = cnn.to_numpy(dtype=np.float64)
    else:
        log.warning("no CNN out-of-fold predictions yet: the report covers the feature models")
    if feature_models:
        features_df = clip_features(prep, out / FEATURES_CSV, task.label_column or "label",
                                    workers)
        fitted = fit_feature_models(features_df[list(FEATURE_NAMES)].to_numpy(), y, folds,
                                    classes, tuple(feature_models), seed)
        for name, oof in fitted.oof.items():
            probs[name] = oof
            oof_table(keys, folds, oof, classes).to_csv(out / f"oof_{name}.csv", index=False)
    if not probs:
        return ClipReport(pd.DataFrame({"primary_label": classes}), pd.DataFrame(), {})

    # Every model is scored on the clips all of them predicted (the CNN's finished folds).
    scored = np.all([~np.isnan(p).any(axis=1) for p in probs.values()], axis=0)
    names = list(probs)
    weights = {CNN: 1.0} if names == [CNN] else {}
    if len(names) > 1:
        w = _choose_weights(probs, names, y, scored)
        weights = {m: round(float(v), 6) for m, v in zip(names, w)}
        probs[BLEND] = np.full_like(probs[names[0]], np.nan)
        probs[BLEND][scored] = blend([probs[m][scored] for m in names], w)
    onehot = np.eye(len(classes))[y[scored]]
    scored_keys = [k for k, s in zip(keys, scored) if s]
    rows, per_class, figures = [], {}, {}
    for name, p in probs.items():
        s = clip_scores(task, scored_keys, onehot, p[scored], classes)
        rows.append({"model": name, f"oof_{task.metric}": s[f"val_{task.metric}"],
                     "oof_accuracy": s["val_accuracy"], "n_clips": int(scored.sum()),
                     "blend_weight": weights.get(name, 1.0 if name == BLEND else 0.0)})
        per_class[f"f1_{name}"] = _per_class_f1(y[scored], p[scored], len(classes))
        figures[f"confusion_{name}"] = plots.save_figure(
            prediction_plots.confusion_matrix(y[scored], p[scored].argmax(axis=1), classes,
                                              title=f"{name} (OOF, {int(scored.sum())} clips):"),
            out / "figures" / f"confusion_{name}.png")
    scores_df = pd.DataFrame(rows)
    per_class_df = pd.DataFrame({"primary_label": classes,
                                 "n_clips": np.bincount(y[scored], minlength=len(classes)),
                                 **per_class})
    scores_df.to_csv(out / "model_scores.csv", index=False)
    per_class_df.to_csv(out / "per_class_f1.csv", index=False)
    figures["per_class_f1"] = plots.save_figure(training_plots.per_class_f1(per_class_df),
                                                out / "figures" / "per_class_f1.png")
    metric = dict(zip(scores_df["model"], scores_df[f"oof_{task.metric}"].astype(float)))
    accuracy = dict(zip(scores_df["model"], scores_df["oof_accuracy"].astype(float)))
    report = {f"oof_{task.metric}": metric, "oof_accuracy": accuracy,
              "blend_weights": weights, "n_oof_clips": int(scored.sum()),
              "oof_folds": sorted(int(k) for k in np.unique(folds[scored]))}
    if len(names) > 1:
        (out / BLEND_JSON).write_text(json.dumps(
            {"weights": weights, f"oof_{task.metric}": metric, "oof_accuracy": accuracy,
             "n_clips": report["n_oof_clips"], "folds": report["oof_folds"],
             "objective": task.metric}, indent=2) + "\n")
    log.info("OOF %s on %d clips: %s; blend weights %s", task.metric, int(scored.sum()),
             ", ".join(f"{m} {v:.4f}" for m, v in metric.items()), weights)
    return ClipReport(per_class_df, scores_df, report, figures)
