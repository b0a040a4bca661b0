import numpy as np
import pandas as pd
import pytest

from common.data.folds import (
    ALWAYS_TRAIN,
    assign_clip_folds,
    assign_soundscape_folds,
    fold_summary,
    rare_species,
)


def _train_df(seed=0):
    rng = np.random.default_rng(seed)
    counts = {"a": 40, "b": 25, "c": 12, "65448": 9, "47158son16": 5, "rare1": 3, "rare2": 1}
    rows = []
    for label, n in counts.items():
        for i in range(n):
            others = [s for s in counts if s != label]
            secondary = list(rng.choice(others, size=rng.integers(0, 2), replace=False))
            rows.append({"primary_label": label, "secondary": secondary,
                         "filename": f"{label}/XC{i}.ogg"})
    return pd.DataFrame(rows)


def test_folds_stratified_deterministic_and_rare_handled():
    df = _train_df()
    folds = assign_clip_folds(df, 5, seed=3)
    assert np.array_equal(folds, assign_clip_folds(df, 5, seed=3))
    assert not np.array_equal(folds, assign_clip_folds(df, 5, seed=4))
    df["fold"] = folds
    rare = set(rare_species(df, 5)["primary_label"])
    assert rare == {"rare1", "rare2"}
    assert (df.loc[df["primary_label"].isin(rare), "fold"] == ALWAYS_TRAIN).all()
    folded = df[df["fold"] >= 0]
    for label in ["a", "b", "c", "65448", "47158son16"]:
        secondary = folded["secondary"].map(lambda s, lab=label: lab in s)
        present = folded["primary_label"].eq(label) | secondary
        per_fold = np.bincount(folded.loc[present, "fold"], minlength=5)
        # stratification over primary + secondary: each fold within two clips of the others
        assert per_fold.max() - per_fold.min() <= 2, (label, per_fold)
    for _, group in df[~df["primary_label"].isin(rare)].groupby("primary_label"):
        for k in range(5):  # every species with >= K clips is in each fold's training part
            assert (group["fold"] != k).any()
    summary = fold_summary(df, 5)
    assert summary["val_clips"].sum() == (df["fold"] >= 0).sum()


def test_secondary_labels_count_in_stratification():
    df = _train_df(1)
    df["fold"] = assign_clip_folds(df, 5, seed=0)
    has_a = df["secondary"].map(lambda s: "a" in s) & (df["fold"] >= 0)
    per_fold = np.bincount(df.loc[has_a, "fold"], minlength=5)
    assert per_fold.max() - per_fold.min() <= 2


def test_soundscape_folds_never_split_a_file():
    files = [f"S{i}.ogg" for i in range(12) for _ in range(12)]
    labels = [[f"sp{(i * 7 + w) % 5}"] for i in range(12) for w in range(12)]
    mapping = assign_soundscape_folds(files, labels, 5, seed=0)
    assert set(mapping) == set(files)
    assert set(mapping.values()) == set(range(5))
    assert mapping == assign_soundscape_folds(files, labels, 5, seed=0)
    window_folds = pd.Series([mapping[f] for f in files]).groupby(files).nunique()
    assert (window_folds == 1).all()


def test_fewer_soundscapes_than_folds_warns(caplog):
    mapping = assign_soundscape_folds(["A.ogg", "B.ogg"], [["x"], ["y"]], 5, seed=0)
    assert sorted(mapping.values()) == [0, 1]
    assert "no soundscape validation" in caplog.text


def test_too_few_folds_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        assign_clip_folds(_train_df(), 1, seed=0)


def test_coverage_repair_moves_a_clip_out_of_a_full_fold():
    from common.data.folds import _ensure_train_coverage

    primary = np.array(["a"] * 6 + ["b"] * 6)
    folds = np.array([0] * 6 + [0, 1, 2, 0, 1, 2])  # every "a" clip sits in fold 0
    _ensure_train_coverage(folds, primary, 3)
    assert (folds[:6] != 0).sum() == 1  # one clip moved: fold 0's training part now has an "a"
    assert list(folds[6:]) == [0, 1, 2, 0, 1, 2]  # untouched species stay put
