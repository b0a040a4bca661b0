"""Tests for common.stages.infer.ensemble: combination maths, temporal smoothing, the budget
rule."""

import numpy as np
import pytest

from common.stages.infer.ensemble import (
    combine_models,
    plan_within_budget,
    pool_clips,
    score_space,
    sigmoid,
    smooth_windows,
)
from common.tasks.birdclef import TASK as BIRDCLEF
from common.tasks.mashup import TASK as MASHUP


def logit(p):
    return np.log(p / (1 - p))


def test_logit_mean_is_sigmoid_of_weighted_mean_logits():
    a = np.array([[0.0, 2.0]], np.float32)
    b = np.array([[2.0, -2.0]], np.float32)
    cov = [np.ones(1, bool)] * 2
    out = combine_models([a, b], cov, [1.0, 3.0], "logit_mean")
    np.testing.assert_allclose(out, sigmoid((a + 3 * b) / 4), rtol=1e-6)


def test_prob_mean_averages_probabilities():
    a, b = np.array([[0.2, 0.9]], np.float32), np.array([[0.6, 0.1]], np.float32)
    out = combine_models([a, b], [np.ones(1, bool)] * 2, [1.0, 1.0], "prob_mean")
    np.testing.assert_allclose(out, [[0.4, 0.5]], rtol=1e-6)


def test_logit_and_prob_means_differ_for_disagreeing_models():
    pa, pb = 0.99, 0.5
    cov = [np.ones(1, bool)] * 2
    lm = combine_models([np.array([[logit(pa)]]), np.array([[0.0]])], cov, [1, 1], "logit_mean")
    pm = combine_models([np.array([[pa]]), np.array([[pb]])], cov, [1, 1], "prob_mean")
    assert lm[0, 0] == pytest.approx(sigmoid(np.array(logit(pa) / 2)), rel=1e-5)
    assert pm[0, 0] == pytest.approx(0.745)
    assert lm[0, 0] > pm[0, 0]  # a confident model pulls the logit mean further


def test_rank_mean_is_calibration_free():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 3)).astype(np.float32)
    b = 100 * a + 5  # same ranking, wildly different scale
    cov = [np.ones(20, bool)] * 2
    out = combine_models([a, b], cov, [1, 1], "rank_mean")
    alone = combine_models([a], [cov[0]], [1], "rank_mean")
    np.testing.assert_allclose(out, alone)
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_array_equal(np.argsort(out[:, 0]), np.argsort(a[:, 0]))


def test_coverage_renormalises_weights_and_leaves_nan_for_uncovered_rows():
    a = np.array([[0.0], [0.0], [0.0]], np.float32)
    b = np.array([[4.0], [4.0], [9.0]], np.float32)
    cov_a = np.array([True, True, False])
    cov_b = np.array([True, False, False])
    out = combine_models([a, b], [cov_a, cov_b], [1, 1], "logit_mean")
    assert out[0, 0] == pytest.approx(float(sigmoid(np.array(2.0))))
    assert out[1, 0] == pytest.approx(0.5)  # only a covers it
    assert np.isnan(out[2, 0])


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_single_label_tasks_combine_into_softmax_probabilities():
    a = np.array([[0.0, 2.0, -1.0]], np.float32)
    b = np.array([[2.0, -2.0, 1.0]], np.float32)
    cov = [np.ones(1, bool)] * 2
    out = combine_models([a, b], cov, [1.0, 3.0], "logit_mean", MASHUP)
    np.testing.assert_allclose(out, softmax((a + 3 * b) / 4), rtol=1e-5)
    assert out.sum() == pytest.approx(1.0, abs=1e-6)
    # the multi-label task (and no task) keeps the element-wise sigmoid, as before
    for task in (None, BIRDCLEF):
        np.testing.assert_array_equal(combine_models([a, b], cov, [1.0, 3.0], "logit_mean",
                                                     task), sigmoid((a + 3 * b) / 4))
    # prob_mean: each model's views are averaged as softmax probabilities
    pa = score_space(a, "prob_mean", MASHUP)
    np.testing.assert_allclose(pa, softmax(a), rtol=1e-5)
    out = combine_models([pa, score_space(b, "prob_mean", MASHUP)], cov, [1, 1],
                         "prob_mean", MASHUP)
    np.testing.assert_allclose(out, (softmax(a) + softmax(b)) / 2, rtol=1e-5)


