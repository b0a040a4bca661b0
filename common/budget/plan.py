"""The planner: the four stage configs of a preset, projected on Kaggle's hardware.

:func:`resolve_recipe` composes each stage's config as its notebook would (class defaults,
the task's, the preset, then ``overrides``); :func:`plan_budget` projects each stage's wall
time and output size from a :class:`~common.budget.workload.Workload`, the measured
throughputs and Kaggle's limits (:mod:`common.budget.model`), letting nb01 and nb03 adapt
their knobs as they will at their start (:mod:`common.budget.fit`) unless ``adapt=False``;
:func:`format_table` prints the result.

The hardware: nb01 and nb04 on Kaggle's CPU (``cpu_cores``), nb02 and nb03 on its ``T4 x2``
(one fold per GPU; nb03's teacher scores on one GPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.budget.facts import DEFAULT_BACKEND, KaggleLimits, Throughputs
from common.budget.fit import (
    PUBLISH_RESERVE_HOURS,
    PseudoWork,
    fit_cache_seconds,
    fit_ensemble,
    fit_pseudo,
)
from common.budget.model import (
    Projection,
    audio_gb,
    infer_projection,
    prep_projection,
    pseudo_projection,
    train_projection,
)
from common.budget.model import infer_seconds as nb04_seconds
from common.budget.speeds import GPU_DEVICE, training_speeds
from common.budget.workload import Workload
from common.core.config import apply_preset, replace_dotted
from common.stages.configs import STAGE_CONFIGS
from common.stages.infer.config import InferConfig
from common.stages.infer.teacher_blend import teacher_fits
from common.stages.infer.tta import fold_duplicate_views
from common.stages.prep.config import PrepConfig
from common.stages.pseudo.config import PseudoConfig
from common.stages.train.config import TrainConfig

__all__ = ["STAGES", "Plan", "Recipe", "format_table", "plan_budget", "resolve_recipe",
           "split_overrides"]

STAGES = STAGE_CONFIGS


@dataclass(frozen=True)
class Recipe:
    """The four stage configs of one preset."""

    prep: PrepConfig
    train: TrainConfig
    pseudo: PseudoConfig
    infer: InferConfig


@dataclass
class Plan:
    """The table's rows and what the planner chose for the stages that adapt."""

    rows: list[Projection]
    recipe: Recipe
    workload: Workload
    choices: dict[str, Any] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return all(row.fits for row in self.rows)


