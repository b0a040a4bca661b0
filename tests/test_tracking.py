"""Experiment tracking: the CSV files, the no-op tracker, a real offline W&B run that `wandb sync`
would take, the nested config's ``--tracker`` flag, and the summary reader leaderboards use."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from common.core.config import param, resolve_config
from common.report.tracking import (
    CsvTracker,
    Tracker,
    TrackingConfig,
    log_fold_summary,
    log_history,
    make_tracker,
    read_metrics,
    read_run_summary,
    tracker_for,
)

HAS_WANDB = importlib.util.find_spec("wandb") is not None
CONFIG = {"seed": 3, "frontend": {"n_mels": 64, "fmin_hz": 50.0}, "folds": [0, 1]}


def _figure(path: Path) -> Path:
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    fig.savefig(path)
    return path


def _log_two_folds(tracker: Tracker, figure: Path) -> None:
    """What nb02 would log: config, two folds of two epochs, fold and run summaries."""
    tracker.log_config(CONFIG)
    for fold in (0, 1):
        for epoch in (0, 1):
            tracker.log_metrics({"train_loss": 1.0 / (epoch + 1), "val_auc": 0.6 + 0.1 * epoch},
                                step=epoch, prefix=f"fold{fold}/")
        tracker.log_summary({f"fold{fold}/best_val_auc": 0.7})
    tracker.log_summary({"cv_auc_mean": 0.7, "oof_auc": 0.65})
    tracker.log_figure("loss_curves", figure)
    tracker.log_table("per_class_auc", pd.DataFrame({"label": ["a", "b"], "auc": [0.5, 0.9]}))
    tracker.finish()


def test_csv_tracker_writes_config_metrics_summary_figures_tables(tmp_path):
    figure = _figure(tmp_path / "loss.png")
    tracker = make_tracker("csv", tmp_path / "run")
    assert isinstance(tracker, CsvTracker)
    _log_two_folds(tracker, figure)
    folder = tmp_path / "run" / "tracking"
    assert json.loads((folder / "config.json").read_text()) == CONFIG
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == ["step", "fold", "name", "value", "time"]
    assert len(metrics) == 8
    assert metrics["step"].tolist() == [0, 0, 1, 1] * 2
    assert metrics["fold"].tolist() == [0] * 4 + [1] * 4
    assert metrics["name"].tolist()[:2] == ["fold0/train_loss", "fold0/val_auc"]
    assert metrics["value"].tolist()[:4] == pytest.approx([1.0, 0.6, 0.5, 0.7])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary == {"fold0/best_val_auc": 0.7, "fold1/best_val_auc": 0.7,
                       "cv_auc_mean": 0.7, "oof_auc": 0.65}
    figures = pd.read_csv(folder / "figures.csv")
    assert figures.to_dict("records") == [{"name": "loss_curves", "path": str(figure)}]
    table = pd.read_csv(folder / "tables" / "per_class_auc.csv")
    assert table["auc"].tolist() == [0.5, 0.9]

    # A resumed run appends metrics and merges summaries; a step-less call leaves step empty.
    with make_tracker("csv", tmp_path / "run") as again:
        again.log_metrics({"lr": 1e-3})
        again.log_summary({"oof_auc": 0.66})
    metrics = pd.read_csv(folder / "metrics.csv")
    assert len(metrics) == 9 and pd.isna(metrics["step"].iloc[-1])
    assert pd.isna(metrics["fold"].iloc[-1])
    assert read_run_summary(tmp_path / "run")["oof_auc"] == 0.66
    # A re-run that logs the same epochs again: read_metrics keeps the last row of each.
    with make_tracker("csv", tmp_path / "run") as again:
        again.log_metrics({"val_auc": 0.9}, step=1, prefix="fold1/")
    latest = read_metrics(tmp_path / "run")
    assert len(latest) == 9 and len(pd.read_csv(folder / "metrics.csv")) == 10
    last = latest[(latest["name"] == "fold1/val_auc") & (latest["step"] == 1)]
    assert last["value"].tolist() == [0.9]


def test_history_and_fold_summary_tables_become_metrics_and_summary(tmp_path):
    history_df = pd.DataFrame({"fold": [0, 0, 1], "epoch": [0, 1, 0], "lr": [1e-3, 5e-4, 1e-3],
                               "val_soundscape_auc": [0.6, 0.7, 0.65], "note": ["", "best", ""]})
    summary_df = pd.DataFrame({"fold": [0, 1], "best_epoch": [1, 0],
                               "val_soundscape_auc": [0.7, 0.65], "checkpoint": ["a", "b"]})
    with make_tracker("csv", tmp_path) as tracker:
        log_history(tracker, history_df)
        log_fold_summary(tracker, summary_df)
    metrics = read_metrics(tmp_path)
    assert len(metrics) == 6 and set(metrics["name"]) == {
        "fold0/lr", "fold0/val_soundscape_auc", "fold1/lr", "fold1/val_soundscape_auc"}
    assert metrics[metrics["name"] == "fold0/val_soundscape_auc"]["step"].tolist() == [0, 1]
    assert read_run_summary(tmp_path) == {
        "fold0/best_epoch": 1.0, "fold0/val_soundscape_auc": 0.7,
        "fold1/best_epoch": 0.0, "fold1/val_soundscape_auc": 0.65}
    assert (tmp_path / "tracking" / "tables" / "fold_summary.csv").is_file()
    rounds_df = pd.DataFrame({"round": [0, 1], "model": ["teacher", "student r1"],
                              "oof_auc": [0.7, 0.72]})
    with make_tracker("csv", tmp_path / "nb03") as tracker:
        log_history(tracker, rounds_df, step_column="round", group_column=None)
    rounds = read_metrics(tmp_path / "nb03")
    assert rounds["name"].tolist() == ["oof_auc"] * 2 and rounds["step"].tolist() == [0, 1]


def test_off_tracker_is_a_no_op(tmp_path):
    tracker = make_tracker("off", tmp_path / "run")
    assert type(tracker) is Tracker
    _log_two_folds(tracker, tmp_path / "missing.png")
    assert not (tmp_path / "run").exists()
    assert read_run_summary(tmp_path / "run") == {} and read_metrics(tmp_path / "run").empty
    with pytest.raises(ValueError, match="csv, wandb, off"):
        make_tracker("tensorboard", tmp_path)


def test_read_run_summary_prefers_the_latest_wandb_summary(tmp_path):
    """Online W&B runs write files/wandb-summary.json: the latest run's scalars are read too."""
    CsvTracker(tmp_path).log_summary({"cv_auc_mean": 0.7, "oof_auc": 0.6})
    for stamp, auc in (("20260101_000000-aaaa", 0.1), ("20260102_000000-bbbb", 0.8)):
        files = tmp_path / "wandb" / f"run-{stamp}" / "files"
        files.mkdir(parents=True)
        (files / "wandb-summary.json").write_text(json.dumps(
            {"oof_auc": auc, "_step": 3, "_wandb": {"runtime": 1}, "table": {"_type": "t"}}))
    assert read_run_summary(tmp_path) == {"cv_auc_mean": 0.7, "oof_auc": 0.8}


