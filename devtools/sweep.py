"""Sweep runner: nb02 over a grid of config values, scored the same way, into a leaderboard.

    python -m common.sweep --input-root DIR --work-dir DIR --preset smoke \\
        --grid seed=0,1 class_balance=off,on min_rating=0,3 \\
               positive_subset=none,pos_top15 negative_subset=none,neg_t085 \\
        [--subsets-dir DIR_WITH_subset_CSVs] [--set epochs=5] [--grid-file grid.json]

A grid key is any ``TrainConfig`` field (dotted for nested ones, ``model.backbone``) or one of
two composition keys: ``positive_subset`` / ``negative_subset``, whose values are nb03 subset
names (``pos_top15`` -> ``<subsets-dir>/subset_pos_top15.csv``), CSV paths, or ``none``; they
are appended to ``extra_windows``. Values are comma-separated; for a tuple-valued field separate
values with ``|`` instead (``folds=0|0,1``). A grid file is JSON ``{"key": [values...]}``.

Every run is the cartesian product's one combination on top of the preset and ``--set``
values; it trains in its own working dir ``<work-dir>/runs/<run_id>`` (``run_id`` = hash of the
combination) in a subprocess by default, so a crash or out-of-memory kills one run only. The
score is the same for every run: the CV macro ROC-AUC on held-out soundscape windows (mean and
std of the per-fold best-epoch scores), the out-of-fold AUC over all folds, and the mean
per-class out-of-fold AUC per taxon. ``leaderboard.csv`` gets one row per run (every swept
value, status ok/failed with the error, scores, seconds, and ``tracked.<key>`` columns with the
run's tracked summary when it ran with a tracker) and ``leaderboard.png`` plots it.
Re-running skips runs already ``ok``; failed runs are tried again.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.core.config import (
    _coerce,
    apply_preset,
    config_from_dict,
    flatten,
    leaf_fields,
    replace_dotted,
    resolve_alias,
    save_config,
)
from common.report import training_plots as plots
from common.report.plots import save_figure
from common.report.tracking import read_run_summary

__all__ = ["SUBSET_KEYS", "parse_grid", "expand_grid", "run_id_of", "run_config",
           "score_run", "run_sweep", "main"]

log = logging.getLogger(__name__)

SUBSET_KEYS = {"positive_subset": "pos", "negative_subset": "neg"}
REPO_ROOT = Path(__file__).resolve().parents[1]
LEADERBOARD = "leaderboard.csv"


def _train_config_cls():
    # torch is imported only where a run needs it
    from common.stages.train.config import TrainConfig

    return TrainConfig


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["seed=0,1", "folds=0|0,1"]`` -> ``{"seed": ["0", "1"], "folds": ["0", "0,1"]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"grid entry {item!r} must look like key=value1,value2")
        split = "|" if "|" in values or _is_tuple_field(key.strip()) else ","
        grid[key.strip()] = [v.strip() for v in values.split(split)]
    return grid


def _is_tuple_field(key: str) -> bool:
    fields = leaf_fields(_train_config_cls())
    key = resolve_alias(key, fields)  # "folds", or a short name such as "extra_windows"
    return key in fields and "tuple" in str(fields[key][0])


def expand_grid(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, keys in the grid's order, last key varying fastest."""
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _canonical(key: str, value: Any) -> str:
    """A value as its field's type would hold it (``"on"`` -> True, ``"0"`` -> (0,) for a
    tuple field), as text; unknown keys and subset names stay as given."""
    fields = leaf_fields(_train_config_cls())
    field = resolve_alias(key, fields)  # "epochs" is optim.epochs
    if field in fields:
        try:
            return repr(_coerce(fields[field][0], value, key))
        except (TypeError, ValueError):
            pass
    return str(value)


def _preset_values(preset: str) -> dict[str, str]:
    """What ``preset`` sets now, as text (``{}`` for a name no config knows)."""
    try:
        return {k: repr(v) for k, v in flatten(apply_preset(_train_config_cls(), preset)).items()}
    except KeyError:
        return {}


def run_id_of(preset: str, fixed: dict[str, Any], combo: dict[str, Any]) -> str:
    """A short stable hash of everything that defines a run; values are compared as their
    field's type holds them, so ``--set folds=0`` and ``{"folds": (0,)}`` are the same run.
    The preset's values are part of it, not just its name: after a preset changes, a sweep
    in the same folder trains again instead of reusing runs of the old recipe."""
    payload = json.dumps({"preset": preset, "preset_values": _preset_values(preset),
                          "fixed": {k: _canonical(k, v) for k, v in fixed.items()},
                          "combo": {k: _canonical(k, v) for k, v in combo.items()}},
                         sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:10]


def _subset_path(value: str, kind: str, subsets_dir: Path | None) -> str | None:
    if str(value).strip().lower() in ("", "none", "off"):
        return None
    path = Path(value)
    if path.suffix == ".csv":
        return str(path)
    if subsets_dir is None:
        raise ValueError(f"subset {value!r} is a name: pass --subsets-dir (nb03's output)")
    name = value if value.startswith(f"{kind}_") else f"{kind}_{value}"
    return str(subsets_dir / f"subset_{name}.csv")


