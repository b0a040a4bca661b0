"""Tests for common.tasks.mashup.calibration: nb03's threshold read from the teacher's OOF."""

import numpy as np
import pandas as pd
import pytest

from common.tasks.mashup.calibration import calibrated_threshold, precision_threshold

CLASSES = ["a", "b"]


def test_precision_threshold_is_the_lowest_cut_that_reaches_the_target():
    conf = np.array([0.99, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 0, 1, 0], bool)
    # precisions of the top k: 1, 1, 1, .75, .8, .667
    assert precision_threshold(conf, correct, 0.8) == (0.6, 0.8, 5)
    assert precision_threshold(conf, correct, 1.0) == (0.8, 1.0, 3)
    assert precision_threshold(conf, correct, 1.0, min_clips=4) is None
    assert precision_threshold(np.zeros(0), np.zeros(0, bool), 0.9) is None
    with pytest.raises(ValueError, match="target_precision"):
        precision_threshold(conf, correct, 0.0)


def test_a_cut_keeps_every_clip_of_a_tied_confidence():
    conf = np.array([0.9, 0.7, 0.7, 0.5])
    correct = np.array([1, 1, 0, 1], bool)
    # 0.7 keeps both tied clips (precision 2/3): at target 0.9 only the 0.9 cut qualifies.
    assert precision_threshold(conf, correct, 0.9) == (0.9, 1.0, 1)
    assert precision_threshold(conf, correct, 0.6) == (0.5, 0.75, 4)


def _write_oof(models_dir, rows):
    pd.DataFrame(rows, columns=["key", "fold", *CLASSES]).to_csv(
        models_dir / "oof_clips.csv", index=False)


def test_calibrated_threshold_reads_nb02_oof_and_falls_back(tmp_path):
    train_df = pd.DataFrame({"filename": ["x1", "x2", "x3", "x4"],
                             "primary_label": ["a", "b", "a", "b"]})
    fixed = calibrated_threshold(tmp_path, train_df, CLASSES, 0.9, 1, fallback=0.95)
    assert fixed.threshold == 0.95 and "missing" in fixed.source
    _write_oof(tmp_path, [["x1", 0, 0.9, 0.1], ["x2", 0, 0.2, 0.8], ["x3", 1, 0.4, 0.6],
                          ["x4", 1, 0.45, 0.55], ["not-a-train-clip", 1, 0.99, 0.01]])
    # Top probabilities .9 (right), .8 (right), .6 (wrong), .55 (right).
    cal = calibrated_threshold(tmp_path, train_df, CLASSES, 0.75, 1, fallback=0.95)
    assert (cal.threshold, cal.source, cal.oof_clips) == (0.55, "oof", 4)
    assert cal.oof_precision == 0.75 and cal.oof_share == 1.0
    assert cal.to_dict()["calibration_threshold"] == 0.55
    cal = calibrated_threshold(tmp_path, train_df, CLASSES, 0.9, 1, fallback=0.95)
    assert cal.threshold == 0.8 and cal.oof_share == 0.5
    none = calibrated_threshold(tmp_path, train_df, CLASSES, 0.9, 3, fallback=0.95)
    assert none.threshold == 0.95 and "no OOF cut" in none.source
    off = calibrated_threshold(tmp_path, train_df, CLASSES, 0.0, 1, fallback=0.95)
    assert off.threshold == 0.95 and "off" in off.source
