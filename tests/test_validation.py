"""nb02's validation (common.stages.train.validation) on hand-made audio and a stub model whose
logits are
the first samples of each window, so every probability and score is known in advance."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from common.audio.cache import CacheWriter, read_index
from common.data.competition import read_csv_str
from common.data.loaders import AudioSource
from common.data.windows import WindowItems, clip_window_items
from common.stages.train.validation import (
    ClipValidation,
    WindowValidation,
    focal_auc,
    format_scores,
    make_validation,
    soundscape_auc,
)
from common.tasks.birdclef import TASK as BIRDCLEF
from common.tasks.mashup import GENRES
from common.tasks.mashup import TASK as MASHUP

RATE = 1000  # Hz: 5-s windows of 5,000 samples keep the cache tiny
WINDOW = 5 * RATE
SPECIES = ["aaa", "65448"]
GENRE_LIST = list(GENRES)


class FirstSamples(torch.nn.Module):
    """Stub model: a window's clip logits are its first ``n_classes`` samples."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.head = SimpleNamespace(num_classes=n_classes)

    def forward(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"clip_logits": wave[:, :self.head.num_classes]}


def _audio(logits_per_window: list[list[float]]) -> np.ndarray:
    """Consecutive 5-s windows, each starting with its logits, silent otherwise."""
    wave = np.zeros(len(logits_per_window) * WINDOW, np.float32)
    for w, logits in enumerate(logits_per_window):
        wave[w * WINDOW:w * WINDOW + len(logits)] = logits
    return wave


def _source(tmp_path, clips: dict[str, list[list[float]]]) -> AudioSource:
    with CacheWriter(tmp_path / "cache", RATE) as writer:
        for key, logits in clips.items():
            writer.add(key, _audio(logits))
    return AudioSource([tmp_path / "cache"], None, RATE)


def _items(keys, crops, starts, targets, row_ids=None) -> WindowItems:
    table = pd.DataFrame({"key": keys, "crop": crops, "start_seconds": starts, "weight": 1.0,
                          "source": "test", "fold": 0,
                          "row_id": row_ids or [f"r{i}" for i in range(len(keys))]})
    return WindowItems(table, np.array(targets, np.float32))


def _evaluate(validation, kind: type, selection: str, description: str, n_classes: int):
    """What train_fold reads of a validation before an epoch, checked; then the stub's scores."""
    assert isinstance(validation, kind)
    assert validation.selection == selection
    assert validation.describe() == description
    return validation.evaluate(FirstSamples(n_classes), torch.device("cpu"), False, workers=0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, float)))


def _softmax(x):
    e = np.exp(np.asarray(x, float))
    return e / e.sum(axis=-1, keepdims=True)


def test_soundscape_auc_is_the_competition_metric_over_scorable_classes():
    items = _items(["s"] * 3, ["window"] * 3, [0.0, 5.0, 10.0], [[1, 0], [0, 1], [0, 0]],
                   ["s_5", "s_10", "s_15"])
    # aaa: the negative third window outranks the positive (AUC 0.5); 65448 ranked right (1.0)
    probs = np.array([[0.8, 0.1], [0.1, 0.9], [0.9, 0.2]])
    assert soundscape_auc(items, probs, SPECIES) == pytest.approx(0.75)
    no_call = _items(["s"] * 2, ["window"] * 2, [0.0, 5.0], [[0, 0], [0, 0]])
    assert np.isnan(soundscape_auc(no_call, probs[:2], SPECIES))


def test_focal_auc_needs_two_clips_and_a_scorable_class():
    items = _items(["a", "b", "c"], ["clip"] * 3, [0.0] * 3, [[1, 0.5], [0, 1], [1, 0]])
    probs = np.array([[0.9, 0.2], [0.1, 0.8], [0.5, 0.6]])
    assert focal_auc(items, probs) == pytest.approx(1.0)  # 0.5 secondary is not a positive
    assert np.isnan(focal_auc(items.select(np.array([0])), probs[:1]))
    same = _items(["a", "c"], ["clip"] * 2, [0.0] * 2, [[1, 0], [1, 0]])
    assert np.isnan(focal_auc(same, probs[:2]))  # every clip positive: nothing to rank


def test_format_scores_names_the_scores_for_the_epoch_log():
    assert format_scores({"val_macro_f1": 0.5, "val_accuracy": 0.25, "other": 1.0}) == \
        "val macro F1 0.5000  accuracy 0.2500  other 1.0000"


