"""Tests for common.tasks.mashup.feature_blend: reading nb02's blend files, refitting, blending."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from common.tasks.mashup.feature_blend import load_feature_blend
from common.tasks.mashup.feature_models import predict_feature_models
from common.tasks.mashup.features import FEATURE_NAMES

CLASSES = ["blues", "jazz", "rock"]


def write_blend_files(folder, weights, labels=None, n_per_class=6, seed=0):
    """features.csv with one well-separated cluster per class, and blend.json."""
    rng = np.random.default_rng(seed)
    labels = labels if labels is not None else np.repeat(CLASSES, n_per_class)
    centres = {c: rng.normal(0, 3, len(FEATURE_NAMES)) for c in set(labels)}
    X = np.stack([centres[c] + rng.normal(0, 0.2, len(FEATURE_NAMES)) for c in labels])
    df = pd.DataFrame(X, columns=list(FEATURE_NAMES))
    df.insert(0, "fold", np.arange(len(df)) % 2)
    df.insert(0, "genre", labels)
    df.insert(0, "key", [f"mashups/{k}.wav" for k in range(len(df))])
    df.to_csv(folder / "features.csv", index=False)
    (folder / "blend.json").write_text(json.dumps({"weights": weights,
                                                   "oof_macro_f1": {"blend": 0.8}}))
    return X, labels


def test_absent_files_mean_cnn_only(tmp_path):
    blend, note = load_feature_blend(tmp_path, CLASSES, "genre")
    assert blend is None and "CNN only" in note


def test_refit_predict_and_blend(tmp_path):
    X, labels = write_blend_files(tmp_path, {"cnn": 0.5, "logreg": 0.3, "extra_trees": 0.2})
    blend, note = load_feature_blend(tmp_path, CLASSES, "genre", seed=0, n_jobs=2)
    assert blend.members == ["cnn", "logreg", "extra_trees"] and blend.n_train_rows == 18
    assert "cnn 0.50, logreg 0.30, extra_trees 0.20" in note
    assert blend.oof_macro_f1 == {"blend": 0.8}
    probs = predict_feature_models(blend.models, X)
    assert (probs["logreg"].argmax(axis=1) == [CLASSES.index(c) for c in labels]).all()
    cnn = np.full((len(X), 3), 1 / 3)
    mixed = blend.combine(cnn, probs)
    np.testing.assert_allclose(mixed, 0.5 * cnn + 0.3 * probs["logreg"]
                               + 0.2 * probs["extra_trees"], rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    again, _ = load_feature_blend(tmp_path, CLASSES, "genre", seed=0, n_jobs=1)
    for name, p in predict_feature_models(again.models, X).items():
        np.testing.assert_array_equal(p, probs[name])  # the refit is deterministic


def test_unknown_and_zero_weight_members_are_dropped_and_weights_renormalised(tmp_path, caplog):
    write_blend_files(tmp_path, {"cnn": 0.2, "logreg": 0.2, "extra_trees": 0.0, "svm": 0.6})
    with caplog.at_level(logging.WARNING):
        blend, _ = load_feature_blend(tmp_path, CLASSES, "genre")
    assert blend.weights == pytest.approx({"cnn": 0.5, "logreg": 0.5})
    assert blend.dropped == ["extra_trees (weight 0)", "svm (unknown model)"]
    # extra_trees is not blended, but refitted: nb04 reports it as a single model
    assert "svm" in caplog.text and set(blend.models.fold_models) == {"logreg", "extra_trees"}


@pytest.mark.parametrize("case", ["no_feature_weight", "unknown_label", "bad_json"])
def test_unusable_files_fall_back_to_the_cnn_with_a_warning(tmp_path, caplog, case):
    labels = np.repeat(["blues", "jazz", "polka"], 4) if case == "unknown_label" else None
    weights = {"cnn": 1.0, "logreg": 0.0} if case == "no_feature_weight" else {
        "cnn": 0.5, "logreg": 0.5}
    write_blend_files(tmp_path, weights, labels=labels)
    if case == "bad_json":
        (tmp_path / "blend.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING):
        blend, note = load_feature_blend(tmp_path, CLASSES, "genre")
    assert blend is None and "CNN only" in note and "CNN only" in caplog.text
    assert str(tmp_path) in note
