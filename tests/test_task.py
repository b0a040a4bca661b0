"""Tests for common.tasks.base: the task registry and the functions that replace hard-coded
choices."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score

from common.core.metrics import macro_roc_auc
from common.tasks.base import (
    BIRDCLEF_2026,
    GENRES,
    MESSY_MASHUP,
    TaskSpec,
    activation,
    format_submission,
    get_task,
    loss_name_for,
    score,
    task_classes,
)


def test_registry_holds_both_tasks_and_names_the_valid_ones():
    assert get_task("birdclef-2026") is BIRDCLEF_2026
    assert get_task("messy-mashup") is MESSY_MASHUP
    with pytest.raises(KeyError, match="birdclef-2026, messy-mashup"):
        get_task("birdclef-2025")


def test_task_definitions():
    assert (BIRDCLEF_2026.label_mode, BIRDCLEF_2026.metric, BIRDCLEF_2026.windowing,
            BIRDCLEF_2026.submission, BIRDCLEF_2026.sample_rate) == (
        "multilabel", "macro_roc_auc", "windows_5s", "windows_x_classes", 32000)
    assert BIRDCLEF_2026.scored_seconds == 5.0
    assert (MESSY_MASHUP.label_mode, MESSY_MASHUP.metric, MESSY_MASHUP.windowing,
            MESSY_MASHUP.submission, MESSY_MASHUP.sample_rate, MESSY_MASHUP.clip_seconds) == (
        "single", "macro_f1", "whole_clip", "label_per_clip", 22050, 30.0)
    assert MESSY_MASHUP.scored_seconds == 30.0
    assert MESSY_MASHUP.classes == GENRES and len(GENRES) == 10


@pytest.mark.parametrize("change, message", [
    ({"label_mode": "multi"}, "label_mode"),
    ({"metric": "accuracy"}, "metric"),
    ({"label_column": ""}, "label_column"),
    ({"label_mode": "multilabel"}, "label_mode 'single'"),
    ({"submission": "windows_x_classes"}, "macro_f1 scores hard labels"),
])
def test_inconsistent_task_specs_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(MESSY_MASHUP, **change)


def test_loss_name_for_defaults_and_refuses_a_loss_of_the_other_label_mode():
    assert loss_name_for(BIRDCLEF_2026) == "asl"
    assert loss_name_for(BIRDCLEF_2026, "focal") == "focal"
    assert loss_name_for(MESSY_MASHUP) == "cross_entropy"
    with pytest.raises(ValueError, match="cross_entropy"):
        loss_name_for(MESSY_MASHUP, "asl")
    with pytest.raises(ValueError, match="asl, bce, focal"):
        loss_name_for(BIRDCLEF_2026, "cross_entropy")


def test_activation_numpy_sigmoid_and_stable_softmax():
    logits = np.array([[-1000.0, 0.0, 2.0], [1000.0, -3.0, 0.5]])
    sig = activation(BIRDCLEF_2026, logits)
    assert sig.dtype == np.float32 and np.isfinite(sig).all()
    np.testing.assert_allclose(sig[0, 1:], 1 / (1 + np.exp(-logits[0, 1:])), rtol=1e-6)
    assert sig[0, 0] == 0.0 and sig[1, 0] == 1.0
    soft = activation(MESSY_MASHUP, logits)
    assert np.isfinite(soft).all()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    assert soft[1].argmax() == 0
    np.testing.assert_allclose(activation(MESSY_MASHUP, np.array([[0.0, np.log(3.0)]])),
                               [[0.25, 0.75]], rtol=1e-6)


def test_activation_torch_keeps_the_tensor_type():
    logits = torch.tensor([[0.5, -2.0, 3.0]])
    out = activation(BIRDCLEF_2026, logits)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.sigmoid(logits))
    torch.testing.assert_close(activation(MESSY_MASHUP, logits), torch.softmax(logits, dim=-1))


def test_score_dispatches_to_the_task_metric():
    rng = np.random.default_rng(0)
    classes = ["amecro", "65448", "barswa"]
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 1]])
    solution = pd.DataFrame(y, columns=classes).assign(row_id=[f"s_{5 * i}" for i in range(6)])
    submission = pd.DataFrame(y * 0.5 + rng.random(y.shape), columns=classes)
    submission["row_id"] = solution["row_id"]
    assert score(BIRDCLEF_2026, solution, submission) == macro_roc_auc(solution, submission)

    truth = ["rock", "jazz", "pop", "rock", "jazz", "blues"]
    guess = ["rock", "jazz", "rock", "rock", "pop", "blues"]
    ids = [f"mashup_{i}" for i in range(6)]
    solution = pd.DataFrame({"id": ids, "genre": truth})
    submission = pd.DataFrame({"id": ids[::-1], "genre": guess[::-1]})
    assert score(MESSY_MASHUP, solution, submission) == pytest.approx(
        f1_score(truth, guess, average="macro"))
    with pytest.raises(ValueError, match="unknown labels"):
        score(MESSY_MASHUP, solution, submission.assign(genre="polka"))


def test_format_submission_windows_x_classes():
    classes = ["65448", "amecro"]
    probs = np.array([[0.2, 1.3], [-0.1, 0.5]])
    out = format_submission(BIRDCLEF_2026, ["f_5", "f_10"], probs, classes)
    assert list(out.columns) == ["row_id", "65448", "amecro"]
    assert all(isinstance(c, str) for c in out.columns)
    assert out["row_id"].tolist() == ["f_5", "f_10"]
    np.testing.assert_allclose(out[classes].to_numpy(), [[0.2, 1.0], [0.0, 0.5]], rtol=1e-6)


def test_format_submission_label_per_clip_takes_the_argmax_first_on_ties():
    probs = np.zeros((3, 10))
    probs[0, GENRES.index("metal")] = 0.9
    probs[1, GENRES.index("jazz")] = 0.6
    probs[2, :] = 0.1  # a tie: the first class
    out = format_submission(MESSY_MASHUP, ["a", "b", "c"], probs, list(GENRES))
    assert list(out.columns) == ["id", "genre"]
    assert out["genre"].tolist() == ["metal", "jazz", GENRES[0]]


def test_format_submission_follows_the_sample_order_and_needs_its_ids():
    probs = np.eye(10)[:3]
    sample = pd.DataFrame({"id": ["c", "a"], "genre": "blues"})
    out = format_submission(MESSY_MASHUP, ["a", "b", "c"], probs, list(GENRES), sample)
    assert out["id"].tolist() == ["c", "a", "b"]
    assert out["genre"].tolist() == [GENRES[2], GENRES[0], GENRES[1]]
    with pytest.raises(ValueError, match="no prediction"):
        format_submission(MESSY_MASHUP, ["a", "b"], probs[:2], list(GENRES), sample)
    with pytest.raises(ValueError, match="columns"):
        format_submission(MESSY_MASHUP, ["a", "c"], probs[:2], list(GENRES),
                          sample.rename(columns={"genre": "label"}))


@pytest.mark.parametrize("ids, probs, message", [
    (["a", "b"], np.zeros((3, 10)), "shape"),
    (["a", "a"], np.zeros((2, 10)), "unique"),
    (["a", "b"], np.full((2, 10), np.nan), "NaN"),
])
def test_format_submission_rejects_bad_input(ids, probs, message):
    with pytest.raises(ValueError, match=message):
        format_submission(MESSY_MASHUP, ids, probs, list(GENRES))


def test_task_classes_reads_the_right_source(tmp_path):
    competition = tmp_path / "birdclef-2026"
    competition.mkdir()
    (competition / "sample_submission.csv").write_text("row_id,65448,amecro\nx_5,0.5,0.5\n")
    assert task_classes(BIRDCLEF_2026, competition) == ["65448", "amecro"]

    mashup = tmp_path / "messy-mashup"
    for genre in reversed(GENRES):
        (mashup / "train" / genre).mkdir(parents=True)
    assert task_classes(MESSY_MASHUP, mashup) == list(GENRES)
    (mashup / "train" / "polka").mkdir()
    with pytest.raises(ValueError, match="polka"):
        task_classes(MESSY_MASHUP, mashup)
    open_task = TaskSpec(**{**dataclasses.asdict(MESSY_MASHUP), "classes": ()})
    assert task_classes(open_task, mashup) == sorted([*GENRES, "polka"])
    with pytest.raises(FileNotFoundError, match="train"):
        task_classes(MESSY_MASHUP, tmp_path)
