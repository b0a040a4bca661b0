"""Curated positive subsets (top-x% by own-label score) and hard negatives (threshold), by hand."""

import numpy as np
import pandas as pd
import pytest

from common.data.windows import read_extra_windows
from common.stages.pseudo.subsets import (
    curate_positive_subsets,
    mine_hard_negatives,
    negative_subset_name,
    positive_subset_name,
)

SPECIES = ["aaa", "65448", "ccc"]


def scores_and_clips():
    # Ten clips; own-label scores 0.10 .. 1.00 (clip i has score (i + 1) / 10), labels cycle.
    keys = [f"c{i}.ogg" for i in range(10)]
    labels = [SPECIES[i % 3] for i in range(10)]
    probs = np.full((10, 3), 0.5)  # other columns must not matter
    for i, label in enumerate(labels):
        probs[i, SPECIES.index(label)] = (i + 1) / 10
    scores = pd.DataFrame(probs, columns=SPECIES).assign(key=keys, fold=0)
    clips = pd.DataFrame({"filename": keys, "primary_label": labels, "fold": np.arange(10) % 2})
    return scores, clips


def test_names():
    assert positive_subset_name(0.05) == "pos_top05"
    assert positive_subset_name(0.5) == "pos_top50"
    assert negative_subset_name(0.85) == "neg_t085"
    assert negative_subset_name(0.5) == "neg_t050"
    with pytest.raises(ValueError):
        positive_subset_name(0.0)


def test_top_fraction_by_own_label_score():
    scores, clips = scores_and_clips()
    subsets = curate_positive_subsets(scores, clips, fractions=(0.05, 0.3, 0.5))
    assert list(subsets) == ["pos_top05", "pos_top30", "pos_top50"]
    # ceil(0.05 * 10) = 1, 3, 5 clips: the highest own-label scores, best first.
    assert subsets["pos_top05"]["key"].tolist() == ["c9.ogg"]
    assert subsets["pos_top30"]["key"].tolist() == ["c9.ogg", "c8.ogg", "c7.ogg"]
    top50 = subsets["pos_top50"]
    assert top50["key"].tolist() == ["c9.ogg", "c8.ogg", "c7.ogg", "c6.ogg", "c5.ogg"]
    assert top50["confidence"].tolist() == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    # one-hot on the clip's own label, its fold kept, clip crop (start empty)
    assert top50.loc[0, "aaa"] == 1 and top50.loc[0, ["65448", "ccc"]].sum() == 0  # c9: aaa
    assert top50.loc[1, "ccc"] == 1  # c8 -> label index 2
    assert top50["fold"].tolist() == [1, 0, 1, 0, 1]
    assert top50["start_seconds"].isna().all()


def test_pool_filter_and_missing_scores():
    scores, clips = scores_and_clips()
    low = clips.iloc[:4]  # e.g. only clips below a rating threshold
    subsets = curate_positive_subsets(scores.iloc[1:], low, fractions=(0.5,))
    # c0 has no score: pool is c1..c3, top 50% = ceil(1.5) = 2 clips
    assert subsets["pos_top50"]["key"].tolist() == ["c3.ogg", "c2.ogg"]


def test_subset_table_reads_as_extra_windows(tmp_path):
    scores, clips = scores_and_clips()
    path = tmp_path / "subset_pos_top30.csv"
    curate_positive_subsets(scores, clips, (0.3,))["pos_top30"].to_csv(path, index=False)
    items = read_extra_windows(path, SPECIES)
    assert items.table_df["crop"].tolist() == ["clip"] * 3
    assert items.targets.sum(axis=1).tolist() == [1.0, 1.0, 1.0]
    assert items.table_df["fold"].tolist() == [1, 0, 1]


def test_hard_negative_thresholds(tmp_path):
    probs = np.array([[0.2, 0.1, 0.0], [0.5, 0.3, 0.1], [0.1, 0.86, 0.2], [0.995, 0.0, 0.9],
                      [0.84, 0.0, 0.0]])
    windows = pd.DataFrame(probs, columns=SPECIES).assign(
        key=[f"w{i}" for i in range(5)], start_seconds=[0.0, 5.0, 10.0, 15.0, 20.0],
        fold=[-1, 0, 1, -1, 0])
    negs = mine_hard_negatives(windows, (0.5, 0.85, 0.99), SPECIES)
    assert list(negs) == ["neg_t050", "neg_t085", "neg_t099"]
    assert negs["neg_t050"]["key"].tolist() == ["w3", "w2", "w4", "w1"]  # >= 0.5, best first
    assert negs["neg_t085"]["key"].tolist() == ["w3", "w2"]
    assert negs["neg_t099"]["key"].tolist() == ["w3"]
    t085 = negs["neg_t085"]
    assert t085["top_species"].tolist() == ["aaa", "65448"]
    assert t085["fold"].tolist() == [-1, 1]
    assert (t085[SPECIES].to_numpy() == 0).all()  # all-zero targets
    path = tmp_path / "subset_neg_t085.csv"
    t085.to_csv(path, index=False)
    items = read_extra_windows(path, SPECIES)
    assert items.targets.sum() == 0 and items.table_df["crop"].tolist() == ["window"] * 2
    assert items.table_df["start_seconds"].tolist() == [15.0, 10.0]
