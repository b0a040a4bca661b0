"""The stages keep their budgets: the deadline counts from the notebook's start, nb01 sizes its
cache, nb03 sizes its rounds and stops before the deadline, nb04 starts from the projection."""

import json
import logging
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import make_input_root

import common.stages.train.multigpu as multigpu
from common.audio.cache import read_index
from common.budget.clock import STARTED_AT_ENV, Deadline, mark_stage_start, stage_started_at
from common.budget.facts import Throughputs
from common.budget.fit import PseudoWork
from common.budget.model import StageSpeeds
from common.core.config import apply_preset, replace_dotted
from common.core.runtime import setup_logging
from common.data.competition import read_soundscape_labels
from common.model.frontend import FrontendConfig
from common.stages.infer.budget import initial_plan, projected_minutes, speed_key
from common.stages.infer.config import PredictConfig
from common.stages.prep.budget import size_cache
from common.stages.prep.config import PrepConfig
from common.stages.prep.run import run_prep
from common.stages.prep.scan import audio_durations
from common.stages.pseudo.budget import fit_to_session, round_fits
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.run import run_pseudo
from common.stages.start import start_stage
from common.stages.train.config import TrainConfig
from common.stages.train.run import run_training


@pytest.fixture
def clean_start(monkeypatch):
    """The recorded start is restored after the test (it lives in the environment)."""
    monkeypatch.setenv(STARTED_AT_ENV, "")
    return monkeypatch


# -- the deadline from the notebook's start -------------------------------------------------


def test_the_deadline_counts_from_the_recorded_start(clean_start):
    now = time.time()
    mark_stage_start(now - 11 * 3600)  # the notebook started 11 h ago
    deadline = Deadline.from_stage_start(11.5)
    assert deadline.hours_left() == pytest.approx(0.5, abs=0.01)
    assert Deadline.from_stage_start(0).hours_left() == float("inf")
    fake = Deadline(started_at=100.0, hours=2.0, clock=lambda: 100.0 + 3 * 3600)
    assert fake.hours_left() == pytest.approx(-1.0)


def test_an_unreadable_or_future_start_falls_back(clean_start):
    clean_start.setenv(STARTED_AT_ENV, "not a time")
    assert stage_started_at(default=5.0) == 5.0
    clean_start.setenv(STARTED_AT_ENV, repr(time.time() + 3600))
    assert stage_started_at(default=5.0) == 5.0


def test_worker_processes_see_the_notebook_start(clean_start):
    mark_stage_start(1234.5)
    code = "from common.budget.clock import stage_started_at; print(stage_started_at())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert float(out) == 1234.5


def test_start_stage_records_the_notebook_start(clean_start, tmp_path):
    clean_start.setattr("sys.argv", ["nb03_pseudo_labeling.py"])
    before = time.time()
    try:
        start_stage(PseudoConfig, "nb03", "smoke", "birdclef-2026", str(tmp_path / "in"),
                    str(tmp_path / "work"))
    finally:
        setup_logging(None)
        for handler in logging.getLogger().handlers:
            handler.close()
    assert before <= stage_started_at() <= time.time()


def test_training_sessions_count_from_the_notebook_start(clean_start):
    # nb03 trains one round after another: each round's session clock is the notebook's.
    seen = []
    clean_start.setattr(multigpu, "train_fold",
                        lambda cfg, prep, fold, n_processes=1, session_start=None:
                        (seen.append(session_start), {"status": "done"})[1])
    started = mark_stage_start(time.time() - 5 * 3600)
    multigpu.train_folds(apply_preset(TrainConfig, "smoke"), None, (0, 1))
    assert seen == [started, started]


# -- nb03 --------------------------------------------------------------------------------


def _work(round_hours):
    """A PseudoWork whose round takes ``round_hours`` (all of it student training)."""
    rows_per_hour = 3600.0 * 100
    return PseudoWork(pool_windows=1, n_members=1, n_passes=1, score_rate=1e12,
                      decode_seconds=0.0, decode_rate=1.0, cores=1,
                      base_train_rows=int(round_hours * rows_per_hour), val_rows=0, n_folds=1,
                      n_gpus=1, speeds=StageSpeeds(100.0, 100.0, 1e12), repeats=0)


def test_a_round_starts_only_if_it_ends_before_the_deadline():
    ten_hours_in = Deadline(started_at=0.0, hours=11.5, clock=lambda: 10 * 3600.0)
    assert not round_fits(ten_hours_in, _work(2.0), windows=0, epochs=1, train_student=True)
    assert round_fits(ten_hours_in, _work(1.0), windows=0, epochs=1, train_student=True)
    assert round_fits(Deadline(0.0, 0.0), _work(50.0), 0, 1, True)  # no limit