def test_window_validation_scores_soundscapes_and_focal_clips(tmp_path):
    source = _source(tmp_path, {"sc.ogg": [[2, -2], [-2, 2], [3, -1]],
                                "a.ogg": [[2, 0]], "b.ogg": [[0, 2]], "c.ogg": [[0, 1]]})
    soundscapes = _items(["sc.ogg"] * 3, ["window"] * 3, [0.0, 5.0, 10.0],
                         [[1, 0], [0, 1], [0, 0]], ["sc_5", "sc_10", "sc_15"])
    focal = _items(["a.ogg", "b.ogg", "c.ogg"], ["clip"] * 3, [0.0] * 3,
                   [[1, 0], [0, 1], [1, 0]])
    validation = make_validation(BIRDCLEF, source, soundscapes=soundscapes, focal=focal,
                                 clips=None, clip_samples=WINDOW, batch_size=2, fold=3,
                                 classes=SPECIES)
    scores = _evaluate(validation, WindowValidation, "val_soundscape_auc",
                       "3 soundscape windows (2 species), 3 focal clips", n_classes=2)
    # aaa: the negative window 3 (logit 3) outranks the positive (2): 0.5; 65448: 1.0.
    assert scores["val_soundscape_auc"] == pytest.approx(0.75)
    # aaa: a (2) > b (0), c (0) ties b: 0.75; 65448: b (2) above a (0) and c (1): 1.0.
    assert scores["val_focal_auc"] == pytest.approx(0.875)

    validation.write_oof(tmp_path)
    oof = read_csv_str(tmp_path / "oof_soundscapes.csv")
    assert list(oof.columns) == ["row_id", "key", "start_seconds", *SPECIES, "fold"]
    assert oof["row_id"].tolist() == ["sc_5", "sc_10", "sc_15"]
    assert (oof["fold"].astype(int) == 3).all()
    assert oof[SPECIES].astype(float).to_numpy() == pytest.approx(
        _sigmoid([[2, -2], [-2, 2], [3, -1]]), abs=1e-6)
    focal_oof = read_csv_str(tmp_path / "oof_focal.csv")
    assert focal_oof["key"].tolist() == ["a.ogg", "b.ogg", "c.ogg"]
    assert validation.counts() == {"n_val_soundscape_windows": 3, "n_val_focal_clips": 3}


def test_window_validation_selects_by_focal_auc_without_soundscape_calls(tmp_path, caplog):
    source = _source(tmp_path, {"a.ogg": [[1, 0]]})
    empty = _items([], [], [], np.zeros((0, 2)))
    focal = _items(["a.ogg"], ["clip"], [0.0], [[1, 0]])
    validation = WindowValidation(empty, focal, source, clip_samples=WINDOW, batch_size=2,
                                  task=BIRDCLEF, fold=1, classes=SPECIES)
    assert validation.selection == "val_focal_auc"
    validation.warn_if_unscorable()
    assert any("focal-clip AUC" in r.getMessage() for r in caplog.records)


def test_clip_validation_pools_windows_per_clip_and_scores_the_task_metric(tmp_path):
    blues, classical, country = GENRE_LIST[:3]
    logits = {  # first window says blues, the weaker second classical: blues on average
        f"mashups/{blues}/a.wav": [[4] + [0] * 9, [0, 3] + [0] * 8],
        f"mashups/{classical}/b.wav": [[0, 5] + [0] * 8],
        f"mashups/{country}/c.wav": [[2] + [0] * 9],  # wrong: blues
    }
    source = _source(tmp_path, logits)
    clips_df = pd.DataFrame({"filename": list(logits), "fold": 2,
                             "primary_label": [blues, classical, country]})
    windows = clip_window_items(clips_df, read_index(tmp_path / "cache"), GENRE_LIST)
    assert len(windows) == 4
    with pytest.raises(ValueError, match="whole clips"):
        make_validation(MASHUP, source, soundscapes=windows, focal=windows, clips=None,
                        clip_samples=WINDOW, batch_size=3, fold=2, classes=GENRE_LIST)
    validation = make_validation(MASHUP, source, soundscapes=windows, focal=windows,
                                 clips=windows, clip_samples=WINDOW, batch_size=3, fold=2,
                                 classes=GENRE_LIST)
    scores = _evaluate(validation, ClipValidation, "val_macro_f1", "3 clips (4 windows)",
                       n_classes=10)
    # Predicted blues, classical, blues: F1 blues 2/3, classical 1, country 0.
    assert scores == pytest.approx({"val_macro_f1": 5 / 9, "val_accuracy": 2 / 3})

    validation.write_oof(tmp_path)
    oof = read_csv_str(tmp_path / "oof_clips.csv")
    assert list(oof.columns) == ["key", "fold", *GENRE_LIST]
    assert oof["key"].tolist() == list(logits) and (oof["fold"].astype(int) == 2).all()
    expected = [_softmax(np.array(v, float)).mean(axis=0) for v in logits.values()]
    assert oof[GENRE_LIST].astype(float).to_numpy() == pytest.approx(np.array(expected),
                                                                    abs=1e-6)
    assert validation.counts() == {"n_val_clips": 3, "n_val_windows": 4}
