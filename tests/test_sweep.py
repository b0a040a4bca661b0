"""The sweep runner: grid parsing, leaderboard rows, failures recorded, resume skips done runs."""

import os

import numpy as np
import pandas as pd
import pytest

from devtools.sweep import expand_grid, main, parse_grid, run_config, run_id_of, run_sweep


def test_parse_and_expand_grid():
    grid = parse_grid(["seed=0,1", "class_balance=off,on", "folds=0|0,1"])
    assert grid == {"seed": ["0", "1"], "class_balance": ["off", "on"], "folds": ["0", "0,1"]}
    combos = expand_grid(grid)
    assert len(combos) == 8 and combos[1] == {"seed": "0", "class_balance": "off", "folds": "0,1"}
    with pytest.raises(ValueError, match="key=value"):
        parse_grid(["seed"])
    ids = {run_id_of("smoke", {}, c) for c in combos}
    assert len(ids) == 8
    # values count as their field's type: the CLI's text and Python values are the same run
    assert run_id_of("smoke", {"folds": "0"}, {"class_balance": "on", "seed": "1"}) == run_id_of(
        "smoke", {"folds": (0,)}, {"class_balance": True, "seed": 1})
    assert run_id_of("smoke", {}, {"seed": 1}) != run_id_of("cpu", {}, {"seed": 1})


def test_run_config_coerces_values_and_adds_subsets(tmp_path):
    (tmp_path / "subset_pos_top15.csv").write_text("key\n")
    cfg = run_config("smoke", tmp_path, tmp_path / "run", {"epochs": "2"},
                     {"class_balance": "on", "min_rating": "3", "folds": "0,1",
                      "positive_subset": "top15", "negative_subset": "none"}, tmp_path)
    assert cfg.data.class_balance is True and cfg.data.min_rating == 3.0 and cfg.optim.epochs == 2
    assert cfg.folds == (0, 1) and cfg.working_dir == str(tmp_path / "run")
    assert cfg.extra_windows == (str(tmp_path / "subset_pos_top15.csv"),)
    with pytest.raises(FileNotFoundError, match="subset table"):
        run_config("smoke", tmp_path, tmp_path / "run", {}, {"negative_subset": "t085"},
                   tmp_path)


def test_sweep_leaderboard_failure_and_resume(tmp_path, prepped_input_root):
    root = tmp_path / "input"
    root.mkdir()
    for name in ("birdclef-2026", "birdclef-2026-prep"):
        os.symlink((prepped_input_root / name).resolve(), root / name)
    work = tmp_path / "sweep"
    grid = {"class_balance": ["off", "on"], "negative_subset": ["none", "missing.csv"]}
    fixed = {"folds": (0,), "max_steps_per_epoch": 1}
    board = run_sweep(root, work, "smoke", grid, fixed, isolate=False)
    assert len(board) == 4
    lead = pd.read_csv(work / "leaderboard.csv", dtype={"run_id": str})
    assert list(lead.columns[:4]) == ["run_id", "status", "class_balance", "negative_subset"]
    for column in ("cv_auc_mean", "cv_auc_std", "oof_auc", "seconds", "error"):
        assert column in lead.columns
    taxa = [c for c in lead.columns if c.startswith("auc_")]
    assert taxa, "one AUC column per taxon"
    ok = lead[lead["status"] == "ok"]
    failed = lead[lead["status"] == "failed"]
    assert sorted(ok["class_balance"]) == ["off", "on"] and (ok["negative_subset"] == "none").all()
    assert np.isfinite(ok["cv_auc_mean"]).all() and (ok["cv_auc_std"] == 0).all()  # one fold
    assert len(failed) == 2 and failed["error"].str.contains("missing.csv").all()
    assert (work / "leaderboard.png").stat().st_size > 0
    for run_id in ok["run_id"]:
        assert (work / "runs" / run_id / "fold_summary.csv").is_file()

    # Re-run through the CLI: finished runs are skipped (same rows), failed ones tried again.
    mtimes = {r: (work / "runs" / r / "train_report.json").stat().st_mtime_ns
              for r in ok["run_id"]}
    code = main(["--input-root", str(root), "--work-dir", str(work), "--preset", "smoke",
                 "--grid", "class_balance=off,on", "negative_subset=none,missing.csv",
                 "--set", "folds=0", "max_steps_per_epoch=1", "--in-process"])
    assert code == 1  # some runs failed
    again = pd.read_csv(work / "leaderboard.csv", dtype={"run_id": str})
    assert len(again) == 4 and sorted(again["run_id"]) == sorted(lead["run_id"])
    assert {r: (work / "runs" / r / "train_report.json").stat().st_mtime_ns
            for r in ok["run_id"]} == mtimes
    merged = again.set_index("run_id").loc[ok["run_id"], "cv_auc_mean"]
    assert merged.tolist() == pytest.approx(ok["cv_auc_mean"].tolist())