@dataclasses.dataclass(frozen=True)
class _StageWithTracking:
    working_dir: str = param("/kaggle/working", "where outputs go")
    tracking: TrackingConfig = param(TrackingConfig(), "experiment tracking")


def test_nested_tracking_config_takes_short_flags(tmp_path):
    cfg = resolve_config(_StageWithTracking, argv=[
        "--tracker", "off", "--tracking.project", "x", "--wandb-mode", "disabled",
        "--working-dir", str(tmp_path)])
    assert cfg.tracking == TrackingConfig(tracker="off", project="x", wandb_mode="disabled")
    assert type(tracker_for(cfg.tracking, cfg.working_dir, "nb02")) is Tracker
    assert resolve_config(_StageWithTracking, argv=[]).tracking.tracker == "csv"


def _wandb_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    wandb_cli = Path(sys.executable).with_name("wandb")
    command = [str(wandb_cli)] if wandb_cli.is_file() else [sys.executable, "-m", "wandb"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed: "
                    "pip install -r requirements-tracking.txt to test the wandb tracker")
def test_wandb_offline_run_is_one_wandb_sync_accepts(tmp_path, monkeypatch):
    offline = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true",
               "WANDB_DISABLE_CODE": "true", "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
               "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
               "WANDB_DATA_DIR": str(tmp_path / "wandb-data")}
    for key, value in offline.items():
        monkeypatch.setenv(key, value)
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    figure = _figure(tmp_path / "loss.png")
    run_dir = tmp_path / "run"
    tracker = make_tracker("wandb", run_dir, run_name="nb02-test", project="tracking-test")
    _log_two_folds(tracker, figure)

    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "one offline run under <working_dir>/wandb"
    assert len(list(runs[0].glob("run-*.wandb"))) == 1
    assert (run_dir / "tracking" / "summary.json").is_file(), "the CSV record is kept too"
    env = {**os.environ, **offline}

    # `wandb sync` finds the run as one to upload (the dry run stops before any network use).
    sync = _wandb_cli("sync", "--dry-run", "--verbose", str(runs[0]), env=env)
    assert sync.returncode == 0, sync.stderr
    assert "Would sync 1 run(s)" in sync.stdout + sync.stderr

    # wandb-core parses the whole transaction log: config, summary, state, per-fold history.
    inspect = _wandb_cli("leet", "inspect", "--summary", "--json", str(runs[0]), env=env)
    assert inspect.returncode == 0, inspect.stderr
    state = json.loads(inspect.stdout)
    assert state["state"] == "finished" and state["exit_code"] == 0
    assert state["project"] == "tracking-test" and state["name"] == "nb02-test"
    assert {k: state["config"][k] for k in CONFIG} == CONFIG
    assert state["summary"]["oof_auc"] == 0.65 and state["summary"]["fold1/best_val_auc"] == 0.7
    assert state["summary"]["per_class_auc"]["_type"] == "table-file"
    assert state["summary"]["loss_curves"]["_type"] == "image-file"
    records = _wandb_cli("leet", "inspect", "--json", str(runs[0]), env=env)
    assert records.returncode == 0, records.stderr
    history = [json.loads(line)["history"]["item"] for line in records.stdout.splitlines()
               if '"type":"history"' in line]
    fold1 = [row for row in history if "fold1/val_auc" in row]
    assert [row["fold1/step"] for row in fold1] == [0, 1]
    assert [row["fold1/val_auc"] for row in fold1] == pytest.approx([0.6, 0.7])
    assert read_run_summary(run_dir)["cv_auc_mean"] == 0.7


def test_wandb_tracker_without_wandb_names_the_requirements_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    with pytest.raises(ImportError, match="pip install -r requirements-tracking.txt"):
        make_tracker("wandb", tmp_path)
