"""End-to-end tests of nb04 on the tiny synthetic competition (common.infer, nb04 script)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common import competition as comp
from common.checkpoint import save_checkpoint
from common.config import apply_preset, replace_dotted
from common.frontend import FrontendConfig
from common.infer import InferConfig, run_inference
from common.metrics import macro_roc_auc
from common.model import ModelConfig, build_model

REPO_ROOT = Path(__file__).resolve().parents[1]
FRONT = FrontendConfig(n_mels=16, n_fft=1024, hop_length=2048)
MODEL = ModelConfig(backbone="test_efficientnet", head_hidden=16)


def write_models(models_dir: Path, classes: list[str], n: int = 2) -> list[Path]:
    paths = []
    for fold in range(n):
        torch.manual_seed(fold)
        model = build_model(MODEL, FRONT, len(classes))
        paths.append(save_checkpoint(models_dir / f"test_efficientnet_fold{fold}_best.pt", model,
                                     classes=classes, model_cfg=MODEL, frontend_cfg=FRONT,
                                     fold=fold, metrics={}, config={}))
    return paths


@pytest.fixture(scope="module")
def input_root(tmp_path_factory, tiny_competition):
    """The tiny competition linked in as birdclef-2026 plus two tiny checkpoints."""
    root = tmp_path_factory.mktemp("nb04") / "input"
    root.mkdir()
    (root / "birdclef-2026").symlink_to(tiny_competition.competition_dir.resolve())
    classes = comp.species_columns(comp.read_sample_submission(tiny_competition.competition_dir))
    write_models(root / "birdclef-2026-models", classes)
    return root


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
    write_models(root / "birdclef-2026-models", ["a", "b", "c"], n=1)
    with pytest.raises(ValueError, match="do not match the sample submission"):
        run_inference(smoke_config(root, tmp_path / "out"))
