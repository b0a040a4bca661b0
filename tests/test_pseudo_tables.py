"""Pseudo-label tables (common.stages.pseudo.tables) on hand-made probabilities: windowed BirdCLEF
tables
(soft, hard view, counts) and whole-clip mashup tables (scored clips, one-hot or soft targets,
counts)."""

import numpy as np
import pandas as pd
import pytest

from common.stages.pseudo.tables import (
    CLIP_META_COLUMNS,
    META_COLUMNS,
    class_counts,
    clip_class_counts,
    clip_probs_table,
    clip_pseudo_label_table,
    hard_label_table,
    pseudo_label_table,
)
from common.tasks.mashup import GENRES

CLASSES = ["aaa", "65448", "ccc"]
GENRE_LIST = list(GENRES)


def test_pseudo_label_table_recipe():
    windows = pd.DataFrame({"filename": ["a.ogg"] * 3 + ["b.ogg"], "start": [0.0, 5.0, 10.0, 0.0],
                            "end": [5.0, 10.0, 15.0, 5.0],
                            "row_id": ["a_5", "a_10", "a_15", "b_5"]})
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.1], [np.nan] * 3, [0.5, 0.6, 0.7]])
    soft = pseudo_label_table(windows, probs, CLASSES, {"b.ogg": 2})
    assert list(soft.columns) == META_COLUMNS + CLASSES
    assert soft["row_id"].tolist() == ["a_5", "a_10", "b_5"]  # the NaN (unscored) row dropped
    assert soft["key"].tolist() == ["train_soundscapes/a.ogg"] * 2 + ["train_soundscapes/b.ogg"]
    assert soft["fold"].tolist() == [-1, -1, 2]
    assert soft["confidence"].tolist() == pytest.approx([0.9, 0.3, 0.7])
    assert soft[CLASSES].to_numpy() == pytest.approx(probs[[0, 1, 3]])

    sharp = pseudo_label_table(windows, probs, CLASSES, {}, min_confidence=0.5, target_power=2.0,
                               weight=0.5)
    assert sharp["row_id"].tolist() == ["a_5", "b_5"]
    assert sharp["65448"].tolist() == pytest.approx([0.01, 0.36])
    assert sharp["confidence"].tolist() == pytest.approx([0.9, 0.7])  # before the power
    assert (sharp["weight"] == 0.5).all()
    top = pseudo_label_table(windows, probs, CLASSES, {}, max_windows=2)
    assert top["row_id"].tolist() == ["a_5", "b_5"]  # most confident, in file order

    hard = hard_label_table(soft, CLASSES, 0.5)
    assert hard[CLASSES].to_numpy().tolist() == [[1, 0, 0], [0, 0, 0], [1, 1, 1]]
    assert hard_label_table(soft, CLASSES, 0.65)[CLASSES].to_numpy().tolist() == [
        [1, 0, 0], [0, 0, 0], [0, 0, 1]]
    counts = class_counts(soft, CLASSES, 0.5).set_index("primary_label")
    assert counts["n_windows"].to_dict() == {"aaa": 2, "65448": 1, "ccc": 1}


def test_clip_pseudo_label_table_recipe():
    keys = ["test/a.wav", "test/b.wav", "test/c.wav", "test/d.wav"]
    probs = np.full((4, 10), 0.01)
    probs[0, 3] = 0.91  # disco, sure
    probs[1, 0], probs[1, 9] = 0.5, 0.42  # blues, unsure
    probs[2] = np.nan  # failed to decode
    probs[3, 1] = 0.96  # classical, sure
    clips = clip_probs_table(keys, probs, GENRE_LIST)
    assert clips["key"].tolist() == ["test/a.wav", "test/b.wav", "test/d.wav"]
    assert clips["id"].tolist() == ["a", "b", "d"] and clips["filename"].tolist()[0] == "a.wav"
    assert clips["label"].tolist() == ["disco", "blues", "classical"]
    assert clips["confidence"].tolist() == pytest.approx([0.91, 0.5, 0.96])

    hard = clip_pseudo_label_table(clips, GENRE_LIST, min_confidence=0.9, weight=0.5)
    assert list(hard.columns) == CLIP_META_COLUMNS + GENRE_LIST
    assert hard["key"].tolist() == ["test/a.wav", "test/d.wav"]  # only top probability >= 0.9
    assert hard[GENRE_LIST].to_numpy().sum(axis=1).tolist() == [1.0, 1.0]  # one-hot
    assert hard["disco"].tolist() == [1.0, 0.0] and hard["classical"].tolist() == [0.0, 1.0]
    assert (hard["fold"] == -1).all() and (hard["weight"] == 0.5).all()
    assert "start_seconds" not in hard  # nb02 crops the cached clip
    top = clip_pseudo_label_table(clips, GENRE_LIST, min_confidence=0.0, max_clips=1)
    assert top["key"].tolist() == ["test/d.wav"]
    assert clip_pseudo_label_table(clips, GENRE_LIST, min_confidence=1.01).empty

    soft = clip_pseudo_label_table(clips, GENRE_LIST, min_confidence=0.0, targets="soft",
                                   target_power=2.0)
    values = soft[GENRE_LIST].to_numpy()
    assert values.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)  # renormalised
    sharpened = probs[1] ** 2 / (probs[1] ** 2).sum()
    assert values[1] == pytest.approx(sharpened, abs=1e-6)
    with pytest.raises(ValueError, match="targets"):
        clip_pseudo_label_table(clips, GENRE_LIST, targets="fuzzy")

    counts = clip_class_counts(clips, hard, GENRE_LIST).set_index("primary_label")
    assert counts["n_scored"].to_dict() == {g: int(g in ("disco", "blues", "classical"))
                                            for g in GENRE_LIST}
    assert counts.loc["blues", "n_clips"] == 0 and counts.loc["disco", "n_clips"] == 1
    assert counts.loc["disco", "share_kept"] == 1.0 and counts.loc["blues", "share_kept"] == 0
