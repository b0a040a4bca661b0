"""Tests for common.tasks.mashup.baselines: clip scores, cached clip features, the OOF report and
blend."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from common.audio.cache import CacheWriter, read_index  # noqa: E402
from common.data.prep_data import PrepData  # noqa: E402
from common.tasks.mashup import TASK as MASHUP  # noqa: E402
from common.tasks.mashup import baselines  # noqa: E402
from common.tasks.mashup.feature_models import macro_f1_probs  # noqa: E402
from common.tasks.mashup.features import FEATURE_NAMES  # noqa: E402

CLASSES = ["blues", "jazz", "rock"]
RATE = 22050


def _prep(prep_dir, n_per_class=4, seconds=2.0):
    """A PrepData over a small cache: clips of three genres (tones an octave apart), 2 folds."""
    rng = np.random.default_rng(0)
    rows = []
    t = np.arange(int(seconds * RATE)) / RATE
    with CacheWriter(prep_dir / "cache", RATE) as writer:
        for g, genre in enumerate(CLASSES):
            for i in range(n_per_class):
                key = f"mashups/{genre}/{i}.wav"
                wave = np.sin(2 * np.pi * 220 * 2 ** g * t) + 0.05 * rng.standard_normal(t.size)
                writer.add(key, 0.3 * wave, "clip")
                rows.append({"filename": key, "primary_label": genre, "fold": i % 2})
    species = pd.DataFrame({"column_index": range(3), "primary_label": CLASSES})
    return PrepData(prep_dir, list(CLASSES), species, pd.DataFrame(rows),
                    pd.DataFrame(columns=["filename", "start_seconds", "fold"]),
                    read_index(prep_dir / "cache"))


def test_clip_scores_are_the_task_metric_of_the_argmax():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([0, 1, 1, 2])
    scores = baselines.clip_scores(MASHUP, list("abcd"), np.eye(3)[y], probs, CLASSES)
    assert scores["val_accuracy"] == pytest.approx(0.75)
    # blues F1 2/3, jazz F1 2/3, rock F1 1: as sklearn (and Kaggle) compute it.
    assert scores["val_macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert scores["val_macro_f1"] == pytest.approx(macro_f1_probs(y, probs))
    empty = baselines.clip_scores(MASHUP, [], np.zeros((0, 3)), np.zeros((0, 3)), CLASSES)
    assert np.isnan(empty["val_macro_f1"]) and np.isnan(empty["val_accuracy"])
    bad = probs.copy()
    bad[0, 0] = np.nan
    assert np.isnan(baselines.clip_scores(MASHUP, list("abcd"), np.eye(3)[y], bad,
                                          CLASSES)["val_macro_f1"])


def test_oof_table_keeps_predicted_rows_in_the_clip_layout():
    probs = np.array([[0.5, 0.25, 0.25], [np.nan] * 3])
    df = baselines.oof_table(["a", "b"], [0, -1], probs, CLASSES)
    assert list(df.columns) == ["key", "fold", *CLASSES]
    assert df["key"].tolist() == ["a"] and df["fold"].tolist() == [0]


def test_clip_features_are_computed_once_and_reused(tmp_path, monkeypatch):
    prep = _prep(tmp_path)
    path = tmp_path / "models" / "features.csv"
    first = baselines.clip_features(prep, path, "genre")
    assert list(first.columns) == ["key", "genre", "fold", *FEATURE_NAMES]
    assert first["key"].tolist() == prep.train_df["filename"].tolist()
    assert np.isfinite(first[list(FEATURE_NAMES)].to_numpy()).all()
    written = pd.read_csv(path)
    np.testing.assert_allclose(written[list(FEATURE_NAMES)], first[list(FEATURE_NAMES)],
                               rtol=1e-5)

    calls = []

    def counting(cache_dir, keys):
        calls.append(list(keys))
        return np.zeros((len(keys), len(FEATURE_NAMES)), np.float32)

    monkeypatch.setattr(baselines, "_cached_features", counting)
    again = baselines.clip_features(prep, path, "genre")
    assert calls == [] and again.equals(first)  # resumed: nothing recomputed
    # A new clip (and a relabelled old one): only the new clip is computed, labels follow nb01.
    with CacheWriter(tmp_path / "cache", RATE) as writer:
        writer.add("mashups/rock/new.wav", np.ones(RATE, np.float32) * 0.1, "clip")
    prep.train_df = pd.concat([prep.train_df, pd.DataFrame(
        [{"filename": "mashups/rock/new.wav", "primary_label": "rock", "fold": 1}])],
        ignore_index=True)
    prep.train_df.loc[0, "primary_label"] = "jazz"
    grown = baselines.clip_features(prep, path, "genre")
    assert calls == [["mashups/rock/new.wav"]]
    assert len(grown) == len(first) + 1 and grown.loc[0, "genre"] == "jazz"
    assert len(pd.read_csv(path)) == len(grown)
    # New folds alone (nb01 re-run) rewrite the file without computing anything.
    prep.train_df["fold"] = 1 - prep.train_df["fold"]
    baselines.clip_features(prep, path, "genre")
    assert len(calls) == 1
    assert pd.read_csv(path)["fold"].tolist() == prep.train_df["fold"].tolist()


def test_report_scores_every_model_on_the_clips_the_cnn_predicted(tmp_path):
    prep = _prep(tmp_path)
    out = tmp_path / "models"
    out.mkdir()
    fold0 = prep.train_df[prep.train_df["fold"] == 0]
    y = np.array([CLASSES.index(g) for g in fold0["primary_label"]])
    cnn = 0.2 + 0.4 * np.eye(3)[(y + 1) % 3]  # a confidently wrong CNN on fold 0 only
    oof_df = baselines.oof_table(fold0["filename"], fold0["fold"], cnn, CLASSES)
    report = baselines.report_clip_models(prep, oof_df, out, task=MASHUP,
                                          feature_models=("logreg",), workers=1)
    assert report.report["n_oof_clips"] == len(fold0) and report.report["oof_folds"] == [0]
    scores = report.scores_df.set_index("model")
    assert list(scores.index) == ["cnn", "logreg", "blend"]
    assert scores.loc["cnn", "oof_macro_f1"] == 0.0
    assert scores.loc["blend", "oof_macro_f1"] >= scores.loc["logreg", "oof_macro_f1"]
    spec = json.loads((out / "blend.json").read_text())
    assert set(spec["weights"]) == {"cnn", "logreg"}
    assert sum(spec["weights"].values()) == pytest.approx(1.0)
    assert spec["weights"]["logreg"] > spec["weights"]["cnn"]
    # The feature model's OOF covers every clip (both folds), not only the CNN's.
    assert len(pd.read_csv(out / "oof_logreg.csv")) == len(prep.train_df)
    per_class = pd.read_csv(out / "per_class_f1.csv")
    assert per_class["primary_label"].tolist() == CLASSES
    assert per_class["n_clips"].sum() == len(fold0)
    assert {"f1_cnn", "f1_logreg", "f1_blend"} <= set(per_class.columns)
    for name in ("cnn", "logreg", "blend"):
        assert report.figures[f"confusion_{name}"].is_file()


def test_report_without_cnn_or_features(tmp_path):
    prep = _prep(tmp_path, n_per_class=2)
    empty = pd.DataFrame(columns=["key", "fold", *CLASSES])
    report = baselines.report_clip_models(prep, empty, tmp_path, task=MASHUP,
                                          feature_models=())
    assert report.scores_df.empty and report.report == {}
    assert not (tmp_path / "blend.json").exists()