def split_overrides(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``["prep.cache_seconds=30", "pseudo.rounds=3"]`` -> ``{"prep": {"cache_seconds":
    "30"}, "pseudo": {"rounds": "3"}}``; the first part names the stage."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        stage, dot, name = key.strip().partition(".")
        if not sep or not dot or stage not in STAGES:
            raise ValueError(f"--set {pair!r}: write STAGE.FIELD=VALUE with STAGE one of "
                             f"{', '.join(STAGES)} (e.g. prep.cache_seconds=30)")
        out.setdefault(stage, {})[name] = value.strip()
    return out


def resolve_recipe(task: str, preset: str, overrides: dict[str, dict[str, Any]] | None = None
                   ) -> Recipe:
    """Each stage's config as its notebook resolves it: defaults, task, ``preset``, then
    ``overrides[stage]`` (dotted names or unique leaf names, as in ``OVERRIDES``)."""
    overrides = overrides or {}
    configs = {stage: replace_dotted(apply_preset(cls, preset, task), overrides.get(stage, {}))
               for stage, cls in STAGES.items()}
    return Recipe(**configs)


def _prep_row(prep: PrepConfig, work: Workload, thr: Throughputs, lim: KaggleLimits,
              adapt: bool, choices: dict[str, Any]) -> tuple[Projection, float]:
    n_bg = (work.n_unlabelled_soundscapes if prep.n_background_soundscapes < 0
            else min(prep.n_background_soundscapes, work.n_unlabelled_soundscapes))
    sc_seconds = (work.n_labelled_soundscapes + n_bg) * work.soundscape_seconds
    scale = min(1.0, prep.max_clips / work.n_clips) if prep.max_clips else 1.0

    def cache_gb(keep: float | None) -> float:
        return audio_gb(scale * work.clip_cache_seconds(keep) + sc_seconds, work.sample_rate)

    keep = prep.cache_seconds
    note = ""
    if adapt and prep.fit_cache:
        longest = (float(work.clip_durations.max()) if len(work.clip_durations)
                   else work.decode_clip_seconds)
        choice = fit_cache_seconds(cache_gb, prep.cache_seconds, prep.min_cache_seconds,
                                   prep.max_cache_gb, longest)
        keep, note = choice.seconds, choice.reason
        choices["prep.cache_seconds"] = keep
    decoded = scale * work.n_clips * work.decode_clip_seconds + sc_seconds
    keep_text = "whole clips" if keep <= 0 else f"{keep:g} s"
    row = prep_projection(
        scale * work.clip_cache_seconds(None if keep <= 0 else keep), sc_seconds, decoded,
        work.sample_rate, thr.rate("decode", "kaggle_cpu"), lim.cpu_cores, lim.session_hours,
        prep.max_cache_gb, lim.output_gb,
        f"{round(scale * work.n_clips):,} clips x {keep_text} + {work.n_labelled_soundscapes} "
        f"labelled + {n_bg} background soundscapes")
    row.notes += [n for n in (note, f"decode: {thr.source('decode', 'kaggle_cpu')}") if n]
    return row, keep


def _fold_rows(work: Workload, train: TrainConfig, n_folds: int, window_seconds: float
               ) -> tuple[int, int]:
    """``(training rows, validation rows)`` of one fold: focal clips and labelled soundscape
    windows of the other folds (``soundscape_repeats`` times), and of the held-out fold."""
    sc_windows = work.n_labelled_soundscapes * work.windows_per_soundscape(window_seconds)
    train_share = (n_folds - 1) / n_folds
    rows = train_share * (work.n_clips + sc_windows * train.data.soundscape_repeats
                          * train.data.use_soundscapes)
    if train.optim.max_steps_per_epoch > 0:
        rows = min(rows, train.optim.max_steps_per_epoch * train.optim.batch_size)
    return int(rows), int((work.n_clips + sc_windows) / n_folds)


def plan_budget(recipe: Recipe, work: Workload, thr: Throughputs, lim: KaggleLimits,
                adapt: bool = True, backend: str = DEFAULT_BACKEND) -> Plan:
    """Project the four stages of ``recipe`` on ``work`` (see the module docstring)."""
    prep, train, pseudo, infer = recipe.prep, recipe.train, recipe.pseudo, recipe.infer
    task = train.task_spec
    choices: dict[str, Any] = {}
    rows = []
    prep_row, keep = _prep_row(prep, work, thr, lim, adapt, choices)
    rows.append(prep_row)

    # nb02: folds in parallel on the GPUs, resumable across sessions.
    n_folds = len(train.folds) or prep.n_folds
    backbone = train.model.backbone
    processes = min(n_folds, lim.n_gpus)
    workers = (train.session.workers if train.session.workers >= 0
               else max(1, lim.cpu_cores // processes))
    speeds, _ = training_speeds(thr, GPU_DEVICE, backbone, workers)
    train_rows, val_rows = _fold_rows(work, train, prep.n_folds, task.window_seconds)
    ckpt_gb = thr.rate("checkpoint_mb", "any", backbone) / 1e3
    session_h = train.session.session_hours or lim.session_hours
    rows.append(train_projection(
        train_rows, val_rows, train.optim.epochs, n_folds, lim.n_gpus, speeds, session_h,
        lim.gpu_weekly_hours, ckpt_gb, lim.output_gb,
        f"{n_folds} folds x {train.optim.epochs} epochs x {train_rows:,} rows ({backbone})"))
    rows[-1].notes.append(f"step: {thr.source('train_step', GPU_DEVICE, backbone)}; "
                          f"validation: {thr.source('eval', GPU_DEVICE, backbone)}")

    # nb03: scoring + students per round, inside one session.
    wps = work.windows_per_soundscape(task.window_seconds)
    n_scored = (work.n_soundscapes if pseudo.soundscapes == "all"
                else work.n_unlabelled_soundscapes)
    if pseudo.max_files:
        n_scored = min(n_scored, pseudo.max_files)
    passes = len(fold_duplicate_views(pseudo.predict.views, train.frontend))
    pwork = PseudoWork(
        pool_windows=n_scored * wps, n_members=n_folds, n_passes=passes,
        score_rate=speeds.evaluate, decode_seconds=n_scored * work.soundscape_seconds,
        decode_rate=thr.rate("decode", "kaggle_cpu"), cores=lim.cpu_cores,
        base_train_rows=train_rows, val_rows=val_rows, n_folds=n_folds, n_gpus=lim.n_gpus,
        speeds=speeds, repeats=pseudo.pseudo_repeats)
    epochs = pseudo.student_epochs or train.optim.epochs
    windows = min(pseudo.max_windows, pwork.pool_windows) if pseudo.max_windows else (
        pwork.pool_windows)
    rounds = pseudo.rounds
    budget_h = pseudo.session_hours or lim.session_hours
    note = ""
    if adapt and pseudo.fit_session and pseudo.train_student:
        pick = fit_pseudo(pwork, pseudo.max_windows, epochs, rounds,
                          budget_h - PUBLISH_RESERVE_HOURS, pseudo.min_windows,
                          pseudo.min_student_epochs)
        windows, epochs, rounds, note = pick.windows, pick.epochs, pick.rounds, pick.reason
        choices.update({"pseudo.max_windows": windows, "pseudo.student_epochs": epochs,
                        "pseudo.rounds": rounds})
    cached = n_scored * work.soundscape_seconds
    cache_gb = (min(pseudo.cache_max_gb, audio_gb(cached, work.sample_rate))
                if pseudo.cache_audio else 0.0)
    rows.append(pseudo_projection(
        pwork.round_hours(windows, epochs), rounds, pseudo.train_student, budget_h, cache_gb,
        windows, work.n_classes, n_folds, ckpt_gb, lim.output_gb,
        f"{rounds} round(s): {n_folds} teachers x {passes} passes over {pwork.pool_windows:,} "
        f"windows; students {n_folds} folds x {epochs} epochs with {windows:,} pseudo windows",
        publish_hours=PUBLISH_RESERVE_HOURS))
    if note:
        rows[-1].notes.append(note)

    # nb04: the ensemble on Kaggle's CPU, within its own budget (its loop drops views, then
    # models, when the rest would not fit).
    n_students = n_folds if (pseudo.train_student and rounds and infer.pseudo_slug) else 0
    n_models = n_folds + n_students
    views = infer.predict.views
    rate = thr.infer_rate(backbone, backend)
    shared = thr.infer_shared_rate()  # decoding + frontend: once per window and view, not model
    compile_s = thr.rate("infer_compile", "kaggle_cpu")

    def infer_seconds(models: int, k: int) -> float:
        passes = len(fold_duplicate_views(views[:k], train.frontend))
        return nb04_seconds(work.n_test_files, wps, models, passes, rate, compile_s, shared)

    models, k, note = n_models, len(views), ""
    if adapt:
        pick = fit_ensemble(infer_seconds, n_models, len(views),
                            60 * infer.predict.time_budget_minutes)
        models, k, note = pick.models, pick.views, pick.reason
        choices.update({"infer.models": models, "infer.max_views": k})
    passes = len(fold_duplicate_views(views[:k], train.frontend))
    submission_gb = work.n_test_files * wps * (work.n_classes * 10 + 30) / 1e9
    rows.append(infer_projection(
        work.n_test_files, wps, models, passes, rate, compile_s,
        infer.predict.time_budget_minutes, lim.submission_minutes, submission_gb, lim.output_gb,
        f"{work.n_test_files} files x {wps} windows x {models} of {n_models} models x {passes} "
        f"passes ({k} of {len(views)} views, {backend})", shared_rate=shared))
    rows[-1].notes += [n for n in (note, f"speed: {thr.infer_source(backbone, backend)}; "
                                   f"shared decode + frontend: {thr.infer_shared_source()}") if n]
    if infer.teacher.enabled:
        rows[-1].notes.append(teacher_note(
            thr, infer.teacher.teacher, work.n_test_files * wps,
            60 * infer.predict.time_budget_minutes - infer_seconds(models, k)))

    gpu_h = rows[1].hours + rows[2].hours
    if gpu_h > lim.gpu_weekly_hours:
        rows[2].notes.append(f"nb02 + nb03 take {gpu_h:.1f} GPU h, more than one week's "
                             f"{lim.gpu_weekly_hours:g} h quota: spread them over two weeks")
    return Plan(rows, recipe, work, choices)


def teacher_note(thr: Throughputs, teacher: str, windows: int, seconds_left: float) -> str:
    """nb04's teacher decision as the planner projects it (nb04 makes the same one with the
    speed it measures: :func:`common.stages.infer.teacher_blend.teacher_fits`)."""
    try:
        rate, source = thr.rate("teacher", "kaggle_cpu", teacher), thr.source(
            "teacher", "kaggle_cpu", teacher)
    except KeyError:
        return (f"teacher {teacher}: no speed on record (python benchmarks/teacher_speed.py "
                "--write-facts); nb04 measures it and decides")
    fits, seconds = teacher_fits(windows, rate, seconds_left)
    verdict = ("rank-blended" if fits else
               "skipped: it does not fit what the ensemble leaves (nb04 says so in its report)")
    return (f"teacher {teacher}: {windows:,} windows at {rate:.1f}/s = {seconds / 60:.0f} min, "
            f"{max(0.0, seconds_left) / 60:.0f} min left after the ensemble: {verdict} "
            f"(speed: {source})")


def _hours_text(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def format_table(plan: Plan) -> str:
    """The plan as a Markdown table, then each row's notes and problems."""
    header = ["stage", "work", "projected time", "limit", "projected output", "limit", "fits"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in plan.rows:
        time_text = _hours_text(row.hours) + (f" ({row.time_note})" if row.time_note else "")
        lines.append("| " + " | ".join([
            row.stage, row.work, time_text, row.limit_text, f"{row.output_gb:.2f} GB",
            f"{row.limit_gb:g} GB", "yes" if row.fits else "**NO**"]) + " |")
    lines.append("")
    lines.append(f"workload: {plan.workload.source}")
    for row in plan.rows:
        for note in row.notes:
            lines.append(f"- {row.stage}: {note}")
    for row in plan.rows:
        for problem in row.problems:
            lines.append(f"DOES NOT FIT: {problem}")
    return "\n".join(lines)
