"""nb03 on the tiny competition: pseudo-label tables, threshold views, subsets, the student round.

One module-scoped run (nb02 smoke teacher on one fold, then nb03 smoke: 4 unlabelled soundscapes,
one round) serves the end-to-end checks; the table logic is also tested on hand-made arrays.
"""

import json
import os

import numpy as np
import pandas as pd
import pytest

from common.competition import read_csv_str
from common.config import apply_preset, config_from_dict, replace_dotted
from common.data import load_prep, read_extra_windows
from common.pseudo import (
    META_COLUMNS,
    PseudoConfig,
    class_counts,
    hard_label_table,
    pseudo_label_table,
    run_pseudo,
)
from common.train import TrainConfig, fold_data, run_training

CLASSES = ["aaa", "65448", "ccc"]


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


def test_config_rejects_unknown_modes():
    with pytest.raises(ValueError, match="soundscapes"):
        PseudoConfig(soundscapes="some")
    with pytest.raises(ValueError, match="negative_sources"):
        PseudoConfig(negative_sources=("nowhere",))


@pytest.fixture(scope="module")
def nb03_run(tmp_path_factory, prepped_input_root):
    """nb02 smoke (fold 0) as the teacher, then nb03 smoke, in a fresh input root."""
    root = tmp_path_factory.mktemp("nb03") / "input"
    root.mkdir()
    for name in ("birdclef-2026", "birdclef-2026-prep"):  # read-only inputs, linked
        os.symlink((prepped_input_root / name).resolve(), root / name)
    teacher = replace_dotted(apply_preset(TrainConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(root / "birdclef-2026-models"),
        "folds": (0,), "max_steps_per_epoch": 2})
    run_training(teacher)
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(root / "birdclef-2026-pseudo")})
    return cfg, run_pseudo(cfg)


def test_soft_csv_schema_and_values(nb03_run, prepped_input_root):
    cfg, result = nb03_run
    prep = load_prep(prepped_input_root / "birdclef-2026-prep")
    soft = read_csv_str(cfg.output_dir / "pseudo_labels_soft.csv")
    assert list(soft.columns) == META_COLUMNS + prep.classes  # species stay strings
    labelled = set(prep.soundscape_df["filename"])
    assert soft["filename"].nunique() == cfg.max_files == 4
    assert not set(soft["filename"]) & labelled  # soundscapes="unlabelled"
    assert len(soft) == 4 * 12  # every 5-s window of the 60-s files
    start = soft["start"].astype(float)
    assert (start % 5 == 0).all() and (soft["end"].astype(float) - start == 5).all()
    assert (soft["start_seconds"].astype(float) == start).all()
    assert (soft["key"] == "train_soundscapes/" + soft["filename"]).all()
    assert (soft["fold"].astype(int) == -1).all()
    values = soft[prep.classes].astype(float).to_numpy()
    assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
    assert soft["confidence"].astype(float).to_numpy() == pytest.approx(values.max(axis=1),
                                                                        abs=1e-4)
    # it is directly an nb02 extra windows table
    items = read_extra_windows(cfg.output_dir / "pseudo_labels_soft.csv", prep.classes)
    assert len(items) == len(soft) and items.targets == pytest.approx(values, abs=1e-6)
    # the per-fold table (teacher fold 0 only here) equals the ensemble of one model
    fold0 = read_csv_str(cfg.output_dir / "pseudo_labels_soft_fold0.csv")
    assert fold0[prep.classes].astype(float).to_numpy() == pytest.approx(values, abs=1e-4)


def test_hard_view_counts_summary_and_figure(nb03_run, prepped_input_root):
    cfg, result = nb03_run
    classes = load_prep(prepped_input_root / "birdclef-2026-prep").classes
    soft = result.soft_df[classes].to_numpy(dtype=float)
    hard = read_csv_str(cfg.output_dir / "pseudo_labels_hard_t050.csv")
    assert hard[classes].astype(int).to_numpy().tolist() == (soft >= 0.5).astype(int).tolist()
    counts = read_csv_str(cfg.output_dir / "pseudo_class_counts.csv").set_index("primary_label")
    assert counts["n_windows"].astype(int).to_dict() == dict(zip(classes, (soft >= 0.5).sum(0)))
    summary = json.loads((cfg.output_dir / "pseudo_summary.json").read_text())
    assert summary["n_windows"] == len(soft) and summary["n_files"] == 4
    assert summary["n_windows_with_positive"] == int((soft >= 0.5).any(axis=1).sum())
    assert summary["teacher"] == ["test_efficientnet_fold0_best.pt"]
    assert (cfg.output_dir / "figures" / "confidence_histogram.png").stat().st_size > 0
    assert (cfg.output_dir / "cache" / "index.csv").is_file()  # decoded audio for students


def test_student_round_trains_on_pseudo_labels(nb03_run, prepped_input_root):
    cfg, result = nb03_run
    out = cfg.output_dir
    assert result.rounds_df["model"].tolist() == ["teacher (nb02)", "student r1"]
    assert np.isfinite(result.rounds_df["oof_soundscape_auc"].astype(float)).all()
    assert (out / "test_efficientnet_student_fold0_best.pt").is_file()
    student = config_from_dict(TrainConfig, json.loads(
        (out / "rounds" / "r1" / "train_config.json").read_text()))
    assert student.extra_windows == (str(out / "pseudo_labels_soft_r1_fold{fold}.csv"),)
    assert student.wave_augment != TrainConfig().wave_augment  # the strong preset
    assert student.folds == (0,)
    prep = load_prep(prepped_input_root / "birdclef-2026-prep")
    data = fold_data(student, prep, 0)
    assert int(data.train.table_df["source"].str.startswith("extra:").sum()) == 48


def test_subsets_written_and_rerun_skips_finished_work(nb03_run):
    cfg, result = nb03_run
    names = result.subsets_df["name"].tolist()
    assert names[:4] == ["pos_top05", "pos_top15", "pos_top30", "pos_top50"]
    assert names[4:] == ["neg_t050", "neg_t085", "neg_t099"]
    for name in names:
        assert (cfg.output_dir / f"subset_{name}.csv").is_file()
    soft_r1 = cfg.output_dir / "pseudo_labels_soft_r1.csv"
    before = soft_r1.stat().st_mtime_ns
    again = run_pseudo(cfg)
    assert soft_r1.stat().st_mtime_ns == before  # not scored again
    assert again.rounds_df["oof_soundscape_auc"].tolist() == pytest.approx(
        result.rounds_df["oof_soundscape_auc"].tolist())
