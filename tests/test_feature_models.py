"""Tests for common.tasks.mashup.feature_models: OOF models on the clip features and OOF-chosen
blend weights."""

from math import comb

import numpy as np
import pytest

from common.tasks.mashup.feature_models import (
    _simplex_grid,
    blend,
    blend_weights,
    encode_labels,
    fit_feature_models,
    fit_final_feature_models,
    macro_f1_probs,
    nested_blend_weights,
    predict_feature_models,
)


def _flipped_dataset(n_per_class: int = 10, n_classes: int = 4, seed: int = 0):
    """Fold 0 and fold 1 hold the same points with labels shifted by one class.

    A model that sees a row's own fold learns both labelings and hedges (~50/50); one trained
    only on the other fold predicts the other fold's label for every row.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (n_classes, 8))
    base = np.repeat(np.arange(n_classes), n_per_class)
    X0 = centres[base] + rng.normal(0, 0.3, (len(base), 8))
    X = np.concatenate([X0, X0])
    y = np.concatenate([base, (base + 1) % n_classes])
    folds = np.repeat([0, 1], len(base))
    return X, y, folds, [f"c{i}" for i in range(n_classes)]


@pytest.mark.parametrize("model", ["logreg", "extra_trees"])
def test_oof_never_uses_the_rows_own_fold(model):
    X, y, folds, classes = _flipped_dataset()
    fitted = fit_feature_models(X, y, folds, classes, models=(model,))
    oof = fitted.oof[model]
    other_fold_label = np.concatenate([y[folds == 1], y[folds == 0]])
    assert (oof.argmax(axis=1) == other_fold_label).mean() >= 0.95
    assert (oof.argmax(axis=1) == y).mean() <= 0.05
    np.testing.assert_allclose(oof.sum(axis=1), 1.0, rtol=1e-6)
    assert set(fitted.fold_models[model]) == {0, 1}
    scores = fitted.scores_df.set_index("fold")
    assert scores.loc["oof", "macro_f1"] <= 0.05


def test_negative_folds_always_train_and_are_never_predicted():
    X, y, folds, classes = _flipped_dataset()
    folds = folds.copy()
    folds[:4] = -1
    fitted = fit_feature_models(X, y, folds, classes, models=("logreg",))
    assert np.isnan(fitted.oof["logreg"][:4]).all()
    assert not np.isnan(fitted.oof["logreg"][4:]).any()
    test = predict_feature_models(fitted, X[:5])["logreg"]
    per_fold = [est.predict_proba(X[:5]) for est in fitted.fold_models["logreg"].values()]
    np.testing.assert_allclose(test, np.mean(per_fold, axis=0))


def test_final_models_fit_every_row_deterministically():
    X, y, folds, classes = _flipped_dataset()
    X, y = X[folds == 0], y[folds == 0]  # one consistent labelling
    first = fit_final_feature_models(X, y, classes, seed=3, n_jobs=2)
    again = fit_final_feature_models(X, y, classes, seed=3, n_jobs=1)
    assert {name: list(m) for name, m in first.fold_models.items()} == {
        "logreg": [-1], "extra_trees": [-1]} and first.oof == {}
    p1, p2 = predict_feature_models(first, X), predict_feature_models(again, X)
    for name in ("logreg", "extra_trees"):
        np.testing.assert_array_equal(p1[name], p2[name])  # threads change nothing
        assert (p1[name].argmax(axis=1) == y).mean() == 1.0  # every row was trained on
    with pytest.raises(ValueError, match="unknown models"):
        fit_final_feature_models(X, y, classes, models=("svm",))


def test_a_class_missing_from_a_training_fold_keeps_its_column():
    X, y, folds, classes = _flipped_dataset()
    keep = ~((folds == 1) & (y == 3))  # class 3 only in fold 0
    fitted = fit_feature_models(X[keep], y[keep], folds[keep], classes, models=("logreg",))
    oof = fitted.oof["logreg"]
    assert oof.shape == (keep.sum(), 4)
    assert np.allclose(oof[folds[keep] == 0, 3], 0.0)  # never trained on: probability 0


def test_bad_inputs_are_rejected():
    X, y, folds, classes = _flipped_dataset()
    with pytest.raises(ValueError, match="unknown models"):
        fit_feature_models(X, y, folds, classes, models=("svm",))
    with pytest.raises(ValueError, match="class indices"):
        fit_feature_models(X, y + 10, folds, classes)
    with pytest.raises(ValueError, match="two folds"):
        fit_feature_models(X, y, np.zeros_like(folds), classes)
    assert encode_labels(["c2", "c0"], classes).tolist() == [2, 0]
    with pytest.raises(ValueError, match="not among the classes"):
        encode_labels(["c9"], classes)


def test_simplex_grid():
    grid = _simplex_grid(3, 0.05)
    assert grid.shape == (comb(22, 2), 3)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert (grid >= 0).all() and len(np.unique(grid, axis=0)) == len(grid)
    with pytest.raises(ValueError, match="divide 1"):
        _simplex_grid(2, 0.3)


@pytest.mark.parametrize("objective", ["macro_f1", "log_loss"])
def test_blend_weights_favour_the_clearly_better_model(objective):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 40)
    good = np.full((len(y), 5), 0.05)
    good[np.arange(len(y)), y] = 0.8
    flip = rng.random(len(y)) < 0.15  # the good model is wrong on 15 % of rows
    good[flip] = np.roll(good[flip], 1, axis=1)
    noise = np.full((len(y), 5), 0.05)  # confidently random
    noise[np.arange(len(y)), rng.integers(0, 5, len(y))] = 0.8
    weights = blend_weights([noise, good], y, objective)
    assert weights.shape == (2,) and weights.sum() == pytest.approx(1.0)
    assert weights[1] >= 0.9
    assert macro_f1_probs(y, blend([noise, good], weights)) >= macro_f1_probs(y, good) - 1e-9


def test_blend_weights_ignore_rows_without_oof_and_validate_input():
    y = np.array([0, 1, 0, 1])
    a = np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, np.nan], [0.3, 0.7]])
    b = np.array([[0.4, 0.6], [0.6, 0.4], [0.5, 0.5], [0.6, 0.4]])
    assert blend_weights([a, b], y, step=0.5).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="objective"):
        blend_weights([a, b], y, "accuracy")
    with pytest.raises(ValueError, match="rows"):
        blend_weights([a, b], y[:3])
    assert blend_weights([b], y).tolist() == [1.0]


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_blend_is_never_worse_oof_than_its_best_member(seed):
    # The grid holds every member alone (its vertices), so the search cannot lose to a member
    # on the rows it chose the weights on, however the members err.
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 90)
    members = []
    for skill in (0.2, 0.45, 0.7):
        probs = rng.dirichlet(np.ones(6), len(y))
        right = rng.random(len(y)) < skill
        probs[right, y[right]] += 1.0
        members.append(probs / probs.sum(axis=1, keepdims=True))
    weights = blend_weights(members, y, "macro_f1", step=0.1)
    assert np.isclose(_simplex_grid(3, 0.1), np.eye(3)[:, None]).all(axis=2).any(axis=1).all()
    best_single = max(macro_f1_probs(y, p) for p in members)
    assert macro_f1_probs(y, blend(members, weights)) >= best_single - 1e-12


def _member(y, right, n_classes, rng):
    probs = rng.dirichlet(np.ones(n_classes), len(y))
    probs[right, y[right]] += 1.0
    return probs / probs.sum(axis=1, keepdims=True)


def test_nested_weights_choose_the_feature_mix_on_all_their_rows():
    # The CNN predicted the first 100 rows (one fold); the feature models all 500. Feature
    # model a is right on 75 % of rows 100-499 but only 25 % of the first 100; b is right on
    # 50 % everywhere. One grid on the CNN's rows would take b for a; the nested choice
    # weighs the models on the rows they predicted.
    rng = np.random.default_rng(0)
    n_classes = 5
    y = rng.integers(0, n_classes, 500)
    first = np.arange(500) < 100
    a = _member(y, np.where(first, rng.random(500) < 0.25, rng.random(500) < 0.75), n_classes,
                rng)
    b = _member(y, rng.random(500) < 0.5, n_classes, rng)
    cnn = _member(y, rng.random(500) < 0.6, n_classes, rng)
    cnn[~first] = np.nan
    joint = blend_weights([cnn, a, b], y, "macro_f1", step=0.1)
    assert joint[2] > joint[1]  # the shared rows favour b
    weights = nested_blend_weights(cnn, [a, b], y, "macro_f1", step=0.1)
    assert weights.shape == (3,) and weights.sum() == pytest.approx(1.0)
    mix = blend_weights([a, b], y, "macro_f1", step=0.1)
    assert mix[0] > mix[1]
    # The feature models keep the ratio chosen on all rows.
    assert weights[1] * mix[1] == pytest.approx(weights[2] * mix[0])
    # On the CNN's rows the blend does not lose to the CNN or to the feature mix.
    blended = blend([cnn, a, b], weights)[first]
    assert macro_f1_probs(y[first], blended) >= macro_f1_probs(y[first], cnn[first]) - 1e-12
    assert macro_f1_probs(y[first], blended) >= macro_f1_probs(
        y[first], blend([a, b], mix)[first]) - 1e-12
