"""End-to-end tests of nb04 (common.stages.infer.run, nb04 script): BirdCLEF on the tiny synthetic
competition, messy mashup on a hand-made one (whole clips, one genre each, feature blend)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_MODEL, write_tiny_checkpoints

from common.core.config import apply_preset, replace_dotted, resolve_config
from common.core.metrics import macro_roc_auc
from common.data import competition as comp
from common.model.checkpoint import save_checkpoint
from common.model.frontend import FrontendConfig
from common.model.sed import build_model
from common.stages.infer.config import InferConfig
from common.stages.infer.rows import MEMBER_SUBMISSIONS
from common.stages.infer.run import run_inference
from common.stages.infer.tta import VIEWS
from common.tasks import get_task
from common.tasks.mashup import GENRES
from common.tasks.mashup.features import FEATURE_NAMES, extract_file_features

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def input_root(nb04_input_root):
    return nb04_input_root


def smoke_config(input_root: Path, working_dir: Path, **changes) -> InferConfig:
    return replace_dotted(apply_preset(InferConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(working_dir), **changes})


def test_end_to_end_submission_validates_and_scores(input_root, tiny_competition, tmp_path):
    cfg = smoke_config(input_root, tmp_path / "out", smoothing_kernel=(0.25, 0.5, 0.25))
    result = run_inference(cfg)
    sample = comp.read_sample_submission(tiny_competition.competition_dir)
    written = comp.read_csv_str(tmp_path / "out" / "submission.csv")
    assert list(written.columns) == list(sample.columns)
    n_sample = len(sample)
    assert list(written["row_id"][:n_sample]) == list(sample["row_id"])  # sample order first
    n_files = len(list((tiny_competition.competition_dir / "test_soundscapes").glob("*.ogg")))
    assert len(written) == n_files * 12 and written["row_id"].is_unique
    values = written.iloc[:, 1:].to_numpy()
    assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
    solution = comp.read_csv_str(tiny_competition.answer_key_path)
    score = macro_roc_auc(solution, written)
    assert 0.0 <= score <= 1.0
    report = json.loads((tmp_path / "out" / "infer_report.json").read_text())
    assert report["n_models"] == 2 and report["windows_covered_per_model"] == [len(written)] * 2
    assert not report["stopped_at_deadline"]
    for name in ("infer_config.json", "infer_timings.csv"):
        assert (tmp_path / "out" / name).is_file()
    assert len(result.figures) == 1 and all(p.is_file() for p in result.figures.values())


def test_checkpoint_glob_and_combination(input_root, tmp_path):
    rank = run_inference(smoke_config(input_root, tmp_path / "rank", combine="rank_mean",
                                      checkpoint_glob="*fold0*", tta=("orig",)))
    assert rank.report["models"] == ["test_efficientnet_fold0_best.pt"]
    values = rank.submission_df.iloc[:, 1:].to_numpy()
    assert values.min() == 0.0 and values.max() == 1.0  # ranks scaled to [0, 1]


def test_empty_test_folder_writes_the_sample_shape_with_the_script(
        input_root, tiny_competition, tmp_path):
    competition = tmp_path / "input" / "birdclef-2026"
    (competition / "test_soundscapes").mkdir(parents=True)
    (competition / "test_soundscapes" / "readme.txt").write_text("hidden test set\n")
    for name in ("sample_submission.csv", "taxonomy.csv", "train.csv"):
        (competition / name).symlink_to(tiny_competition.competition_dir / name)
    (tmp_path / "input" / "birdclef-2026-models").symlink_to(
        input_root / "birdclef-2026-models")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "nb04_inference.py"), "--preset", "smoke",
         "--input-root", str(tmp_path / "input"), "--working-dir", str(tmp_path / "out")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sample = comp.read_sample_submission(competition)
    written = comp.read_csv_str(tmp_path / "out" / "submission.csv")
    assert list(written.columns) == list(sample.columns)
    assert list(written["row_id"]) == list(sample["row_id"])
    assert np.isfinite(written.iloc[:, 1:].to_numpy()).all()


def test_class_mismatch_is_a_clear_error(input_root, tmp_path):
    root = tmp_path / "input"
    root.mkdir()
    (root / "birdclef-2026").symlink_to(input_root / "birdclef-2026")
    write_tiny_checkpoints(root / "birdclef-2026-models", ["a", "b", "c"], n=1)
    with pytest.raises(ValueError, match="do not match the sample submission"):
        run_inference(smoke_config(root, tmp_path / "out"))


# ---------------------------------------------------------------------------------------------
# The messy-mashup task: whole clips, one genre per clip, feature blend.

MASHUP_SR = 22050
MASHUP_FRONT = FrontendConfig(sample_rate=MASHUP_SR, n_mels=16, n_fft=1024, hop_length=2048,
                              f_max=11000.0)


def write_mashup_models(models_dir: Path, n: int = 2) -> None:
    for fold in range(n):
        torch.manual_seed(100 + fold)
        model = build_model(TINY_MODEL, MASHUP_FRONT, len(GENRES))
        save_checkpoint(models_dir / f"test_efficientnet_fold{fold}_best.pt", model,
                        classes=list(GENRES), model_cfg=TINY_MODEL, frontend_cfg=MASHUP_FRONT,
                        fold=fold, metrics={}, config={})


@pytest.fixture(scope="module")
def mashup_root(tmp_path_factory, tiny_mashup_competition):
    """An input root with the tiny messy-mashup competition (10 test clips of 30 s) whose sample
    submission lists the ids in reverse order, and two random-init checkpoints over the
    genres."""
    root = tmp_path_factory.mktemp("nb04_mashup") / "input"
    competition = root / "messy-mashup"
    competition.mkdir(parents=True)
    source = tiny_mashup_competition.competition_dir
    for name in ("train", "test", "noise", "train.csv"):
        (competition / name).symlink_to(source / name)
    sample = pd.read_csv(source / "sample_submission.csv", dtype=str)
    sample.iloc[::-1].to_csv(competition / "sample_submission.csv", index=False)
    write_mashup_models(root / "messy-mashup-models")
    return root


def sample_ids(root: Path) -> list[str]:
    return pd.read_csv(root / "messy-mashup" / "sample_submission.csv", dtype=str)["id"].tolist()


def mashup_config(input_root: Path, working_dir: Path, **changes) -> InferConfig:
    cfg = apply_preset(InferConfig, "smoke", "messy-mashup")
    return replace_dotted(cfg, {"input_root": str(input_root), "working_dir": str(working_dir),
                                "tta": ("orig", "specaug1"), **changes})


def test_task_overrides_pick_the_mashup_inputs_and_music_views():
    birds = resolve_config(InferConfig, "default", argv=[])
    assert birds.test_dir == "test_soundscapes" and birds.predict.tta == VIEWS
    mashup = resolve_config(InferConfig, "default", argv=["--task", "messy-mashup"])
    assert (mashup.competition, mashup.models_slug, mashup.pseudo_slug, mashup.test_dir) == (
        "messy-mashup", "messy-mashup-models", "messy-mashup-pseudo", "test")
    assert mashup.predict.tta[0] == "orig" and "reverse" not in mashup.predict.tta
    assert all(v.startswith("specaug") for v in mashup.predict.tta[1:])
    assert len(mashup.predict.tta) > 1
    with pytest.raises(ValueError, match="one label per clip"):
        replace_dotted(mashup, {"smoothing_kernel": (0.25, 0.5, 0.25)})


def test_mashup_script_writes_one_genre_per_clip_in_the_sample_order(
        mashup_root, tiny_mashup_competition, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "nb04_inference.py"), "--preset", "smoke",
         "--task", "messy-mashup", "--tta", "orig,specaug1", "--input-root", str(mashup_root),
         "--working-dir", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = pd.read_csv(out / "submission.csv", dtype=str)
    ids = sample_ids(mashup_root)
    assert ids != sorted(ids) and len(ids) == 10
    assert list(written.columns) == ["id", "genre"]
    assert list(written["id"]) == ids  # the sample's order; ids are the file stems
    assert set(written["genre"]) <= set(GENRES)
    probs = pd.read_csv(out / "clip_probs.csv", dtype={"id": str})
    assert list(probs["id"]) == ids and list(probs.columns[1:]) == list(GENRES)
    values = probs[list(GENRES)].to_numpy()
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-4)  # softmax, not sigmoid
    assert [GENRES[j] for j in values.argmax(axis=1)] == list(written["genre"])
    solution = pd.read_csv(tiny_mashup_competition.answer_key_path, dtype=str)
    assert 0.0 <= get_task("messy-mashup").score(solution, written) <= 1.0
    report = json.loads((out / "infer_report.json").read_text())
    assert report["n_clips"] == 10 and report["n_windows"] == 10 * 6
    assert report["windows_covered_per_model"] == [60, 60]
    assert sum(report["predicted_counts"].values()) == 10
    assert report["feature_blend"]["members"] == ["cnn"]  # no blend.json: CNN only
    assert "CNN only" in report["feature_blend"]["note"]
    assert (out / "figures" / "clip_predictions.png").is_file()


def test_feature_blend_overrides_the_cnn_when_its_weights_favour_it(mashup_root, tmp_path):
    root = tmp_path / "input"
    models = root / "messy-mashup-models"
    models.mkdir(parents=True)
    (root / "messy-mashup").symlink_to(mashup_root / "messy-mashup")
    for path in (mashup_root / "messy-mashup-models").glob("*.pt"):
        (models / path.name).symlink_to(path)
    # The first 4 clips only (the other sample ids get the class prior): seconds, not minutes.
    cnn = run_inference(mashup_config(root, tmp_path / "cnn", tta=("orig",), max_files=4))
    cnn_labels = dict(zip(cnn.submission_df["id"], cnn.submission_df["genre"]))
    # Training rows = the test clips' own features, each labelled with a genre the CNN did
    # not predict: a feature model that memorises them must move every label.
    paths = sorted((mashup_root / "messy-mashup" / "test").glob("*.wav"))[:4]
    X, failed = extract_file_features(paths, MASHUP_SR)
    assert not failed
    targets = {p.stem: next(g for g in GENRES[k:] + GENRES[:k] if g != cnn_labels[p.stem])
               for k, p in enumerate(paths)}
    rows = np.repeat(X, 3, axis=0) * (1 + 0.01 * np.random.default_rng(0).standard_normal(
        (3 * len(X), X.shape[1])))
    features = pd.DataFrame(rows, columns=list(FEATURE_NAMES))
    features.insert(0, "fold", np.tile([0, 1, 2], len(X)))
    features.insert(0, "genre", np.repeat([targets[p.stem] for p in paths], 3))
    features.insert(0, "key", [f"mashups/{k}.wav" for k in range(len(features))])
    features.to_csv(models / "features.csv", index=False)
    (models / "blend.json").write_text(json.dumps({
        "weights": {"cnn": 0.1, "logreg": 0.9, "extra_trees": 0.0},
        "oof_macro_f1": {"cnn": 0.5, "logreg": 0.6, "blend": 0.62}}))
    blended = run_inference(mashup_config(root, tmp_path / "blend", tta=("orig",), max_files=4))
    labels = dict(zip(blended.submission_df["id"], blended.submission_df["genre"]))
    assert {p.stem: labels[p.stem] for p in paths} == targets
    assert list(blended.submission_df["id"]) == sample_ids(mashup_root)
    info = blended.report["feature_blend"]
    assert info["members"] == ["cnn", "logreg"] and info["weights"]["logreg"] == 0.9
    assert info["dropped"] == ["extra_trees (weight 0)"] and info["labels_changed"] == 4
    assert info["n_train_rows"] == 12
    # Each single model's submission next to the blend's, and the table of models.
    members = blended.output_dir / MEMBER_SUBMISSIONS
    assert sorted(p.stem for p in members.glob("*.csv")) == ["cnn", "extra_trees", "logreg"]
    assert pd.read_csv(members / "cnn.csv", dtype=str).equals(
        pd.read_csv(tmp_path / "cnn" / "submission.csv", dtype=str))
    logreg = pd.read_csv(members / "logreg.csv", dtype=str).set_index("id")["genre"]
    assert {p.stem: logreg[p.stem] for p in paths} == targets
    table = pd.read_csv(blended.output_dir / "model_scores.csv")
    assert table["model"].tolist() == ["cnn", "logreg", "extra_trees", "blend"]
    assert table["blend_weight"].tolist() == pytest.approx([0.1, 0.9, 0.0, 1.0])
    oof = table["oof_macro_f1"].tolist()
    assert oof[:2] == [0.5, 0.6] and np.isnan(oof[2]) and oof[3] == 0.62
    assert table["test_agreement"].iloc[-1] == 1.0
    assert list(blended.tables.values())[0].equals(table)
    off = run_inference(mashup_config(root, tmp_path / "off", tta=("orig",), max_files=4,
                                      feature_blend=False))
    assert off.submission_df.equals(cnn.submission_df)
    assert pd.read_csv(off.output_dir / "model_scores.csv")["model"].tolist() == [
        "cnn", "submission"]
