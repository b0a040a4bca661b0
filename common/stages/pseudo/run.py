"""nb03, pseudo labels and noisy student: a teacher ensemble labels unlabelled audio, a student
learns from it with stronger augmentation, and the student becomes the next teacher.

Which audio is unlabelled and how its probabilities become tables is the task's
(:meth:`common.tasks.base.Task.pseudo_labeller`): BirdCLEF labels every 5-s window of its
unlabelled train soundscapes (:mod:`common.tasks.birdclef.pseudo`); a whole-clip task labels its
test clips, windows pooled per clip. One round ``r`` (``rounds`` of them, chained):

1. **Score.** The teacher ensemble (round 1: every fold and backbone of nb02's models dataset
   matching ``checkpoint_glob``; round r > 1: the students of round r - 1) predicts every
   window with nb04's engine (:func:`common.stages.infer.predictor.predict_files`, settings in
   the nested ``predict`` config: same frontend, TTA and combination rule as the submission;
   :mod:`common.stages.pseudo.score`). Files are decoded in a thread pool ahead of the models;
   files that fail to decode are skipped and listed in ``pseudo_bad_files.csv``. The decoded
   audio of files not in nb01's cache is written to ``cache/`` (up to ``cache_max_gb``,
   :mod:`common.stages.pseudo.cache`), so students read memory maps.
2. **Label.** The task's soft table from the ensemble's probabilities (``min_confidence``,
   ``target_power``, ``max_windows``), and with ``pseudo_targets="fold"`` (default) one table
   per fold, labelled by that fold's teacher alone: the student of fold k learns from it, so
   fold k's held-out data never reach the student through a teacher that trained on them and
   the student's CV stays honest. ``"ensemble"`` gives every fold the full ensemble's
   (stronger) labels; the CV is then optimistic (:mod:`common.stages.pseudo.labels`).
3. **Train the student.** nb02's training (:func:`common.stages.train.run.run_training`) with
   the teacher's recipe (its ``train_config.json``) plus the pseudo table as extra windows
   (loss weight ``pseudo_weight``, ``pseudo_repeats`` copies per epoch), strong waveform and
   spectrogram augmentation, and optionally a warm start from the teacher of the same fold
   (:mod:`common.stages.pseudo.students`). The student is validated exactly like the teacher,
   so the two CV numbers compare directly; it keeps its last epoch (``student_checkpoint``),
   so its CV is not also the maximum over epochs of the files the gate judges it on.

Once, from the nb02 teacher, tasks that use them write named data subsets
(:mod:`common.stages.pseudo.curate`: curated positives, hard negatives) for nb02 to include.

Outputs (working dir, published as the ``pseudo`` dataset): ``pseudo_labels_soft.csv`` (final
round; directly an nb02 extra windows table) and per round ``pseudo_labels_soft_r<r>.csv`` and
``pseudo_labels_soft_r<r>_fold<k>.csv``; the task's hard view and ``pseudo_class_counts.csv``;
``pseudo_summary.json``, ``pseudo_report.json``, ``pseudo_bad_files.csv``, ``figures/``;
``<backbone>_student_fold<k>_best.pt`` (the students nb04 ensembles with nb02's models: the
best round whose out-of-fold score beats the teacher's on the same folds, in at least
``student_gate_confidence`` of the paired bootstrap resamples of the validation files, or
none; :mod:`common.stages.pseudo.gate`, ``student_gate``; the report's ``student_gate`` says
which round or why none, ``figures/student_gate.png`` shows the resampled gains);
``rounds/r<r>/`` (each round's full nb02 output); ``rounds_summary.csv`` (the teacher's and
each student's out-of-fold validation score, the resampled ``gain``, ``gain_low`` and
``share_better``, the ``published`` round);
``subset_*.csv`` + ``subsets_summary.csv``; ``cache/``; ``pseudo_config.json``;
``dataset-metadata.json``.

The budget (:mod:`common.stages.pseudo.budget`): at the start, ``max_windows``, then
``student_epochs``, then ``rounds`` are cut until the projected stage fits ``session_hours``
(``fit_session``); a round starts only when it is projected to end in time, the teacher pass
and the students stop by the same deadline, counted from the notebook's start; a round cut
short publishes the last complete round's students.

A round whose tables hold no row (nothing reached ``min_confidence``) trains no student: the
stage ends after writing its labels. Running again with the same working dir skips finished
rounds (their labels and folds).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from common.budget.clock import Deadline
from common.core.config import save_config
from common.core.gpu import check_gpu
from common.core.kaggle import write_dataset_metadata
from common.core.paths import find_competition_dir, find_dataset_dir
from common.core.runtime import resolve_workers
from common.data import competition as comp
from common.data.prep_data import load_prep
from common.report import prediction_plots
from common.report.plots import save_figure
from common.stages.infer.members import find_checkpoints, load_members
from common.stages.pseudo.budget import fit_to_session, pseudo_work, round_fits, windows_per_file
from common.stages.pseudo.cache import AudioCacher
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.gate import publish_gated
from common.stages.pseudo.labels import write_round
from common.stages.pseudo.score import resolve_device, score_files
from common.stages.pseudo.students import (
    student_config,
    students_have_labels,
    teacher_config,
    teacher_row,
)
from common.stages.pseudo.teacher_blend import blend_teacher
from common.stages.train.config import resolve_folds
from common.stages.train.layout import backbone_short_name
from common.stages.train.run import run_training

__all__ = ["PseudoResult", "run_pseudo"]

log = logging.getLogger(__name__)

SOFT_NAME = "pseudo_labels_soft.csv"


@dataclass
class PseudoResult:
    """What nb03 made; every path is inside ``output_dir``."""

    output_dir: Path
    soft_df: pd.DataFrame  # final round's pseudo_labels_soft.csv
    hard_df: pd.DataFrame  # its hard view
    class_counts_df: pd.DataFrame
    summary: dict[str, Any]  # final round's pseudo_summary.json
    rounds_df: pd.DataFrame  # teacher and students: the task's out-of-fold validation score
    subsets_df: pd.DataFrame  # name, rows
    figures: dict[str, Path]
    clips_df: pd.DataFrame | None = None  # whole-clip tasks: every scored clip (final round)


def run_pseudo(cfg: PseudoConfig) -> PseudoResult:
    """Run nb03: label, curate subsets, train students, chained over ``rounds``."""
    t0 = time.time()
    task = cfg.task_spec
    # Inputs first: a wrong input root or a missing dataset stops here, before any write.
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    prep = load_prep(find_dataset_dir(cfg.input_root, cfg.prep_slug,
                                      must_contain="train_folds.csv"))
    models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
    check_gpu("nb03")  # before any work: a GPU this torch cannot run stops here
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "pseudo_config.json")
    torch.set_num_threads(resolve_workers(cfg.predict.threads))
    device = resolve_device(cfg.device)
    classes = prep.classes
    labeller = task.pseudo_labeller(cfg, prep, competition_dir)
    audio = labeller.audio()
    log.info("nb03: %s; %d rounds; teacher on %s", labeller.describe(audio), cfg.rounds, device)
    if not audio.paths:
        log.warning("no audio to label in %s", competition_dir / audio.audio_dir)

    teacher_dir, teacher_glob = models_dir, cfg.checkpoint_glob
    teacher_cfg = (teacher_config(models_dir, cfg.task) if cfg.train_student and cfg.rounds
                   else None)
    # The budget: sized once to the session, then kept round by round; the deadline counts
    # from the notebook's start (start_stage), so a round never restarts the clock.
    deadline = Deadline.from_stage_start(cfg.session_hours)
    work, budget = None, ""
    if teacher_cfg is not None and deadline.enabled:
        work = pseudo_work(cfg, teacher_cfg, prep, len(audio.paths),
                           windows_per_file(task.clip_seconds, task.window_seconds),
                           len(find_checkpoints(models_dir, cfg.checkpoint_glob)), device)
        if cfg.fit_session:
            cfg, choice = fit_to_session(cfg, work, teacher_cfg.optim.epochs)
            budget = choice.reason
            labeller = task.pseudo_labeller(cfg, prep, competition_dir)  # with max_windows
            save_config(cfg, out / "pseudo_config.json")
    student_epochs = cfg.student_epochs or (teacher_cfg.optim.epochs if teacher_cfg else 0)
    student_windows = cfg.max_windows or (work.pool_windows if work else 0)
    stopped_early = False
    rounds_rows = [teacher_row(models_dir, labeller)]
    subsets_df = pd.DataFrame(columns=["name", "rows", "path"])
    last_student_dir: Path | None = None
    final = 1
    for r in range(1, max(1, cfg.rounds) + 1):
        if r > 1 and not round_fits(deadline, work, student_windows, student_epochs,
                                    cfg.train_student):
            stopped_early = True
            break
        final = r
        members = load_members(find_checkpoints(teacher_dir, teacher_glob), classes,
                               root=teacher_dir, window_seconds=task.window_seconds)
        soft_path = out / f"pseudo_labels_soft_r{r}.csv"
        summary_path = out / f"pseudo_summary_r{r}.json"
        if summary_path.is_file() and soft_path.is_file():
            log.info("round %d: pseudo labels already written (%s), not scored again", r,
                     soft_path)
        else:
            cacher = None
            if cfg.cache_audio:
                cacher = AudioCacher(out / "cache", members[0].frontend_cfg.sample_rate,
                                     set(prep.index_df["key"]), cfg.cache_max_gb, audio.prefix,
                                     trim_padding=labeller.trim_cache_padding)
            # The teacher pass ends by the stage's deadline too (nb04's engine stops there).
            minutes_left = max(1.0, 60 * deadline.hours_left())
            score_cfg = dataclasses.replace(cfg, predict=dataclasses.replace(
                cfg.predict,
                time_budget_minutes=min(cfg.predict.time_budget_minutes, minutes_left)))
            try:
                scored = score_files(score_cfg, members,
                                     [*audio.paths, *(audio.extra_paths if r == 1 else [])],
                                     classes, device, cacher)
            finally:
                if cacher is not None:
                    cacher.close()
            extra = {}
            if cfg.teacher.enabled:
                teacher_deadline = (time.monotonic() + 3600 * deadline.hours_left()
                                    if deadline.enabled else None)
                scored, extra["teacher"] = blend_teacher(
                    cfg, scored, audio.paths, competition_dir, classes,
                    members[0].frontend_cfg.sample_rate, out, teacher_deadline)
            write_round(labeller, r, scored, [m.name for m in members], out, extra)
            if r == 1:
                subsets_df = labeller.write_subsets(models_dir, scored, out)
        if not (cfg.train_student and cfg.rounds):
            break
        if not students_have_labels(out, r, cfg.pseudo_targets, prep.n_folds):
            log.warning("round %d: no pseudo label (nothing reached min_confidence=%g): no "
                        "student is trained", r, cfg.min_confidence)
            break
        assert teacher_cfg is not None
        round_dir = out / "rounds" / f"r{r}"
        pseudo_table = (f"pseudo_labels_soft_r{r}_fold{{fold}}.csv"
                        if cfg.pseudo_targets == "fold" else f"pseudo_labels_soft_r{r}.csv")
        init = ""
        if cfg.warm_start:
            backbone = cfg.student_backbone or teacher_cfg.model.backbone
            init = str(teacher_dir / f"{backbone_short_name(backbone)}_fold{{fold}}_best.pt")
        student_cfg = student_config(cfg, teacher_cfg, round_dir, (str(out / pseudo_table),),
                                     init)
        log.info("round %d: training students in %s (%s targets, weight %.2f, %s augmentation%s)",
                 r, round_dir, cfg.pseudo_targets, cfg.pseudo_weight,
                 "strong" if cfg.strong_augment else "teacher's",
                 ", warm start" if init else "")
        result = run_training(student_cfg)
        rounds_rows.append({"round": r, "model": f"student r{r}",
                            **labeller.round_scores(result.report),
                            "folds": ",".join(map(str, result.report.get("folds_done", []))),
                            "checkpoints_dir": str(round_dir.relative_to(out))})
        teacher_cfg, teacher_dir, teacher_glob = student_cfg, round_dir, "*_best.pt"
        if not set(resolve_folds(student_cfg, prep.n_folds)) <= set(
                result.report.get("folds_done", [])):
            # Cut by the deadline: publish the last complete round's students (if any).
            log.warning("round %d: the session limit stopped its students before every fold "
                        "was done; %s", r, f"publishing round {r - 1}'s students"
                        if last_student_dir else "publishing the folds it finished")
            last_student_dir = last_student_dir or round_dir
            stopped_early = True
            break
        last_student_dir = round_dir

    _publish_final_round(out, final, prep.n_folds)
    summary = json.loads((out / f"pseudo_summary_r{final}.json").read_text())
    (out / "pseudo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    rounds_df = pd.DataFrame(rounds_rows)
    score_key = next(iter(labeller.round_scores({})))
    gate, gains = publish_gated(cfg, out, rounds_df, last_student_dir, score_key,
                                labeller.oof_evidence)
    rounds_df.to_csv(out / "rounds_summary.csv", index=False)
    soft_df = comp.read_csv_str(out / SOFT_NAME)
    soft_df[classes] = soft_df[classes].astype(float)
    hard_df = comp.read_csv_str(out / labeller.hard_name)
    figures, counts_df, clips_df = labeller.finish(
        out, final, soft_df, comp.read_csv_str(out / "pseudo_class_counts.csv"))
    if gains:
        figures["student_gate"] = save_figure(prediction_plots.student_gate_gains(
            {f"student r{r}": g.samples for r, g in sorted(gains.items())},
            cfg.student_gate_confidence, score_key.removeprefix("oof_"),
            next(iter(gains.values())).unit, cfg.student_min_gain),
            out / "figures" / "student_gate.png")
    if (out / "subsets_summary.csv").is_file():
        subsets_df = comp.read_csv_str(out / "subsets_summary.csv")
    write_dataset_metadata(out, cfg.dataset_slug, labeller.dataset_title, cfg.kaggle_user)
    students = sorted(p.name for p in out.glob("*_student_fold*_best.pt"))
    summary = {**summary, "rounds": cfg.rounds if cfg.train_student else 0,
               "rounds_with_students": len(rounds_rows) - 1, "students": students,
               "budget": budget, "stopped_at_deadline": stopped_early,
               "max_windows": cfg.max_windows, "student_epochs": student_epochs,
               "student_gate": gate.to_dict(),
               "seconds": round(time.time() - t0, 1)}
    (out / "pseudo_report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log.info("nb03 done in %.0f s: %s", time.time() - t0,
             {k: summary.get(k) for k in labeller.summary_keys})
    return PseudoResult(out, soft_df, hard_df, counts_df, summary, rounds_df, subsets_df,
                        figures, clips_df)


def _publish_final_round(out: Path, final: int, n_folds: int) -> None:
    """The final round's tables under their published names: the soft tables (ensemble and
    per fold) and every ``r<final>_<name>`` view as ``<name>``."""
    for suffix in ("", *(f"_fold{k}" for k in range(n_folds))):
        src = out / f"pseudo_labels_soft_r{final}{suffix}.csv"
        if src.is_file():
            shutil.copyfile(src, out / f"pseudo_labels_soft{suffix}.csv")
    prefix = f"r{final}_"
    for src in sorted(out.glob(f"{prefix}*")):
        if src.is_file():
            shutil.copyfile(src, out / src.name[len(prefix):])
