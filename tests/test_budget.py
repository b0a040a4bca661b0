"""The budget: pure projections, the knobs fitted to a budget, the facts, the planner's CLI."""

import json
import math

import numpy as np
import pytest

from common.budget.facts import (
    Throughputs,
    load_limits,
    load_throughputs,
    published_sizes,
    write_throughput,
)
from common.budget.fit import PseudoWork, fit_cache_seconds, fit_pseudo
from common.budget.model import (
    StageSpeeds,
    audio_gb,
    epoch_seconds,
    infer_projection,
    prep_projection,
    train_projection,
)
from common.budget.plan import teacher_note
from common.budget.workload import Workload, workload_from_facts
from common.tasks import get_task

SR = 32000


def _upper_bound_cache(n_clips, soundscape_seconds):
    """Cache GB when every clip is at least as long as the cache keeps."""
    return lambda keep: audio_gb(n_clips * (60.0 if keep is None else keep) + soundscape_seconds,
                                 SR)


# -- projections ---------------------------------------------------------------------------


def test_the_issue_cache_arithmetic_and_its_knob():
    # 10 s x 35,549 clips x 32 kHz x 2 bytes = 22.75 GB: over the 18 GB budget (problem 4).
    proj = prep_projection(35549 * 10.0, 0.0, 35549 * 40.0, SR, decode_rate=1000.0, cores=4,
                           session_hours=12, max_cache_gb=18, output_gb=20, work="clips")
    assert proj.output_gb == pytest.approx(22.75, abs=0.01)
    assert not proj.fits
    assert any("prep.cache_seconds" in p for p in proj.problems)
    assert proj.hours == pytest.approx(35549 * 40 / 4000 / 3600)


def test_prep_fits_when_small_and_fails_on_time_naming_the_knob():
    assert prep_projection(1000.0, 0.0, 1000.0, SR, 1000.0, 4, 12, 18, 20, "w").fits
    slow = prep_projection(1000.0, 0.0, 1e9, SR, 1.0, 4, 12, 18, 20, "w")
    assert not slow.fits and "n_background_soundscapes" in slow.problems[0]


def test_training_needs_sessions_by_the_hour_and_an_epoch_must_fit_one():
    speeds = StageSpeeds(train=100.0, evaluate=300.0, loader=1e9)
    # 36,000 rows at 100/s = 360 s + 3,000 at 300/s = 10 s per epoch.
    assert epoch_seconds(36000, 3000, speeds) == pytest.approx(370.0)
    proj = train_projection(36000, 3000, epochs=80, n_folds=5, n_gpus=2, speeds=speeds,
                            session_hours=11.5, weekly_hours=30, checkpoint_gb=0.02,
                            output_gb=20, work="w")
    per_gpu = 3 * 80 * 370 / 3600  # 5 folds on 2 GPUs: 3 folds on the busier one
    assert proj.hours == pytest.approx(per_gpu)
    assert proj.time_note == f"{math.ceil(per_gpu / (11.5 - 370 / 3600))} sessions"
    assert proj.fits
    huge = train_projection(10**9, 0, 1, 1, 1, speeds, 11.5, 30, 0.02, 20, "w")
    assert not huge.fits and "max_steps_per_epoch" in huge.problems[0]
    weekly = train_projection(36000, 3000, 1000, 5, 2, speeds, 11.5, 30, 0.02, 20, "w")
    assert not weekly.fits and "train.optim.epochs" in weekly.problems[0]


def test_loader_bound_training_is_projected_at_the_loader_speed():
    slow_loader = StageSpeeds(train=100.0, evaluate=300.0, loader=50.0)
    assert epoch_seconds(1000, 0, slow_loader) == pytest.approx(20.0)


def test_inference_must_fit_its_budget_and_leave_a_margin():
    ok = infer_projection(600, 12, 10, 2, pass_rate=100.0, compile_seconds=10.0,
                          budget_minutes=75, limit_minutes=90, output_gb=0.01, limit_gb=20,
                          work="w")
    assert ok.hours * 60 == pytest.approx((600 * 12 * 10 * 2 / 100 + 100) / 60)
    assert ok.fits
    slow = infer_projection(600, 12, 10, 2, 10.0, 10.0, 75, 90, 0.01, 20, "w")
    assert not slow.fits and "max_views" in slow.problems[0]
    no_margin = infer_projection(1, 12, 1, 1, 100.0, 1.0, 90, 90, 0.01, 20, "w")
    assert not no_margin.fits and "time_budget_minutes" in no_margin.problems[0]
    # decoding + frontend (shared_rate) counted once per window and pass, not per model
    shared = infer_projection(600, 12, 10, 2, 100.0, 10.0, 75, 90, 0.01, 20, "w",
                              shared_rate=400.0)
    assert shared.hours * 3600 == pytest.approx(600 * 12 * 2 * (1 / 400 + 10 / 100) + 100)


