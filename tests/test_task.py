"""Tests for common.tasks.base: the task registry and the functions that replace hard-coded
choices."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score

from common.core.metrics import macro_roc_auc
from common.tasks import get_task
from common.tasks.birdclef import TASK as BIRDCLEF
from common.tasks.mashup import GENRES
from common.tasks.mashup import TASK as MASHUP


def test_registry_holds_both_tasks_and_names_the_valid_ones():
    assert get_task("birdclef-2026") is BIRDCLEF
    assert get_task("messy-mashup") is MASHUP
    with pytest.raises(KeyError, match="birdclef-2026, messy-mashup"):
        get_task("birdclef-2025")


def test_task_definitions():
    assert (BIRDCLEF.name, BIRDCLEF.metric, BIRDCLEF.sample_rate, BIRDCLEF.clip_seconds,
            BIRDCLEF.id_column, BIRDCLEF.losses) == (
        "birdclef-2026", "macro_roc_auc", 32000, 60.0, "row_id", ("asl", "bce", "focal"))
    assert (MASHUP.name, MASHUP.metric, MASHUP.sample_rate, MASHUP.clip_seconds,
            MASHUP.id_column, MASHUP.label_column) == (
        "messy-mashup", "macro_f1", 22050, 30.0, "id", "genre")
    assert MASHUP.classes == GENRES and len(GENRES) == 10
    assert BIRDCLEF.window_seconds == MASHUP.window_seconds == 5.0


def test_slugs_and_stage_defaults_derive_from_the_task():
    assert [BIRDCLEF.slug(s) for s in ("prep", "train", "pseudo", "infer")] == [
        "birdclef-2026-prep", "birdclef-2026-models", "birdclef-2026-pseudo",
        "birdclef-2026-submission"]
    fields = ("competition", "dataset_slug", "prep_slug", "models_slug", "frontend.sample_rate",
              "loss", "unrelated")
    assert MASHUP.config_defaults("train", fields) == {
        "competition": "messy-mashup", "dataset_slug": "messy-mashup-models",
        "prep_slug": "messy-mashup-prep", "models_slug": "messy-mashup-models",
        "frontend.sample_rate": 22050, "loss": "cross_entropy"}
    assert BIRDCLEF.config_defaults("prep", ("sample_rate", "loss")) == {"sample_rate": 32000}


@pytest.mark.parametrize("change, error", [
    ({"classes": (1, 2)}, TypeError),
    ({"losses": ()}, ValueError),
])
def test_inconsistent_tasks_are_rejected(change, error):
    with pytest.raises(error, match="messy-mashup"):
        dataclasses.replace(MASHUP, **change)


def test_loss_name_for_defaults_and_refuses_a_loss_of_the_other_label_mode():
    assert BIRDCLEF.loss_name() == "asl"
    assert BIRDCLEF.loss_name("focal") == "focal"
    assert MASHUP.loss_name() == "cross_entropy"
    with pytest.raises(ValueError, match="cross_entropy"):
        MASHUP.loss_name("asl")
    with pytest.raises(ValueError, match="asl, bce, focal"):
        BIRDCLEF.loss_name("cross_entropy")


def test_activation_numpy_sigmoid_and_stable_softmax():
    logits = np.array([[-1000.0, 0.0, 2.0], [1000.0, -3.0, 0.5]])
    sig = BIRDCLEF.activation(logits)
    assert sig.dtype == np.float32 and np.isfinite(sig).all()
    np.testing.assert_allclose(sig[0, 1:], 1 / (1 + np.exp(-logits[0, 1:])), rtol=1e-6)
    assert sig[0, 0] == 0.0 and sig[1, 0] == 1.0
    soft = MASHUP.activation(logits)
    assert np.isfinite(soft).all()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    assert soft[1].argmax() == 0
    np.testing.assert_allclose(MASHUP.activation(np.array([[0.0, np.log(3.0)]])),
                               [[0.25, 0.75]], rtol=1e-6)


def test_activation_torch_keeps_the_tensor_type():
    logits = torch.tensor([[0.5, -2.0, 3.0]])
    out = BIRDCLEF.activation(logits)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.sigmoid(logits))
    torch.testing.assert_close(MASHUP.activation(logits), torch.softmax(logits, dim=-1))


def test_score_dispatches_to_the_task_metric():
    rng = np.random.default_rng(0)
    classes = ["amecro", "65448", "barswa"]
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 1]])
    solution = pd.DataFrame(y, columns=classes).assign(row_id=[f"s_{5 * i}" for i in range(6)])
    submission = pd.DataFrame(y * 0.5 + rng.random(y.shape), columns=classes)
    submission["row_id"] = solution["row_id"]
    assert BIRDCLEF.score(solution, submission) == macro_roc_auc(solution, submission)

    truth = ["rock", "jazz", "pop", "rock", "jazz", "blues"]
    guess = ["rock", "jazz", "rock", "rock", "pop", "blues"]
    ids = [f"mashup_{i}" for i in range(6)]
    solution = pd.DataFrame({"id": ids, "genre": truth})
    submission = pd.DataFrame({"id": ids[::-1], "genre": guess[::-1]})
    assert MASHUP.score(solution, submission) == pytest.approx(
        f1_score(truth, guess, average="macro"))
    with pytest.raises(ValueError, match="unknown labels"):
        MASHUP.score(solution, submission.assign(genre="polka"))


def test_format_submission_windows_x_classes():
    classes = ["65448", "amecro"]
    probs = np.array([[0.2, 1.3], [-0.1, 0.5]])
    out = BIRDCLEF.format_submission(["f_5", "f_10"], probs, classes)
    assert list(out.columns) == ["row_id", "65448", "amecro"]
    assert all(isinstance(c, str) for c in out.columns)
    assert out["row_id"].tolist() == ["f_5", "f_10"]
    np.testing.assert_allclose(out[classes].to_numpy(), [[0.2, 1.0], [0.0, 0.5]], rtol=1e-6)


def test_format_submission_label_per_clip_takes_the_argmax_first_on_ties():
    probs = np.zeros((3, 10))
    probs[0, GENRES.index("metal")] = 0.9
    probs[1, GENRES.index("jazz")] = 0.6
    probs[2, :] = 0.1  # a tie: the first class
    out = MASHUP.format_submission(["a", "b", "c"], probs, list(GENRES))
    assert list(out.columns) == ["id", "genre"]
    assert out["genre"].tolist() == ["metal", "jazz", GENRES[0]]


def test_format_submission_follows_the_sample_order_and_needs_its_ids():
    probs = np.eye(10)[:3]
    sample = pd.DataFrame({"id": ["c", "a"], "genre": "blues"})
    out = MASHUP.format_submission(["a", "b", "c"], probs, list(GENRES), sample)
    assert out["id"].tolist() == ["c", "a", "b"]
    assert out["genre"].tolist() == [GENRES[2], GENRES[0], GENRES[1]]
    with pytest.raises(ValueError, match="no prediction"):
        MASHUP.format_submission(["a", "b"], probs[:2], list(GENRES), sample)
    with pytest.raises(ValueError, match="columns"):
        MASHUP.format_submission(["a", "c"], probs[:2], list(GENRES),
                          sample.rename(columns={"genre": "label"}))


@pytest.mark.parametrize("ids, probs, message", [
    (["a", "b"], np.zeros((3, 10)), "shape"),
    (["a", "a"], np.zeros((2, 10)), "unique"),
    (["a", "b"], np.full((2, 10), np.nan), "NaN"),
])
def test_format_submission_rejects_bad_input(ids, probs, message):
    with pytest.raises(ValueError, match=message):
        MASHUP.format_submission(ids, probs, list(GENRES))


def test_task_classes_reads_the_right_source(tmp_path):
    competition = tmp_path / "birdclef-2026"
    competition.mkdir()
    (competition / "sample_submission.csv").write_text("row_id,65448,amecro\nx_5,0.5,0.5\n")
    assert BIRDCLEF.read_classes(competition) == ["65448", "amecro"]

    mashup = tmp_path / "messy-mashup"
    for genre in reversed(GENRES):
        (mashup / "train" / genre).mkdir(parents=True)
    assert MASHUP.read_classes(mashup) == list(GENRES)
    (mashup / "train" / "polka").mkdir()
    with pytest.raises(ValueError, match="polka"):
        MASHUP.read_classes(mashup)
    open_task = dataclasses.replace(MASHUP, classes=())
    assert open_task.read_classes(mashup) == sorted([*GENRES, "polka"])
    with pytest.raises(FileNotFoundError, match="train"):
        MASHUP.read_classes(tmp_path)
