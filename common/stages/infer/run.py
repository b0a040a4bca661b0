"""nb04, inference: an ensemble of checkpoints over every test file, on 4 CPU cores.

Every task runs the same loop: every test file of ``<competition>/<test_dir>`` is cut into 5-s
windows, each window goes through every model and TTA view, and the models are combined per
window with the task's activation (sigmoid for multi-label, softmax for single-label). How those
window probabilities become submission rows is the task's
(:meth:`common.tasks.base.Task.submission_rows`): BirdCLEF writes one row per window (``row_id``
+ one probability per species, after the fallback, smoothing and power); a whole-clip task pools
the windows per clip and writes one label per clip. Rows follow the sample submission's columns
and id order, then any other window or clip.

Outputs in the working dir: ``submission.csv``, ``infer_timings.csv`` (one row per batch),
``infer_report.json`` (speed per model, budget decisions, totals, plus the task's entries),
``infer_config.json``, the task's extra tables and ``figures/``.

The work is split by role: :mod:`~common.stages.infer.config` (the stage and engine configs),
:mod:`~common.stages.infer.members` (checkpoints -> checked, compiled models),
:mod:`~common.stages.infer.tta` (views), :mod:`~common.stages.infer.decode` (test audio ->
windows), :mod:`~common.stages.infer.predictor` (the timed loop),
:mod:`~common.stages.infer.ensemble` (the combination maths, clip pooling and the budget rule),
:mod:`~common.stages.infer.submission` (window rows and columns),
:mod:`~common.stages.infer.rows` (the task's row strategy),
:mod:`~common.stages.infer.budget` (the first projection, from the budget's throughput facts) and
:mod:`~common.stages.infer.report`. This module loads the ensemble and ties them together.

With no audio in the test folder (Kaggle's public data), the checkpoints are still loaded and
checked, so a broken model fails the quick public run rather than the hidden rerun, and a valid
submission shaped like the sample is written in seconds.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from common.core.config import save_config
from common.core.paths import find_competition_dir, find_dataset_dir
from common.core.runtime import resolve_workers
from common.stages.infer.backends.allocator import tune_malloc
from common.stages.infer.backends.install import ensure_backend
from common.stages.infer.backends.int8 import apply_int8
from common.stages.infer.backends.select import measured_speeds
from common.stages.infer.budget import initial_plan, speed_key
from common.stages.infer.config import InferConfig
from common.stages.infer.decode import list_test_files
from common.stages.infer.members import (
    Member,
    find_checkpoints,
    group_by_frontend,
    load_members,
    published_students,
)
from common.stages.infer.predictor import Predictions, predict_files
from common.stages.infer.report import infer_report, timings_table
from common.stages.infer.teacher_blend import teacher_rank_blend
from common.stages.teacher_table import teacher_mapping

__all__ = ["InferResult", "load_ensemble", "run_inference"]

log = logging.getLogger(__name__)


@dataclass
class InferResult:
    """What nb04 made; every path is inside ``output_dir``."""

    output_dir: Path
    submission_df: pd.DataFrame
    timings_df: pd.DataFrame
    report: dict[str, Any]
    figures: dict[str, Path]
    predictions: Predictions | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # the task's (rows.tables)


def load_ensemble(cfg: InferConfig, classes: list[str]) -> list[Member]:
    """Every checkpoint of the models dataset plus, when attached, nb03's students.

    ``cfg.model_weights`` gives one weight per checkpoint: models first, then students, each in
    sorted path order. Member names are relative to their dataset folder, prefixed with the
    slug for students.
    """
    models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
    sources = [(models_dir, find_checkpoints(models_dir, cfg.checkpoint_glob))]
    if cfg.pseudo_slug:
        try:
            pseudo_dir = find_dataset_dir(cfg.input_root, cfg.pseudo_slug)
        except FileNotFoundError:
            log.info("no %s dataset attached: the ensemble is nb02's models only", cfg.pseudo_slug)
        else:
            students = published_students(pseudo_dir, sorted(
                p for p in pseudo_dir.rglob("*.pt")
                if fnmatch.fnmatch(p.name, cfg.pseudo_checkpoint_glob)))
            if students:
                sources.append((pseudo_dir, students))
            else:
                log.warning("%s holds no checkpoint matching %r: no student in the ensemble",
                            pseudo_dir, cfg.pseudo_checkpoint_glob)
    n_total = sum(len(paths) for _, paths in sources)
    if cfg.model_weights and len(cfg.model_weights) != n_total:
        names = [str(p) for _, paths in sources for p in paths]
        raise ValueError(f"model_weights has {len(cfg.model_weights)} values for {n_total} "
                         f"checkpoints (in this order: {names})")
    members: list[Member] = []
    for i, (root, paths) in enumerate(sources):
        weights = cfg.model_weights[len(members):len(members) + len(paths)]
        loaded = load_members(paths, classes, weights, root=root,
                              window_seconds=cfg.task_spec.window_seconds)
        if i:
            for m in loaded:
                m.name = f"{root.name}/{m.name}"
        members += loaded
    rates = {m.frontend_cfg.sample_rate for m in members}
    if len(rates) > 1:
        raise ValueError(f"nb02 models and nb03 students use different sample rates ({rates}); "
                         "set pseudo_slug='' or retrain the students")
    return members


def run_inference(cfg: InferConfig, clock: Callable[[], float] = time.perf_counter
                  ) -> InferResult:
    """Run nb04 end to end; see the module docstring for the outputs.

    ``clock`` (seconds) drives the time budget; tests inject a fake one. The task's
    preparation (:meth:`common.stages.infer.rows.SubmissionRows.prepare`, e.g. refitting a
    feature model and extracting the test features) runs before the models, so the budget of
    the prediction loop (counted from the start) leaves room for it.
    """
    started_at = clock()
    task = cfg.task_spec
    # Inputs first: a wrong input root stops here, before anything is written.
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    sample_df, classes = task.read_sample(competition_dir)
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "infer_config.json")
    threads = resolve_workers(cfg.predict.threads)
    torch.set_num_threads(threads)
    if cfg.predict.tune_malloc:
        tune_malloc()
    if cfg.predict.backend != "torch":
        ensure_backend(cfg.predict.backend, cfg.input_root, int8=cfg.predict.int8)
    test_dir = competition_dir / cfg.test_dir
    paths = list_test_files(test_dir, cfg.max_files)
    log.info("competition data: %s; %d test files in %s; %d torch threads", competition_dir,
             len(paths), cfg.test_dir, threads)

    if cfg.teacher.enabled:  # a wrong teacher setting fails now, not after the ensemble
        teacher_mapping(cfg.teacher, competition_dir, classes)
    members = load_ensemble(cfg, classes)
    groups = group_by_frontend(members)
    log.info("ensemble: %d models in %d frontend groups; views %s; combine %s", len(members),
             len(groups), ",".join(cfg.predict.views), cfg.predict.combine)
    int8 = []
    if cfg.predict.int8 and paths:
        int8 = apply_int8(members, task.labelled_windows(
            competition_dir, classes, members[0].frontend_cfg.sample_rate,
            cfg.predict.int8_windows), cfg.predict, threads)
    rows = task.submission_rows(cfg, classes)
    rows.prepare(paths)
    predictions, projected = None, None
    if paths:
        # The planner's figures first (fewer views if even they cannot fit), then the loop
        # measures itself and replans.
        predict_cfg, projected = initial_plan(
            cfg.predict, members, len(paths), math.ceil(task.clip_seconds / task.window_seconds),
            backend=speed_key(members, cfg.predict.backend))
        predictions, probs = predict_files(members, paths, predict_cfg, classes, task, clock,
                                           started_at)
    else:
        log.info("no test audio in %s: writing a submission shaped like the sample", test_dir)
        probs = np.zeros((0, len(classes)), np.float32)
    teacher_info = None
    if cfg.teacher.enabled and predictions is not None:
        seconds_left = 60 * cfg.predict.time_budget_minutes - (clock() - started_at)
        probs, teacher_info = teacher_rank_blend(
            cfg, predictions, probs, competition_dir, classes,
            members[0].frontend_cfg.sample_rate, out, seconds_left)
    submission_df = rows.build(predictions, probs, sample_df, out)
    # %.7g keeps relative precision: fixed decimals would turn small probabilities into tied
    # zeros, and ties cost ROC-AUC.
    submission_df.to_csv(out / "submission.csv", index=False, float_format="%.7g")
    figures = rows.figures(out)

    timings_df = timings_table(predictions)
    timings_df.to_csv(out / "infer_timings.csv", index=False)
    report = infer_report(cfg, members, predictions, submission_df, threads,
                          clock() - started_at)
    report["budget_projected_minutes"] = None if projected is None else round(projected, 1)
    report.update(rows.report())
    if teacher_info is not None:
        report["teacher"] = teacher_info
    # windows/s per model pass of each backend tried on the first batch (model only): what a
    # budget planner reads to size the next run's ensemble.
    report["backend_windows_per_second"] = {
        b: round(r, 1) for b, r in measured_speeds(members).items()}
    if int8:
        report["int8"] = [dataclasses.asdict(v) for v in int8]
    (out / "infer_report.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("inference done: %d rows in %.1f s -> %s", len(submission_df),
             report["seconds"], out / "submission.csv")
    return InferResult(out, submission_df, timings_df, report, figures, predictions,
                       rows.tables())