def test_pool_clips_averages_each_files_covered_windows():
    probs = np.array([[0.6, 0.4],  # file 0
                      [0.2, 0.8],
                      [np.nan, np.nan],  # not predicted: left out of file 0's mean
                      [1.0, 0.0]],  # file 2; file 1 has no window
                     np.float32)
    out = pool_clips(probs, np.array([0, 0, 0, 2]), n_files=4)
    np.testing.assert_allclose(out[0], [0.4, 0.6], rtol=1e-6)
    assert np.isnan(out[1]).all() and np.isnan(out[3]).all()
    np.testing.assert_array_equal(out[2], [1.0, 0.0])
    assert out.dtype == np.float32
    # a mean of probabilities, not of logits: one extreme window cannot outvote the others
    sure = pool_clips(np.array([[0.9999, 0.0001], [0.2, 0.8], [0.2, 0.8]]), np.zeros(3, int), 1)
    assert sure.argmax() == 1
    with pytest.raises(ValueError, match="file_ids"):
        pool_clips(probs, np.array([0, 0, 0, 4]), n_files=4)


def test_combine_rejects_bad_input():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="unknown combination"):
        combine_models([x], [np.ones(2, bool)], [1], "max")
    with pytest.raises(ValueError, match="weights"):
        combine_models([x], [np.ones(2, bool)], [0], "logit_mean")


def test_smoothing_identity_edges_and_file_boundaries():
    probs = np.zeros((6, 1), np.float32)
    probs[2, 0] = 1.0  # file 0 windows 0-2, file 1 windows 3-5
    files = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(smooth_windows(probs, files, ()), probs)
    out = smooth_windows(probs, files, (0.25, 0.5, 0.25))
    np.testing.assert_allclose(out[:, 0], [0, 0.25, 0.5 / 0.75, 0, 0, 0], rtol=1e-6)
    assert out[3, 0] == 0  # nothing leaks into the next file
    const = np.full((6, 2), 0.3, np.float32)
    np.testing.assert_allclose(smooth_windows(const, files, (1, 2, 3, 2, 1)), const, rtol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        smooth_windows(probs, files, (0.5, 0.5))


def test_budget_keeps_everything_when_it_fits():
    plan = plan_within_budget(np.ones((2, 3)), np.zeros(3), 0.5, files_left=10,
                              seconds_left=100)
    assert plan.model_keep.all() and plan.view_keep.all() and plan.dropped == []
    assert plan.projected_seconds == pytest.approx(10 * (0.5 + 6))


def test_budget_drops_last_costly_view_first_then_most_expensive_model():
    # views: orig, reverse, gain_up (folded: costs nothing), models: cheap, dear, cheap
    pass_seconds = np.array([[1.0, 1.0, 0.0], [3.0, 3.0, 0.0], [1.0, 1.0, 0.0]])
    view_seconds = np.array([0.1, 0.1, 0.0])
    plan = plan_within_budget(pass_seconds, view_seconds, 0.0, 10, seconds_left=60)
    assert plan.dropped == ["view 1"]  # 10 * (0.1 + 5) = 51 s fits
    assert plan.view_keep.tolist() == [True, False, True]  # free view kept
    plan = plan_within_budget(pass_seconds, view_seconds, 0.0, 10, seconds_left=30)
    assert plan.dropped == ["view 1", "model 1"]
    assert plan.model_keep.tolist() == [True, False, True]
    plan = plan_within_budget(pass_seconds, view_seconds, 0.0, 10, seconds_left=1)
    assert plan.model_keep.sum() == 1 and plan.view_keep[0]  # never below one model, orig
    assert plan.projected_seconds > 1


def test_budget_ties_drop_the_later_model_and_plans_only_shrink():
    plan = plan_within_budget(np.ones((3, 1)), np.zeros(1), 0.0, 1, seconds_left=2.5)
    assert plan.model_keep.tolist() == [True, True, False]
    again = plan_within_budget(np.ones((3, 1)), np.zeros(1), 0.0, 1, seconds_left=100,
                               model_keep=plan.model_keep)
    assert again.model_keep.tolist() == [True, True, False]
