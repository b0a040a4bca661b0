"""Tests for common.stages.infer.submission: row ids, column and row order, fallback, validation."""

import numpy as np
import pandas as pd
import pytest

from common.stages.infer.submission import (
    build_submission,
    file_row_ids,
    n_windows_for,
    submission_order,
    validate_submission,
)
from common.tasks.mashup import TASK as MASHUP
from common.tasks.mashup.infer import build_clip_submission

CLASSES = ["65448", "grekis", "1234son01"]  # numeric-looking labels must stay strings


def sample_df(row_ids):
    return pd.DataFrame({"row_id": row_ids, **{c: 1 / 3 for c in CLASSES}})


def test_row_ids_are_stem_and_end_second():
    assert file_row_ids("BC2026_Test_0001_S05_20250101_000000.ogg", 3) == [
        "BC2026_Test_0001_S05_20250101_000000_5",
        "BC2026_Test_0001_S05_20250101_000000_10",
        "BC2026_Test_0001_S05_20250101_000000_15",
    ]


def test_windows_per_file():
    sr = 32000
    assert n_windows_for(60 * sr, 5 * sr) == 12
    assert n_windows_for(60 * sr + 100, 5 * sr) == 12  # a few stray samples: no extra window
    assert n_windows_for(58 * sr, 5 * sr) == 12  # a short last window is padded
    assert n_windows_for(100, 5 * sr) == 1


def test_sample_rows_first_in_its_order_then_the_rest():
    sample = sample_df(["b_5", "a_5"])
    order = submission_order(["a_5", "a_10", "b_5", "b_10"], sample)
    assert order == ["b_5", "a_5", "a_10", "b_10"]


def test_build_aligns_rows_and_keeps_string_columns():
    sample = sample_df(["b_5", "a_5"])
    probs = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]], np.float32)
    sub = build_submission(["a_5", "a_10", "b_5"], probs, sample, fallback=0.0)
    assert list(sub.columns) == ["row_id", *CLASSES]
    assert all(isinstance(c, str) for c in sub.columns)
    assert list(sub["row_id"]) == ["b_5", "a_5", "a_10"]
    np.testing.assert_allclose(sub.set_index("row_id").loc["b_5"].to_numpy(), [0.7, 0.8, 0.9],
                               rtol=1e-6)
    np.testing.assert_allclose(sub.set_index("row_id").loc["a_10"].to_numpy(), [0.4, 0.5, 0.6],
                               rtol=1e-6)
    validate_submission(sub, sample)


def test_csv_round_trip_keeps_numeric_labels_as_strings(tmp_path):
    from common.data.competition import read_csv_str

    sample = sample_df(["a_5"])
    sub = build_submission(["a_5"], np.full((1, 3), 0.5, np.float32), sample, 0.0)
    sub.to_csv(tmp_path / "submission.csv", index=False)
    back = read_csv_str(tmp_path / "submission.csv")
    assert list(back.columns) == ["row_id", *CLASSES]


def test_empty_prediction_gives_the_sample_shape():
    sample = sample_df(["x_5", "x_10", "y_5"])
    sub = build_submission([], np.zeros((0, 3), np.float32), sample, fallback=0.25)
    assert sub.shape == sample.shape
    assert list(sub["row_id"]) == list(sample["row_id"])
    assert (sub.iloc[:, 1:].to_numpy() == 0.25).all()
    validate_submission(sub, sample)


def test_nan_rows_and_missing_sample_rows_take_the_fallback():
    sample = sample_df(["a_5", "zzz_5"])
    probs = np.array([[np.nan, np.nan, np.nan], [2.0, -1.0, 0.5]], np.float32)
    sub = build_submission(["a_5", "a_10"], probs, sample, fallback=np.array([0.1, 0.2, 0.3]))
    values = sub.set_index("row_id")
    np.testing.assert_allclose(values.loc["a_5"].to_numpy(), [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(values.loc["zzz_5"].to_numpy(), [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(values.loc["a_10"].to_numpy(), [1.0, 0.0, 0.5])  # clipped
    validate_submission(sub, sample)


def test_validate_rejects_bad_submissions():
    sample = sample_df(["a_5"])
    good = build_submission(["a_5"], np.full((1, 3), 0.5, np.float32), sample, 0.0)
    with pytest.raises(ValueError, match="columns"):
        validate_submission(good[["row_id", *CLASSES[::-1]]], sample)
    bad = good.copy()
    bad.iloc[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        validate_submission(bad, sample)
    with pytest.raises(ValueError, match="lacks"):
        validate_submission(good.iloc[:0], sample)


def test_clip_submission_follows_the_sample_and_fills_its_gaps():
    sample = pd.DataFrame({"id": ["c", "a", "b"], "genre": "blues"})
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], np.float32)
    # "a" twice (the later row wins), "z" not in the sample, "b" without a clip
    sub, ordered, ids = build_clip_submission(MASHUP, ["a", "c", "a", "z"], probs,
                                              ["blues", "jazz"], sample,
                                              prior=np.array([0.45, 0.55]))
    assert list(sub.columns) == ["id", "genre"] and ids == ["c", "a", "b", "z"]
    assert list(sub["id"]) == ids and list(sub["genre"]) == ["blues", "jazz", "jazz", "blues"]
    np.testing.assert_allclose(ordered, [[0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [0.6, 0.4]])
