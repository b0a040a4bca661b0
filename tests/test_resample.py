import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from common.core.resample import (
    RESAMPLED_METRICS,
    group_resample_weights,
    resampled_macro_auc,
    resampled_macro_f1,
)


def _data(seed=0, rows=120, classes=6):
    rng = np.random.default_rng(seed)
    y = (rng.random((rows, classes)) < 0.25).astype(float)
    y[:, -1] = 0.0  # a class with no positive: never scored
    scores = np.round(rng.random((rows, classes)) + 0.3 * y, 1)  # rounded: many ties
    return y, scores


def test_weights_draw_whole_groups_deterministically():
    groups = np.repeat(["a", "b", "c", "d"], [3, 1, 2, 4])
    w = group_resample_weights(groups, 50, seed=3)
    assert w.shape == (50, 10)
    assert (w == group_resample_weights(groups, 50, seed=3)).all()
    assert not (w == group_resample_weights(groups, 50, seed=4)).all()
    for g in "abcd":  # every row of a group counts the same
        rows = w[:, groups == g]
        assert (rows == rows[:, :1]).all()
    # four groups drawn per resample: the group counts sum to 4
    first = [np.flatnonzero(groups == g)[0] for g in "abcd"]
    assert (w[:, first].sum(axis=1) == 4).all()


def test_auc_on_unit_weights_is_sklearns_macro_auc():
    y, s = _data()
    scored = y.sum(axis=0) > 0
    expected = roc_auc_score(y[:, scored], s[:, scored], average="macro")
    assert resampled_macro_auc(y, s, np.ones((1, len(y))))[0] == pytest.approx(expected)
    assert RESAMPLED_METRICS["macro_roc_auc"] is resampled_macro_auc


def test_auc_under_counts_equals_sklearn_on_repeated_rows():
    y, s = _data(1)
    w = group_resample_weights(np.arange(len(y)) // 10, 5, seed=0)
    got = resampled_macro_auc(y, s, w)
    for b in range(5):
        idx = np.repeat(np.arange(len(y)), w[b].astype(int))
        yb, sb = y[idx], s[idx]
        ok = (yb.sum(axis=0) > 0) & (yb.sum(axis=0) < len(yb))
        assert got[b] == pytest.approx(roc_auc_score(yb[:, ok], sb[:, ok], average="macro"))


def test_auc_is_nan_when_no_class_can_be_scored():
    y = np.zeros((4, 2))
    y[0, 0] = 1
    w = np.array([[0, 1, 1, 1], [1, 1, 0, 0]], dtype=float)  # first resample: no positive
    got = resampled_macro_auc(y, np.arange(8.0).reshape(4, 2), w)
    assert np.isnan(got[0]) and got[1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="weights"):
        resampled_macro_auc(y, y, np.ones((1, 3)))


def test_f1_under_counts_equals_sklearn_on_repeated_rows():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 5, 90)
    truth[truth == 4] = 3  # class 4 is never true, sometimes predicted
    probs = rng.random((90, 5)) + 0.8 * np.eye(5)[truth]
    onehot = np.eye(5)[truth]
    w = np.vstack([np.ones(90), group_resample_weights(np.arange(90) // 3, 4, seed=1)])
    got = resampled_macro_f1(onehot, probs, w)
    for b in range(len(w)):
        idx = np.repeat(np.arange(90), w[b].astype(int))
        expected = f1_score(truth[idx], probs[idx].argmax(axis=1), average="macro",
                            zero_division=0.0)
        assert got[b] == pytest.approx(expected)
    assert RESAMPLED_METRICS["macro_f1"] is resampled_macro_f1
    assert np.isnan(resampled_macro_f1(onehot, probs, np.zeros((1, 90)))[0])