def run_config(preset: str, input_root: str | Path, run_dir: Path, fixed: dict[str, Any],
               combo: dict[str, Any], subsets_dir: Path | None = None):
    """The ``TrainConfig`` of one run: preset, then ``fixed``, then the combination."""
    cfg = apply_preset(_train_config_cls(), preset)
    changes: dict[str, Any] = {**fixed, "input_root": str(input_root),
                               "working_dir": str(run_dir)}
    subsets = []
    for key, value in combo.items():
        if key in SUBSET_KEYS:
            path = _subset_path(str(value), SUBSET_KEYS[key], subsets_dir)
            if path is not None:
                subsets.append(path)
        else:
            changes[key] = value
    cfg = replace_dotted(cfg, changes)
    if subsets:
        cfg = replace_dotted(cfg, {"extra_windows": (*cfg.extra_windows, *subsets)})
    for path in subsets:
        if not Path(path).is_file():
            raise FileNotFoundError(f"subset table {path} does not exist: run nb03 first or "
                                    "check --subsets-dir")
    return replace_dotted(cfg, {"preset": preset})


def score_run(run_dir: Path) -> dict[str, Any]:
    """The run's scores from nb02's files: fold mean/std, OOF AUC, per-taxon mean AUC, and the
    run's tracked summary (:func:`common.report.tracking.read_run_summary`) as ``tracked.<key>``
    columns when the run was tracked."""
    folds = pd.read_csv(run_dir / "fold_summary.csv")
    per_fold = pd.to_numeric(folds.get("val_soundscape_auc"), errors="coerce").dropna()
    report = json.loads((run_dir / "train_report.json").read_text())
    row: dict[str, Any] = {
        "cv_auc_mean": float(per_fold.mean()) if len(per_fold) else math.nan,
        "cv_auc_std": float(per_fold.std(ddof=0)) if len(per_fold) else math.nan,
        "oof_auc": report.get("oof_soundscape_auc"),
        "n_folds": int(len(folds)),
    }
    per_class = pd.read_csv(run_dir / "per_class_auc.csv", dtype={"primary_label": str})
    for taxon, rows in per_class.groupby("class_name"):
        values = pd.to_numeric(rows["oof_soundscape_auc"], errors="coerce").dropna()
        row[f"auc_{taxon}"] = float(values.mean()) if len(values) else math.nan
    row.update({f"tracked.{key}": value for key, value in read_run_summary(run_dir).items()})
    return row


def _train_and_score(config_path: Path) -> dict[str, Any]:
    from common.stages.train.run import run_training

    cfg = config_from_dict(_train_config_cls(), json.loads(config_path.read_text()))
    run_training(cfg)
    return score_run(Path(cfg.working_dir))


def _run_subprocess(config_path: Path, log_path: Path, threads: int = 0) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), "MPLBACKEND": "Agg",
        "TQDM_DISABLE": "1"}
    if threads > 0:  # runs side by side: each its share of the cores, not all of them
        env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    with open(log_path, "w") as handle:
        code = subprocess.call([sys.executable, "-m", "devtools.sweep", "--run-config",
                                str(config_path)], cwd=REPO_ROOT, env=env, stdout=handle,
                               stderr=subprocess.STDOUT)
    result_path = config_path.parent / "sweep_result.json"
    if code != 0 or not result_path.is_file():
        tail = log_path.read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"exit code {code}: {' | '.join(tail)} (log: {log_path})")
    return json.loads(result_path.read_text())


def _read_leaderboard(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=["run_id", "status"])
    return pd.read_csv(path, dtype={"run_id": str, "status": str, "error": str})


def _write_leaderboard(df: pd.DataFrame, path: Path, keys: list[str]) -> None:
    lead = ["run_id", "status", *[k for k in keys if k in df.columns]]
    scores = ["cv_auc_mean", "cv_auc_std", "oof_auc", "n_folds"]
    taxa = sorted(c for c in df.columns if c.startswith("auc_"))
    rest = [c for c in df.columns if c not in {*lead, *scores, *taxa, "seconds", "error"}]
    ordered = lead + [c for c in scores if c in df.columns] + taxa + rest + [
        c for c in ("seconds", "error") if c in df.columns]
    tmp = path.with_name(f".{path.name}.tmp")
    df[ordered].to_csv(tmp, index=False)
    os.replace(tmp, path)


