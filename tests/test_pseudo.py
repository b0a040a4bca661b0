"""nb03 on the tiny competitions: pseudo-label tables, threshold views, subsets, the student round.

BirdCLEF: one module-scoped run (nb02 smoke teacher on one fold, then nb03 smoke: 4 unlabelled
soundscapes, one round) serves the end-to-end checks. Messy mashup: one nb02 smoke teacher
(fold 0) shared by an nb03 run that keeps every clip (threshold 0, so rows exist, one student
round) and one that keeps none (threshold 1.01). The table functions are tested on hand-made
arrays in test_pseudo_tables.py.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.audio.cache import AudioCache
from common.audio.io import load_audio
from common.core.config import (
    apply_preset,
    config_from_dict,
    default_config,
    replace_dotted,
    resolve_config,
)
from common.data.competition import read_csv_str
from common.data.prep_data import load_prep
from common.data.windows import read_extra_windows
from common.model.checkpoint import load_checkpoint
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.gate import publish_gated
from common.stages.pseudo.run import run_pseudo
from common.stages.pseudo.students import student_config
from common.stages.pseudo.tables import CLIP_META_COLUMNS, CLIP_PROBS_NAME, META_COLUMNS
from common.stages.train.config import TrainConfig
from common.stages.train.items import fold_data
from common.stages.train.run import run_training
from common.tasks.mashup import GENRES


def test_config_rejects_unknown_modes():
    with pytest.raises(ValueError, match="soundscapes"):
        PseudoConfig(soundscapes="some")
    with pytest.raises(ValueError, match="negative_sources"):
        PseudoConfig(negative_sources=("nowhere",))
    with pytest.raises(ValueError, match="student_checkpoint"):
        PseudoConfig(student_checkpoint="first")


def test_student_config_replaces_earlier_rounds_labels(tmp_path):
    out = tmp_path / "pseudo"
    out.mkdir()
    subset = tmp_path / "subset_pos_top15.csv"
    earlier = out / "pseudo_labels_soft_r1_fold{fold}.csv"
    for path in (subset, out / "pseudo_labels_soft_r1_fold0.csv"):
        path.write_text("key,aaa\n")
    cfg = replace_dotted(PseudoConfig(), {"working_dir": str(out), "student_epochs": 3})
    teacher = replace_dotted(TrainConfig(), {"extra_windows": (str(subset), str(earlier),
                                                               str(tmp_path / "gone.csv"))})
    new = str(out / "pseudo_labels_soft_r2_fold{fold}.csv")
    student = student_config(cfg, teacher, out / "rounds" / "r2", (new,))
    assert student.extra_windows == (str(subset), new)
    assert student.optim.epochs == 3 and student.working_dir == str(out / "rounds" / "r2")
    assert student.wave_augment.p_simulate > 0  # multi-label: the strong preset as it is
    mashup = default_config(TrainConfig, "messy-mashup")
    assert student_config(cfg, mashup, out, (new,)).wave_augment.p_simulate == 0.0
    # the student keeps its last epoch, not the one its gate's validation files liked best
    assert teacher.optim.checkpoint_selection == "auto"
    assert student.optim.checkpoint_selection == "last"
    as_nb02 = replace_dotted(cfg, {"student_checkpoint": "auto"})
    assert student_config(as_nb02, teacher, out, (new,)).optim.checkpoint_selection == "auto"


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
    # The gate off: these tests check the student's machinery, not whether a 2-step student
    # happens to beat a 2-step teacher (test_gate.py tests the gate).
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(root / "birdclef-2026-pseudo"),
        "student_gate": False})
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
    gate = json.loads((out / "pseudo_report.json").read_text())["student_gate"]
    assert gate["published_round"] == 1 and gate["reason"].startswith("student_gate off")
    assert result.rounds_df["published"].tolist() == [False, True]
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


def regate(cfg, result, tmp_path):
    """nb03's gate on, on copies of the run's out-of-fold files (the run's published students
    stay as they are for the other tests): the decision, the gains and the rounds table."""
    out = tmp_path / "pseudo"
    shutil.copytree(cfg.output_dir / "rounds", out / "rounds",
                    ignore=shutil.ignore_patterns("*.pt", "resume", "folds"))
    gated = replace_dotted(cfg, {"student_gate": True, "gate_resamples": 300,
                                 "working_dir": str(out)})
    root = Path(cfg.input_root)
    labeller = gated.task_spec.pseudo_labeller(gated, load_prep(root / cfg.prep_slug),
                                               root / cfg.competition)
    rounds = result.rounds_df[["round", "model", *labeller.round_scores({}), "folds",
                               "checkpoints_dir"]].copy()
    decision, gains = publish_gated(gated, out, rounds, out / "rounds" / "r1",
                                    next(iter(labeller.round_scores({}))),
                                    labeller.oof_evidence)
    return decision, gains, rounds


def test_gate_resamples_the_soundscape_oof(nb03_run, tmp_path):
    cfg, result = nb03_run
    decision, gains, rounds = regate(cfg, result, tmp_path)
    teacher, student = rounds["oof_soundscape_auc"].astype(float)
    # the hook's evidence scores exactly as nb02 did: same rows, same metric
    assert gains[1].gain == pytest.approx(student - teacher, abs=1e-9)
    assert gains[1].unit == "soundscape"
    oof = read_csv_str(Path(cfg.input_root) / cfg.models_slug / "oof_soundscapes.csv")
    assert gains[1].n_groups == oof["key"].nunique() < len(oof)  # files, not windows
    assert 0.0 <= gains[1].share_better <= 1.0
    assert (decision.published_round == 1) == (
        student > teacher and gains[1].share_better >= 0.9)
    assert rounds.loc[1, "share_better"] == gains[1].share_better


# ---------------------------------------------------------------------------------------------
# Messy mashup: whole-clip, single-label.

GENRE_LIST = list(GENRES)


def test_mashup_task_defaults():
    cfg = default_config(PseudoConfig, "messy-mashup")
    assert (cfg.competition, cfg.prep_slug, cfg.models_slug, cfg.dataset_slug) == (
        "messy-mashup", "messy-mashup-prep", "messy-mashup-models", "messy-mashup-pseudo")
    assert cfg.min_confidence == 0.95 and cfg.clip_targets == "hard"
    assert "reverse" not in cfg.predict.tta and cfg.predict.tta[0] == "orig"
    assert any(v.startswith("specaug") for v in cfg.predict.tta)
    with pytest.raises(ValueError, match="clip_targets"):
        PseudoConfig(clip_targets="fuzzy")
    # the smoke preset keeps every clip so the tiny end-to-end run reaches a student
    smoke = resolve_config(PseudoConfig, "smoke", {}, argv=[], task="messy-mashup")
    assert smoke.min_confidence == 0.0 and smoke.models_slug == "messy-mashup-models"


@pytest.fixture(scope="module")
def mashup_teacher_root(tmp_path_factory, mashup_prepped_input_root):
    """An input root with nb02 smoke (fold 0, no feature baseline) as the mashup teacher."""
    root = tmp_path_factory.mktemp("nb03_mashup") / "input"
    root.mkdir()
    for name in ("messy-mashup", "messy-mashup-prep"):
        os.symlink((mashup_prepped_input_root / name).resolve(), root / name)
    teacher = replace_dotted(apply_preset(TrainConfig, "smoke", "messy-mashup"), {
        "input_root": str(root), "working_dir": str(root / "messy-mashup-models"),
        "folds": (0,), "max_steps_per_epoch": 2, "feature_baseline": False})
    run_training(teacher)
    return root


def mashup_pseudo(root, name, **changes):
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke", "messy-mashup"), {
        "input_root": str(root), "working_dir": str(root.parent / name), **changes})
    return cfg, run_pseudo(cfg)


@pytest.fixture(scope="module")
def mashup_run(mashup_teacher_root):
    """nb03 smoke on the mashup teacher with threshold 0: every scored clip is kept."""
    return mashup_pseudo(mashup_teacher_root, "pseudo_all", min_confidence=0.0,
                         student_gate=False)


def test_mashup_pseudo_table_layout(mashup_run, mashup_prepped_input_root):
    cfg, result = mashup_run
    out = cfg.output_dir
    soft = read_csv_str(out / "pseudo_labels_soft.csv")
    assert list(soft.columns) == CLIP_META_COLUMNS + GENRE_LIST
    assert len(soft) == cfg.max_files == 4
    assert soft["key"].str.startswith("test/").all()
    test_dir = mashup_prepped_input_root / "messy-mashup"
    assert all((test_dir / k).is_file() for k in soft["key"])  # relative to the competition
    targets = soft[GENRE_LIST].astype(float).to_numpy()
    assert set(np.unique(targets)) <= {0.0, 1.0} and (targets.sum(axis=1) == 1).all()
    assert [GENRE_LIST[j] for j in targets.argmax(axis=1)] == soft["label"].tolist()
    assert (soft["fold"].astype(int) == -1).all()
    # every scored clip: softmax rows, the kept ones are those at or above the threshold
    clips = read_csv_str(out / CLIP_PROBS_NAME)
    probs = clips[GENRE_LIST].astype(float).to_numpy()
    assert len(clips) == 4 and probs.sum(axis=1) == pytest.approx(np.ones(4), abs=1e-3)
    kept = clips["confidence"].astype(float) >= cfg.min_confidence
    assert set(clips.loc[kept, "key"]) == set(soft["key"])
    assert [GENRE_LIST[j] for j in probs.argmax(axis=1)] == clips["label"].tolist()
    # nb02 reads it as clip crops of fold -1
    items = read_extra_windows(out / "pseudo_labels_soft.csv", GENRE_LIST)
    assert (items.table_df["crop"] == "clip").all() and (items.table_df["fold"] == -1).all()
    summary = json.loads((out / "pseudo_summary.json").read_text())
    assert (summary["n_clips_scored"], summary["n_clips"], summary["share_kept"]) == (4, 4, 1.0)
    assert sum(summary["pseudo_labels_per_class"].values()) == 4
    counts = result.class_counts_df.set_index("primary_label")
    assert counts["n_clips"].to_dict() == {g: int((soft["label"] == g).sum())
                                           for g in GENRE_LIST}
    for name in ("confidence_histogram", "pseudo_labels_per_class"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    assert result.subsets_df.empty and not list(out.glob("subset_*.csv"))


def test_mashup_cached_audio(mashup_run, mashup_prepped_input_root):
    cfg, result = mashup_run
    cache = AudioCache(cfg.output_dir / "cache")
    assert set(cache.keys()) == set(result.soft_df["key"])
    key = result.soft_df["key"].iloc[0]
    assert cache.entry(key).sample_rate == 22050  # the prep (and frontend) rate
    wave = load_audio(mashup_prepped_input_root / "messy-mashup" / key, 22050)
    assert np.asarray(cache.get(key), np.float32) == pytest.approx(wave, abs=2e-3)


def test_mashup_student_round(mashup_run, mashup_prepped_input_root):
    cfg, result = mashup_run
    out = cfg.output_dir
    rounds = result.rounds_df
    assert rounds["model"].tolist() == ["teacher (nb02)", "student r1"]
    assert {"oof_macro_f1", "mean_fold_val_macro_f1"} <= set(rounds.columns)
    assert np.isfinite(rounds["mean_fold_val_macro_f1"].astype(float)).all()
    _, meta = load_checkpoint(out / "test_efficientnet_student_fold0_best.pt")
    assert list(meta["classes"]) == GENRE_LIST
    student = config_from_dict(TrainConfig, json.loads(
        (out / "rounds" / "r1" / "train_config.json").read_text()))
    assert student.task == "messy-mashup" and student.objective.loss == "cross_entropy"
    assert student.extra_windows == (str(out / "pseudo_labels_soft_r1_fold{fold}.csv"),)
    assert student.wave_augment.p_simulate == 0.0 and not student.feature_baseline
    data = fold_data(student, load_prep(mashup_prepped_input_root / "messy-mashup-prep"), 0)
    extra = data.train.table_df[data.train.table_df["source"].str.startswith("extra:")]
    assert len(extra) == 4 and (extra["crop"] == "clip").all()


def test_mashup_threshold_above_one_keeps_nothing(mashup_teacher_root):
    cfg, result = mashup_pseudo(mashup_teacher_root, "pseudo_none", min_confidence=1.01)
    out = cfg.output_dir
    assert result.soft_df.empty and list(result.soft_df.columns) == CLIP_META_COLUMNS + GENRE_LIST
    assert len(result.clips_df) == 4  # still scored and reported
    assert result.summary["n_clips"] == 0 and result.summary["students"] == []
    assert result.rounds_df["model"].tolist() == ["teacher (nb02)"]  # no student to train
    assert not list(out.glob("*_student_fold*_best.pt"))
    assert not (out / "cache" / "index.csv").is_file()  # nothing to keep
    assert (out / "figures" / "confidence_histogram.png").stat().st_size > 0


def test_mashup_threshold_is_chosen_on_the_teachers_oof(mashup_run, mashup_teacher_root):
    # A teacher whose OOF clips are right down to a confidence c and wrong below it: at target
    # precision 1 the cut is c, so exactly the test clips at or above c are kept.
    _, result = mashup_run
    test_conf = np.sort(result.clips_df["confidence"].astype(float).to_numpy())[::-1]
    cut = float(test_conf[1] + test_conf[2]) / 2  # keeps the two most confident test clips
    root = mashup_teacher_root.parent.parent / "nb03_mashup_calibrated" / "input"
    root.mkdir(parents=True)
    for name in ("messy-mashup", "messy-mashup-prep"):
        os.symlink((mashup_teacher_root / name).resolve(), root / name)
    models = root / "messy-mashup-models"
    shutil.copytree(mashup_teacher_root / "messy-mashup-models", models)
    train_df = load_prep(root / "messy-mashup-prep").train_df.iloc[:3]
    rows = []
    for (key, label), (conf, right) in zip(train_df[["filename", "primary_label"]].to_numpy(),
                                           [(1.0, True), (cut, True), (cut / 2, False)]):
        j = GENRE_LIST.index(label) if right else (GENRE_LIST.index(label) + 1) % len(GENRES)
        probs = np.full(len(GENRES), (1 - conf) / (len(GENRES) - 1))
        probs[j] = conf
        rows.append([key, 0, *probs])
    pd.DataFrame(rows, columns=["key", "fold", *GENRE_LIST]).to_csv(models / "oof_clips.csv",
                                                                    index=False)
    cfg, calibrated = mashup_pseudo(root, "pseudo_calibrated", target_precision=1.0,
                                    min_calibration_clips=2, train_student=False)
    summary = calibrated.summary
    assert summary["calibration_source"] == "oof"
    assert summary["min_confidence"] == pytest.approx(cut, abs=1e-6)
    assert (summary["calibration_oof_precision"], summary["calibration_oof_share"]) == (
        1.0, round(2 / 3, 4))
    assert summary["n_clips"] == 2 and summary["share_kept"] == 0.5
    # too few OOF clips above the cut for the target: the fixed min_confidence again
    cfg, fixed = mashup_pseudo(root, "pseudo_fallback", target_precision=1.0,
                               min_calibration_clips=3, train_student=False,
                               min_confidence=1.01)
    assert fixed.summary["calibration_source"].startswith("min_confidence")
    assert fixed.summary["n_clips"] == 0


def test_gate_resamples_the_clip_oof(mashup_run, tmp_path):
    cfg, result = mashup_run
    decision, gains, rounds = regate(cfg, result, tmp_path)
    teacher, student = rounds["oof_macro_f1"].astype(float)
    assert gains[1].gain == pytest.approx(student - teacher, abs=1e-9)
    n_oof = len(read_csv_str(Path(cfg.input_root) / cfg.models_slug / "oof_clips.csv"))
    assert (gains[1].unit, gains[1].n_groups) == ("clip", n_oof)
    assert (decision.published_round == 1) == (
        student > teacher and gains[1].share_better >= 0.9)
