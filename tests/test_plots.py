"""Tests for the common.report figures added for the mashup task (data_plots, training_plots,
prediction_plots) and for common.report.plots.save_figure."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from common.report import data_plots, plots, prediction_plots, training_plots  # noqa: E402
from common.tasks.mashup import plots as mashup_plots  # noqa: E402


def test_confusion_matrix_counts_and_title(tmp_path):
    classes = ["blues", "jazz", "rock"]
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0])
    fig = prediction_plots.confusion_matrix(y_true, y_pred, classes, "fold 0")
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(image, [[0.5, 0.5, 0], [0, 1, 0], [1 / 3, 0, 2 / 3]])
    assert "accuracy 0.714" in ax.get_title() and ax.get_title().startswith("fold 0")
    assert [t.get_text() for t in ax.get_xticklabels()] == classes
    path = plots.save_figure(fig, tmp_path / "cm.png")
    assert path.stat().st_size > 1000
    counts = prediction_plots.confusion_matrix(y_true, y_pred, classes, normalize=False)
    assert counts.axes[0].get_images()[0].get_array().sum() == len(y_true)


def test_nb01_mashup_figures(tmp_path):
    import pandas as pd

    classes = ["blues", "jazz", "rock"]
    songs = pd.DataFrame({"genre": ["blues", "blues", "jazz", "jazz", "rock", "rock"],
                          "song_id": list("abcdef"), "fold": [0, 1, 0, 1, 0, 1],
                          "usable_stems": ["drums;bass", "", "other", "bass", "drums", "bass"]})
    train = pd.DataFrame({"primary_label": ["blues", "jazz", "jazz", "rock"],
                          "fold": [0, 0, 1, 1], "tempo_bpm": [90.0, 120.0, 100.0, 150.0],
                          "snr_db": [3.0, float("nan"), 10.0, 12.0],
                          "stretch_rates": ["drums:1.1;bass:0.9", "other:1", "bass:1.2",
                                            "bass:0.8;drums:0.7"],
                          "n_stems": [2, 1, 1, 2]})
    fig = mashup_plots.genre_fold_counts(songs, train, classes)
    heat = fig.axes[1].get_images()[0].get_array()
    np.testing.assert_array_equal(heat, [[1, 1, 0], [0, 1, 1]])  # folds x genres
    fig = mashup_plots.mashup_recipes(train)
    rates = sum(p.get_height() for p in fig.axes[2].patches)
    assert rates == 6 and "1 without noise" in fig.axes[1].get_title()
    bad = pd.DataFrame({"filename": ["train/blues/b/vocals.wav", "noise/dog.wav"],
                        "kind": ["stem", "noise"], "reason": ["silent: -80 dBFS", "corrupt: 1"]})
    fig = data_plots.bad_file_reasons(bad)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["noise", "vocals"]
    empty = data_plots.bad_file_reasons(bad.iloc[:0])
    assert empty.axes[0].texts[0].get_text() == "no bad files"
    assert plots.save_figure(fig, tmp_path / "bad.png").is_file()


def test_nb02_training_curves_and_per_class_f1(tmp_path):
    import pandas as pd

    log_df = pd.DataFrame({"fold": [0, 0, 1, 1], "epoch": [1, 2, 1, 2],
                           "train_loss": [2.3, 1.9, 2.2, 2.0],
                           "val_macro_f1": [0.1, 0.4, 0.2, 0.3]})
    fig = training_plots.training_curves(log_df, {"train_loss": "loss",
                                                  "val_macro_f1": "val macro F1"})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "val macro F1"]
    assert len(fig.axes[1].get_lines()) == 2  # one line per fold
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), [0.1, 0.4])
    per_class = pd.DataFrame({"primary_label": ["blues", "jazz", "rock"], "n_clips": [2, 2, 2],
                              "f1_cnn": [0.5, 1.0, 0.0], "f1_blend": [0.6, 1.0, 0.2]})
    fig = training_plots.per_class_f1(per_class)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cnn", "blend"]
    assert sorted(round(p.get_height(), 3) for p in ax.patches) == [0.0, 0.2, 0.5, 0.6, 1.0,
                                                                    1.0]
    assert plots.save_figure(fig, tmp_path / "f1.png").stat().st_size > 1000


def test_nb04_clip_predictions(tmp_path):
    classes = ["blues", "jazz", "rock"]
    fig = prediction_plots.clip_predictions(["jazz", "jazz", "rock"], [0.9, 0.5, 0.4], classes,
                                            "nb04")
    bars, hist = fig.axes[0], fig.axes[1]
    assert [p.get_height() for p in bars.patches] == [0, 2, 1]  # never-predicted class shown
    assert sum(p.get_height() for p in hist.patches) == 3
    assert "3 clips" in bars.get_title() and "median 0.50" in hist.get_title()
    assert plots.save_figure(fig, tmp_path / "clips.png").stat().st_size > 1000
    empty = prediction_plots.clip_predictions([], [], classes)  # no test audio: still a figure
    assert len(empty.axes) == 2


def test_per_class_auc_names_the_worst_and_best_species(tmp_path):
    import pandas as pd

    labels = [f"sp{i:02d}" for i in range(30)]
    auc = np.linspace(0.3, 1.0, 30)
    per_class = pd.DataFrame({"primary_label": labels,
                              "class_name": ["Aves"] * 28 + ["Insecta"] * 2,
                              "oof_soundscape_auc": auc,
                              "oof_focal_auc": [np.nan] * 25 + list(auc[:5])})
    fig = training_plots.per_class_auc(per_class, n_named=5)
    sound, focal = fig.axes[0], fig.axes[1]
    names = [t.get_text() for t in sound.get_yticklabels()]
    assert names == labels[:5] + labels[-5:]  # worst five, then best five, by name
    assert "20 middle ones not drawn" in sound.get_title()
    assert [t.get_text() for t in focal.get_yticklabels()] == labels[25:]  # NaN rows left out
    assert all(float(t).is_integer() for t in sound.get_yticks())
    assert plots.save_figure(fig, tmp_path / "auc.png").stat().st_size > 1000


def test_student_gate_gains_marks_the_quantile_and_the_share_ahead(tmp_path):
    rng = np.random.default_rng(0)
    gains = {"student r1": rng.normal(-0.01, 0.005, 500), "student r2": np.linspace(0, 1, 101)}
    fig = prediction_plots.student_gate_gains(gains, 0.9, "macro_roc_auc", unit="soundscape")
    top, bottom = fig.axes
    assert top.get_title().startswith("student r1: ahead in 2% of 500 resamples")
    assert bottom.get_title() == ("student r2: ahead in 99% of 101 resamples of the validation "
                                  "soundscapes")
    quantile = [line for line in bottom.get_lines() if line.get_linestyle() == "--"][0]
    assert quantile.get_xdata()[0] == pytest.approx(0.1)
    assert "macro_roc_auc" in bottom.get_xlabel()
    assert plots.save_figure(fig, tmp_path / "gate.png").stat().st_size > 1000