def run_sweep(input_root: str | Path, work_dir: str | Path, preset: str,
              grid: dict[str, Sequence[Any]], fixed: dict[str, Any] | None = None,
              subsets_dir: str | Path | None = None, isolate: bool = True,
              threads: int = 0) -> pd.DataFrame:
    """Train and score every combination of ``grid``; returns the whole leaderboard.

    Args:
        input_root: where nb01's prep dataset (and the competition) are, as for nb02.
        work_dir: holds ``leaderboard.csv``, ``leaderboard.png`` and ``runs/<run_id>/``.
        preset: ``TrainConfig`` preset every run starts from.
        grid: ``{key: values}``; values may be strings (coerced to the field's type).
        fixed: overrides shared by every run (not part of the leaderboard columns).
        subsets_dir: folder with nb03's ``subset_*.csv`` for the subset keys.
        isolate: run each training in a subprocess (a crash fails one run only); ``False``
            runs in this process (tests), still catching its exceptions.
        threads: intra-op threads of each subprocess (0 = torch's default, every core); set
            when several sweeps run side by side.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    fixed = dict(fixed or {})
    subsets_dir = Path(subsets_dir) if subsets_dir else None
    keys = list(grid)
    path = work_dir / LEADERBOARD
    board = _read_leaderboard(path)
    combos = expand_grid(grid)
    log.info("sweep: %d runs over %s (preset %s)", len(combos), keys, preset)
    for i, combo in enumerate(combos):
        run_id = run_id_of(preset, fixed, combo)
        done = board[(board["run_id"] == run_id) & (board["status"] == "ok")]
        if len(done):
            log.info("run %d/%d %s %s: done before, skipped", i + 1, len(combos), run_id, combo)
            continue
        run_dir = work_dir / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        row: dict[str, Any] = {"run_id": run_id, **{k: str(v) for k, v in combo.items()}}
        start = time.time()
        try:
            cfg = run_config(preset, input_root, run_dir, fixed, combo, subsets_dir)
            config_path = save_config(cfg, run_dir / "sweep_config.json")
            if isolate:
                scores = _run_subprocess(config_path, run_dir / "sweep_run.log", threads)
            else:
                scores = _train_and_score(config_path)
            row.update(status="ok", error="", **scores)
        except Exception as err:  # one failed run is recorded; the sweep goes on
            log.warning("run %s %s failed: %s", run_id, combo, err)
            (run_dir / "sweep_error.txt").write_text(traceback.format_exc())
            row.update(status="failed", error=f"{type(err).__name__}: {err}"[:500])
        row["seconds"] = round(time.time() - start, 1)
        log.info("run %d/%d %s %s: %s cv auc %s", i + 1, len(combos), run_id, combo,
                 row["status"], row.get("cv_auc_mean"))
        board = pd.concat([board[board["run_id"] != run_id], pd.DataFrame([row])],
                          ignore_index=True)
        _write_leaderboard(board, path, keys)
    if len(board):
        _write_leaderboard(board, path, keys)
        if (board["status"] == "ok").any():
            label_keys = [k for k in keys if k in board.columns]
            save_figure(plots.sweep_leaderboard(board, label_keys), work_dir / "leaderboard.png")
    return board


def _read_grid_file(path: str) -> dict[str, list[Any]]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path}: a grid file is a JSON object of lists, "
                         '{"seed": [0, 1], "class_balance": [false, true]}')
    return data


def main(argv: list[str] | None = None) -> int:
    from common.core.runtime import setup_logging

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-root", help="folder laid out like /kaggle/input")
    parser.add_argument("--work-dir", help="where the leaderboard and runs go")
    parser.add_argument("--preset", default="default", help="TrainConfig preset")
    parser.add_argument("--grid", nargs="+", action="extend", default=[],
                        help="key=v1,v2 entries (see above)")
    parser.add_argument("--grid-file", help="JSON {key: [values]} (merged with --grid)")
    parser.add_argument("--set", nargs="+", action="extend", default=[],
                        help="key=value overrides shared by every run")
    parser.add_argument("--subsets-dir", help="folder with nb03's subset_*.csv")
    parser.add_argument("--in-process", action="store_true",
                        help="train in this process instead of one subprocess per run")
    parser.add_argument("--run-config", help=argparse.SUPPRESS)  # the per-run subprocess
    args = parser.parse_args(argv)
    if args.run_config:
        config_path = Path(args.run_config)
        setup_logging(config_path.parent / "nb02.log")
        scores = _train_and_score(config_path)
        (config_path.parent / "sweep_result.json").write_text(
            json.dumps(scores, default=lambda x: x.item() if isinstance(x, np.generic) else x))
        return 0
    if not args.input_root or not args.work_dir:
        parser.error("--input-root and --work-dir are required")
    grid = {**(_read_grid_file(args.grid_file) if args.grid_file else {}),
            **parse_grid(args.grid)}
    if not grid:
        parser.error("give at least one --grid entry or a --grid-file")
    fixed = {k: v for k, v in (s.split("=", 1) for s in args.set)}
    setup_logging(Path(args.work_dir) / "sweep.log")
    board = run_sweep(args.input_root, args.work_dir, args.preset, grid, fixed,
                      args.subsets_dir, isolate=not args.in_process)
    print(board.to_string(index=False))
    return 0 if (board["status"] == "ok").all() else 1


if __name__ == "__main__":
    sys.exit(main())