def test_score_run_adds_tracked_summary_columns(tmp_path):
    from common.report.tracking import CsvTracker
    from devtools.sweep import _write_leaderboard, score_run

    pd.DataFrame({"fold": [0, 1], "val_soundscape_auc": [0.7, 0.8]}).to_csv(
        tmp_path / "fold_summary.csv", index=False)
    (tmp_path / "train_report.json").write_text('{"oof_soundscape_auc": 0.75}')
    pd.DataFrame({"primary_label": ["a", "b"], "class_name": ["Aves", "Aves"],
                  "oof_soundscape_auc": [0.6, 0.9]}).to_csv(tmp_path / "per_class_auc.csv",
                                                             index=False)
    untracked = score_run(tmp_path)
    assert not [key for key in untracked if key.startswith("tracked.")]
    CsvTracker(tmp_path).log_summary({"fold0/best_epoch": 3, "oof_auc": 0.75})
    row = score_run(tmp_path)
    assert row["tracked.fold0/best_epoch"] == 3 and row["tracked.oof_auc"] == 0.75
    assert row["cv_auc_mean"] == pytest.approx(0.75) and row["auc_Aves"] == pytest.approx(0.75)
    _write_leaderboard(pd.DataFrame([{"run_id": "r1", "status": "ok", **row}]),
                       tmp_path / "leaderboard.csv", [])
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert board.loc[0, "tracked.fold0/best_epoch"] == 3


def test_side_by_side_runs_get_their_share_of_threads(tmp_path, monkeypatch):
    import devtools.sweep as sweep

    seen = {}

    def fake_call(cmd, cwd, env, stdout, stderr):
        seen.update(env)
        (tmp_path / "sweep_result.json").write_text("{}")
        return 0

    monkeypatch.setattr(sweep.subprocess, "call", fake_call)
    sweep._run_subprocess(tmp_path / "sweep_config.json", tmp_path / "log.txt", threads=1)
    assert seen["OMP_NUM_THREADS"] == "1" and seen["MKL_NUM_THREADS"] == "1"
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen.clear()
    sweep._run_subprocess(tmp_path / "sweep_config.json", tmp_path / "log.txt")
    assert "OMP_NUM_THREADS" not in seen


def test_a_changed_preset_is_a_new_run(monkeypatch):
    # A sweep folder outlives a preset change (the ablation's recipe rows): runs of the old
    # recipe must not count as done under the same preset name.
    from common.stages.train.config import TrainConfig

    before = run_id_of("cpu", {}, {"seed": 1})
    changed = {**TrainConfig.PRESETS, "cpu": {**TrainConfig.PRESETS["cpu"], "optim.epochs": 7}}
    monkeypatch.setattr(TrainConfig, "PRESETS", changed)
    assert run_id_of("cpu", {}, {"seed": 1}) != before
    assert run_id_of("nonexistent", {}, {"seed": 1})  # an unknown name still hashes