def test_nb03_is_sized_to_its_session():
    cfg = replace_dotted(apply_preset(PseudoConfig, "default"),
                         {"min_windows": 1000, "min_student_epochs": 5})
    speeds = StageSpeeds(train=300.0, evaluate=900.0, loader=1e9)
    work = PseudoWork(127896, 5, 2, 900.0, 127896 * 5.0, 1000.0, 4, 29000, 7000, 5, 2, speeds)
    fitted, choice = fit_to_session(cfg, work, teacher_epochs=30)
    assert choice.fits and choice.hours <= cfg.session_hours
    assert (fitted.max_windows, fitted.rounds) == (choice.windows, 2)
    assert 1000 <= fitted.max_windows < 127896
    assert fitted.student_epochs == 0  # the teacher's 30 epochs kept


# -- nb01 --------------------------------------------------------------------------------


def test_the_cache_is_shortened_to_fit_and_the_guard_still_stops():
    cfg = replace_dotted(apply_preset(PrepConfig, "smoke"),
                         {"cache_seconds": 0.0, "max_cache_gb": 0.064})
    durations = np.full(100, 20.0)  # whole clips: 0.128 GB; 10 s each: 0.064 GB
    sized, choice = size_cache(cfg, durations, soundscape_seconds=0.0)
    assert sized.cache_seconds == choice.seconds and 9.9 <= choice.seconds <= 10.0
    assert "keeping" in choice.reason
    with pytest.raises(ValueError, match="lower --cache-seconds"):
        size_cache(replace_dotted(cfg, {"fit_cache": False}), durations, 0.0)
    with pytest.raises(ValueError, match="min-cache-seconds"):
        size_cache(replace_dotted(cfg, {"max_cache_gb": 0.001}), durations, 0.0)


def test_nb01_keeps_what_fits_its_budget_and_says_why(tmp_path, tiny_competition):
    comp_dir = tiny_competition.competition_dir
    input_root = make_input_root(tmp_path, comp_dir)
    base = replace_dotted(apply_preset(PrepConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(tmp_path / "out"), "workers": 1,
        "cache_seconds": 0.0, "min_cache_seconds": 1.0, "n_background_soundscapes": 0})
    durations = audio_durations(sorted((comp_dir / "train_audio").rglob("*.ogg")))
    labelled = read_soundscape_labels(comp_dir)["filename"].unique()
    sc_gb = audio_durations(comp_dir / "train_soundscapes" / f for f in labelled).sum() * 64e-6
    budget_gb = 0.6 * durations.sum() * 64e-6 + sc_gb  # whole clips do not fit
    result = run_prep(replace_dotted(base, {"max_cache_gb": budget_gb}))
    report = json.loads((tmp_path / "out" / "prep_report.json").read_text())
    kept = report["cache_seconds"]
    assert 1.0 <= kept < durations.max() and "keeping" in report["cache_choice"]
    index_df = read_index(tmp_path / "out" / "cache")
    clips = index_df[index_df["kind"] == "clip"]
    assert clips["length"].max() <= kept * 32000 + 1
    assert index_df["length"].sum() * 2 / 1e9 <= budget_gb
    assert len(result.train_df)


# -- nb04 --------------------------------------------------------------------------------


def _members(n):
    backbone = SimpleNamespace(pretrained_cfg={"architecture": "net"})
    return [SimpleNamespace(frontend_cfg=FrontendConfig(), backend="", int8=False,
                            model=SimpleNamespace(backbone=backbone)) for _ in range(n)]


def test_nb04_counts_shared_work_once_per_frontend_not_per_member():
    facts = {"measured": {"infer.cpu.net": {"value": 10.0}, "infer_compile.cpu": {"value": 0.0},
                          "infer_shared.cpu": {"value": 40.0},
                          "infer.cpu_openvino.net": {"value": 20.0}},
             "factors": {"infer.kaggle_cpu": {"value": 1.0, "from": "infer.cpu"},
                         "infer_shared.kaggle_cpu": {"value": 1.0, "from": "infer_shared.cpu"},
                         "infer_compile.kaggle_cpu": {"value": 1.0,
                                                      "from": "infer_compile.cpu"}}}
    thr = Throughputs(facts)
    # 1200 window passes: decode + frontend once (1200 / 40 = 30 s), then 120 s per model.
    assert projected_minutes(_members(1), ("orig",), 100, 12, thr) * 60 == pytest.approx(150)
    assert projected_minutes(_members(10), ("orig",), 100, 12, thr) * 60 == pytest.approx(1230)
    # a second frontend is a second shared pass
    two = _members(2)
    two[1].frontend_cfg = FrontendConfig(n_mels=64)
    assert projected_minutes(two, ("orig",), 100, 12, thr) * 60 == pytest.approx(300)
    # int8 with no figure of its own projects with its fp32 backend's
    _, minutes = initial_plan(PredictConfig(tta=("orig",)), _members(10), 100, 12, thr,
                              backend="openvino_int8")
    assert minutes * 60 == pytest.approx(30 + 10 * 60)
    # without a shared figure (older facts) nothing is added: it was inside each member's
    del facts["measured"]["infer_shared.cpu"]
    assert projected_minutes(_members(1), ("orig",), 100, 12, Throughputs(facts)) * 60 == \
        pytest.approx(120)