# -- fitting knobs -------------------------------------------------------------------------


def test_cache_seconds_shrinks_to_the_largest_that_fits():
    cache_gb = _upper_bound_cache(35549, 260 * 60.0)
    choice = fit_cache_seconds(cache_gb, asked=10.0, floor=5.0, budget_gb=18.0, longest=60.0)
    assert choice.fits and 5.0 <= choice.seconds < 10.0
    assert cache_gb(choice.seconds) <= 18.0 < cache_gb(choice.seconds + 0.1)
    assert "keeping" in choice.reason and "10 s asked" in choice.reason


def test_cache_seconds_kept_when_it_fits_and_the_floor_reported_when_nothing_does():
    cache_gb = _upper_bound_cache(1000, 0.0)
    assert fit_cache_seconds(cache_gb, 10.0, 5.0, 18.0, 60.0).seconds == 10.0
    whole = fit_cache_seconds(cache_gb, 0.0, 5.0, 18.0, 60.0)  # whole clips fit too
    assert whole.seconds == 0.0 and whole.fits
    none = fit_cache_seconds(_upper_bound_cache(10**7, 0.0), 10.0, 5.0, 18.0, 60.0)
    assert not none.fits and none.seconds == 5.0


def _work(pool=120000, base_rows=30000):
    speeds = StageSpeeds(train=300.0, evaluate=900.0, loader=1e9)
    return PseudoWork(pool_windows=pool, n_members=5, n_passes=2, score_rate=900.0,
                      decode_seconds=pool * 5.0, decode_rate=1000.0, cores=4,
                      base_train_rows=base_rows, val_rows=7000, n_folds=5, n_gpus=2,
                      speeds=speeds)


def test_pseudo_cuts_windows_first_and_keeps_the_most_that_fit():
    work = _work()
    assert work.hours(120000, 30, 2) > 11.5  # problem 3: two full rounds do not fit
    choice = fit_pseudo(work, 0, 30, 2, 11.5, min_windows=1000, min_epochs=10)
    assert choice.fits and (choice.epochs, choice.rounds) == (30, 2)
    assert work.hours(choice.windows, 30, 2) <= 11.5 < work.hours(choice.windows + 1, 30, 2)


def test_pseudo_cuts_epochs_then_rounds_when_the_window_floor_is_not_enough():
    work = _work()
    epochs_cut = fit_pseudo(work, 0, 30, 2, 5.0, min_windows=60000, min_epochs=5)
    assert epochs_cut.fits and epochs_cut.windows == 60000 and epochs_cut.rounds == 2
    assert 5 <= epochs_cut.epochs < 30
    rounds_cut = fit_pseudo(work, 0, 30, 2, 8.0, min_windows=60000, min_epochs=20)
    assert rounds_cut.fits and rounds_cut.rounds == 1
    nothing = fit_pseudo(work, 0, 30, 2, 0.1, min_windows=60000, min_epochs=20)
    assert not nothing.fits and (nothing.windows, nothing.epochs, nothing.rounds) == (60000, 20, 1)


def test_pseudo_keeps_what_fits():
    choice = fit_pseudo(_work(pool=1000, base_rows=1000), 0, 30, 2, 11.5, 500, 10)
    assert (choice.windows, choice.epochs, choice.rounds, choice.fits) == (1000, 30, 2, True)


# -- facts ---------------------------------------------------------------------------------


def test_every_fact_has_a_source_and_the_limits_read():
    from common.budget.facts import LIMITS_PATH
    from common.tasks.birdclef import budget as birdclef_budget

    facts_path = birdclef_budget.__file__.replace("budget.py", "kaggle_facts.json")
    for path in (LIMITS_PATH, facts_path):
        data = json.loads(open(path).read())
        entries = {k: v for k, v in data.items() if isinstance(v, dict)}
        assert entries and all(v.get("source") for v in entries.values()), path
    limits = load_limits()
    assert (limits.session_hours, limits.submission_minutes, limits.output_gb) == (12, 90, 20)
    sizes = published_sizes(facts_path.rsplit("/", 1)[0])
    assert (sizes["n_train_clips"], sizes["n_train_soundscapes"]) == (35549, 10658)


