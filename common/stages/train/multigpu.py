"""Several GPUs: nb02's folds trained in parallel, one process per GPU.

Folds are independent, so this needs no gradient sync and scales linearly with GPUs whenever
there are at least as many folds as GPUs; with one GPU, or on CPU, nb02 runs a plain loop
instead (:func:`common.stages.train.run.run_training`). DDP would only help a single fold, at
the cost of a sync per step over Kaggle's PCIe-only T4 pair.

:func:`run_parallel` saves the run's config and starts ``python -m
common.stages.train.multigpu --config <train_config.json> --folds <ids>`` per process, each
pinned with ``CUDA_VISIBLE_DEVICES``; :func:`main` is that worker.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import torch

from common.budget.clock import stage_started_at
from common.core.config import config_from_dict, save_config
from common.core.paths import find_dataset_dir
from common.data.prep_data import PrepData, load_prep
from common.stages.train.config import TrainConfig, resolve_folds
from common.stages.train.fold import train_fold

log = logging.getLogger(__name__)

__all__ = ["resolve_processes", "run_parallel", "train_folds", "prep_dir", "main"]

WORKER_MODULE = "common.stages.train.multigpu"  # what each worker process runs (python -m)


def prep_dir(cfg: TrainConfig) -> Path:
    """nb01's output folder under the input root (``cfg.prep_slug``)."""
    return find_dataset_dir(cfg.input_root, cfg.prep_slug, must_contain="train_folds.csv")


def resolve_processes(cfg: TrainConfig, n_folds: int) -> int:
    """How many training processes: ``parallel_processes``, or one per GPU when >1 GPU."""
    n = cfg.session.parallel_processes or max(1, torch.cuda.device_count())
    return max(1, min(n, n_folds))


def train_folds(cfg: TrainConfig, prep: PrepData, folds: tuple[int, ...], *,
                n_processes: int = 1, session_start: float | None = None,
                progress: bool = False) -> None:
    """Train ``folds`` one after the other in this process; stop at the first fold that the
    session limits interrupt (the later ones are left for the next session).

    ``session_start``: ``time.time()`` of the session's start; default the notebook's start
    (:func:`common.budget.clock.stage_started_at`, inherited by worker processes), else now.
    """
    start = stage_started_at() if session_start is None else session_start
    if progress:
        from tqdm.auto import tqdm

        folds = tqdm(folds, desc="folds", unit="fold")
    for fold in folds:
        summary = train_fold(cfg, prep, fold, n_processes=n_processes, session_start=start)
        if summary["status"] == "interrupted":
            log.warning("session limit reached: folds after %d are left for the next session",
                        fold)
            break


def run_parallel(cfg: TrainConfig, folds: tuple[int, ...], n_processes: int) -> None:
    """Train ``folds`` in ``n_processes`` subprocesses, fold i on process ``i % n``.

    Each process is pinned to GPU ``i % n_gpus`` through ``CUDA_VISIBLE_DEVICES`` and gets
    ``1/n`` of the CPUs for its loader; its log lines are relayed with a ``[worker i]`` prefix.
    """
    config_path = save_config(cfg, cfg.output_dir / "train_config.json")
    n_gpus = torch.cuda.device_count()
    repo_root = Path(__file__).resolve().parents[3]
    env_base = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": os.pathsep.join(
        [str(repo_root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    procs, threads = [], []
    for i in range(n_processes):
        mine = folds[i::n_processes]
        env = dict(env_base)
        if n_gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % n_gpus)
        command = [sys.executable, "-m", WORKER_MODULE, "--config", str(config_path),
                   "--folds", ",".join(map(str, mine)), "--processes", str(n_processes)]
        log.info("worker %d: folds %s on %s", i, list(mine),
                 f"GPU {i % n_gpus}" if n_gpus else "CPU")
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, cwd=repo_root)
        tail: list[str] = []
        thread = threading.Thread(target=_relay, args=(proc, i, tail), daemon=True)
        thread.start()
        procs.append((proc, tail))
        threads.append(thread)
    failed = []
    for (proc, tail), thread in zip(procs, threads):
        code = proc.wait()
        thread.join()
        if code != 0:
            failed.append((code, "".join(tail[-30:])))
    if failed:
        code, tail = failed[0]
        raise RuntimeError(f"{len(failed)} training worker(s) failed (exit code {code}); "
                           f"last lines:\n{tail}")


def _relay(proc: subprocess.Popen, index: int, tail: list[str]) -> None:
    """Copy a worker's output to stderr with a ``[worker i]`` prefix; keep its last lines."""
    assert proc.stdout is not None
    for line in proc.stdout:
        tail.append(line)
        del tail[:-200]
        sys.stderr.write(f"[worker {index}] {line}")


def main(argv: list[str] | None = None) -> int:
    """Worker entry point for :func:`run_parallel` (``python -m common.stages.train.multigpu
    --config ...``): train some folds of a saved run config."""
    from common.core.runtime import setup_logging

    parser = argparse.ArgumentParser(description="nb02 training worker: train some folds")
    parser.add_argument("--config", required=True, help="train_config.json of the run")
    parser.add_argument("--folds", required=True, help="comma-separated fold ids")
    parser.add_argument("--processes", type=int, default=1, help="processes sharing the CPUs")
    args = parser.parse_args(argv)
    cfg = config_from_dict(TrainConfig, json.loads(Path(args.config).read_text()))
    folds = tuple(int(f) for f in args.folds.split(",") if f.strip())
    cfg = dataclasses.replace(cfg, folds=folds)
    setup_logging(cfg.output_dir / "logs" / f"worker_folds_{'_'.join(map(str, folds))}.log")
    prep = load_prep(prep_dir(cfg))
    train_folds(cfg, prep, resolve_folds(cfg, prep.n_folds), n_processes=args.processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