def test_nb04_projects_int8_runs_with_the_int8_figure():
    members = _members(2)
    assert speed_key(members, "openvino") == "openvino"
    for m in members:
        m.backend, m.int8 = "openvino", True
    assert speed_key(members, "openvino") == "openvino_int8"
    assert speed_key(members, "auto") == "openvino_int8"
    members[0].backend = "onnxruntime"  # auto: int8 on two backends, no one figure
    assert speed_key(members, "auto") == "auto"
    members[1].backend, members[1].int8 = "", False  # refused: fp32, built later
    assert speed_key(members, "openvino") == "openvino"


def test_nb04_starts_from_the_planners_projection():
    thr = Throughputs({"measured": {"infer.cpu.net": {"value": 10.0},
                                    "infer_compile.cpu": {"value": 6.0}},
                       "factors": {"infer.kaggle_cpu": {"value": 1.0, "from": "infer.cpu"},
                                   "infer_compile.kaggle_cpu": {"value": 1.0,
                                                                "from": "infer_compile.cpu"}}})
    cfg = PredictConfig(tta=("orig", "reverse", "specaug1"), time_budget_minutes=75.0)
    # 2 members x (100 files x 12 windows) / 10 per s per pass: 240 s per pass + 12 s.
    assert projected_minutes(_members(2), ("orig",), 100, 12, thr) == pytest.approx(4.2)
    same, minutes = initial_plan(cfg, _members(2), 100, 12, thr)
    assert same.max_views == 0 and minutes == pytest.approx((3 * 240 + 12) / 60)
    tight = PredictConfig(tta=cfg.tta, time_budget_minutes=9.0)
    cut, minutes = initial_plan(tight, _members(2), 100, 12, thr)
    assert cut.views == ("orig", "reverse") and minutes == pytest.approx((2 * 240 + 12) / 60)
    # A backend with no figure on record (auto, or never measured) projects with torch's.
    assert initial_plan(cfg, _members(2), 100, 12, thr, backend="openvino")[1] == \
        pytest.approx((3 * 240 + 12) / 60)


def test_nb03_stops_at_the_deadline_counted_from_the_notebook_start(tmp_path, clean_start,
                                                                   prepped_input_root):
    root = tmp_path / "input"
    root.mkdir()
    for name in ("birdclef-2026", "birdclef-2026-prep"):
        (root / name).symlink_to((prepped_input_root / name).resolve())
    run_training(replace_dotted(apply_preset(TrainConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(root / "birdclef-2026-models"),
        "folds": (0,), "max_steps_per_epoch": 2}))
    out = root / "birdclef-2026-pseudo"
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke"), {
        "input_root": str(root), "working_dir": str(out), "rounds": 2, "session_hours": 1.0,
        "fit_session": False})
    # The notebook started 61 minutes ago: a per-round clock would still train the students.
    mark_stage_start(time.time() - 1.01 * 3600)
    run_pseudo(cfg)
    report = json.loads((out / "pseudo_report.json").read_text())
    assert report["stopped_at_deadline"] and report["students"] == []
    assert (out / "pseudo_labels_soft_r1.csv").is_file()  # what finished is published
    assert (out / "pseudo_labels_soft.csv").is_file()
    assert not (out / "pseudo_labels_soft_r2.csv").exists()  # no round past the deadline


def test_nb02_projects_its_sessions_at_its_start(prepped_input_root, caplog):
    from common.data.prep_data import load_prep
    from common.stages.train.budget import log_projection

    prep = load_prep(prepped_input_root / "birdclef-2026-prep")
    cfg = apply_preset(TrainConfig, "default")
    with caplog.at_level("INFO"):
        proj = log_projection(cfg, prep, n_folds=prep.n_folds, n_processes=1,
                              device=torch.device("cpu"))
    assert proj is not None and proj.hours > 0 and proj.time_note.endswith(("session",
                                                                            "sessions"))
    assert any("budget:" in r.getMessage() and "session" in r.getMessage()
               for r in caplog.records)