def test_throughputs_prefer_a_device_measurement_over_a_factor(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # recorded with the command
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"measured": {}, "factors": {
        "train_step.t4": {"value": 100.0, "from": "train_step.cpu",
                          "fallback_model": "net"}}}))
    write_throughput("train_step.cpu.net", 2.0, "samples/s", "cmd", path=path)
    thr = load_throughputs(path)
    assert thr.rate("train_step", "t4", "net.tag") == pytest.approx(200.0)
    assert thr.rate("train_step", "t4", "other") == pytest.approx(200.0)  # fallback model
    assert "factor" in thr.source("train_step", "t4", "net")
    write_throughput("train_step.t4.net", 321.0, "samples/s", "cmd", path=path)
    entry = json.loads(path.read_text())["measured"]["train_step.t4.net"]
    assert entry["command"] == "OMP_NUM_THREADS=3 cmd" and entry["date"] and entry["machine"]
    assert load_throughputs(path).rate("train_step", "t4", "net") == pytest.approx(321.0)
    with pytest.raises(KeyError, match="no throughput"):
        thr.rate("decode", "kaggle_cpu")


def test_inference_throughput_by_backend():
    thr = Throughputs({"measured": {"infer.cpu.net": {"value": 10.0},
                                    "infer.cpu_onnx.net": {"value": 20.0}},
                       "factors": {"infer.kaggle_cpu": {"value": 2.0, "from": "infer.cpu"}}})
    assert thr.infer_rate("net") == pytest.approx(20.0)
    assert thr.infer_rate("net", backend="onnx") == pytest.approx(40.0)
    with pytest.raises(KeyError):
        thr.infer_rate("net", backend="openvino")  # not measured yet
    assert thr.infer_shared_rate() == float("inf")  # older facts: inside each member's figure
    thr.measured["infer_shared.cpu"] = {"value": 50.0}
    thr.factors["infer_shared.kaggle_cpu"] = {"value": 2.0, "from": "infer_shared.cpu"}
    assert thr.infer_shared_rate() == pytest.approx(100.0)
    assert "infer_shared.cpu" in thr.infer_shared_source()


def test_published_workload_is_the_real_competition():
    work = get_task("birdclef-2026").published_workload()
    assert (work.n_clips, work.n_soundscapes, work.n_test_files) == (35549, 10658, 600)
    assert work.windows_per_soundscape(5.0) == 12
    assert work.n_unlabelled_soundscapes * 12 > 127000  # the issue's ~127k windows
    # No published durations: the cache is projected as if every clip were long enough.
    assert work.clip_cache_seconds(10.0) == 355490.0


def test_measured_durations_bound_the_cache():
    work = Workload(3, 10.0, 0, 0, 60.0, 0, 2, SR, "t", clip_durations=np.array([2.0, 8, 30]))
    assert work.clip_cache_seconds(10.0) == 20.0
    assert work.clip_cache_seconds(None) == 40.0
    facts = {"n_train_clips": 2, "decode_clip_seconds": 30, "n_train_soundscapes": 3,
             "n_labelled_soundscapes": 1, "soundscape_seconds": 60, "n_test_soundscapes": 4,
             "n_classes": 5, "sample_rate": SR, "mean_clip_seconds": 6.0}
    assert workload_from_facts(facts, "f").clip_cache_seconds(10.0) == 12.0


def test_the_ensemble_drops_views_then_models_like_nb04s_loop():
    from common.budget.fit import fit_ensemble

    def seconds(models, views):  # 60 s per model and view
        return 60.0 * models * views

    assert fit_ensemble(seconds, 10, 2, 1200).models == 10  # fits as asked
    views_cut = fit_ensemble(seconds, 10, 4, 1200)
    assert (views_cut.models, views_cut.views, views_cut.fits) == (10, 2, True)
    models_cut = fit_ensemble(seconds, 10, 4, 300)
    assert (models_cut.models, models_cut.views) == (5, 1) and "keeps 5 models" in models_cut.reason
    assert not fit_ensemble(seconds, 10, 4, 30).fits


def test_the_planner_decides_nb04s_teacher_like_nb04_does():
    thr = Throughputs({"measured": {"teacher.cpu.birdnet": {"value": 5.0}},
                       "factors": {"teacher.kaggle_cpu": {"value": 2.0, "from": "teacher.cpu"}}})
    note = teacher_note(thr, "birdnet", 6000, seconds_left=1000.0)  # 600 s <= 0.8 x 1000 s
    assert "6,000 windows at 10.0/s = 10 min" in note and "rank-blended" in note
    assert "skipped" in teacher_note(thr, "birdnet", 6000, seconds_left=700.0)
    assert "no speed on record" in teacher_note(thr, "perch", 6000, seconds_left=1e6)
