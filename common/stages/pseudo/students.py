"""nb03's students: the teacher's nb02 recipe turned into a student's, and what a round leaves.

:func:`teacher_config` reads the teacher's ``train_config.json``; :func:`student_config` makes
a round's student config from it (this round's pseudo labels instead of an earlier round's, the
strong augmentation presets, the task's own changes on top); :func:`publish_students` copies
the final round's best checkpoints under the names nb04 looks for; :func:`teacher_row` is the
first row of ``rounds_summary.csv``.

Student configs are the teacher's :class:`~common.stages.train.config.TrainConfig` with a
round's changes (:func:`common.core.config.replace_dotted`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

from common.audio.augment import SpecAugmentConfig, WaveAugmentConfig
from common.core.config import (
    config_from_dict,
    replace_dotted,
    stage_class,
)
from common.data import competition as comp
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.labels import PseudoLabeller
from common.stages.train.config import TrainConfig

__all__ = ["publish_students", "student_config", "students_have_labels",
           "teacher_config", "teacher_row"]


def teacher_config(models_dir: Path, task: str) -> TrainConfig:
    """The teacher's nb02 config (``train_config.json``, as the task's config class)."""
    path = models_dir / "train_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: nb03 trains students with the teacher's "
                                "recipe; attach nb02's full output (it writes train_config.json)")
    teacher = config_from_dict(stage_class(TrainConfig, task), json.loads(path.read_text()))
    if teacher.task != task:
        raise ValueError(f"{path}: the teacher was trained for task {teacher.task!r}, but nb03 "
                         f"runs {task!r}: pass --task {teacher.task} or attach the {task} "
                         "models dataset")
    return teacher


def student_config(cfg: PseudoConfig, teacher_cfg: TrainConfig, round_dir: Path,
                   extra_windows: tuple[str, ...], init_checkpoint: str = "") -> TrainConfig:
    """The teacher's nb02 recipe, turned into this round's student.

    The task and its settings come with the teacher's config (``train_config.json``); the
    student keeps the teacher's extra windows tables except earlier rounds' pseudo labels,
    adds ``extra_windows``, keeps the epoch ``cfg.student_checkpoint`` says (by default the
    last: a warm-started student's best epoch on the gate's own validation files is often an
    early spike), the strong augmentation presets and then the task's own changes
    (:meth:`common.tasks.base.Task.student_changes`, e.g. no in-batch soundscape simulator
    for a single-label task).
    """
    # The teacher's own extra tables stay (e.g. nb02 trained with a subset); an earlier round's
    # pseudo labels are replaced by this round's, not added to them (every window twice).
    own = cfg.output_dir.resolve()
    kept = tuple(p for p in teacher_cfg.extra_windows
                 if Path(p.replace("{fold}", "0")).is_file()
                 and not (Path(p).parent.resolve() == own
                          and Path(p).name.startswith("pseudo_labels_soft")))
    changes: dict[str, Any] = {
        "input_root": cfg.input_root, "working_dir": str(round_dir),
        "dataset_slug": cfg.dataset_slug, "kaggle_user": cfg.kaggle_user,
        "extra_windows": (*kept, *extra_windows), "extra_repeats": cfg.pseudo_repeats,
        "init_checkpoint": init_checkpoint,
        "optim.checkpoint_selection": cfg.student_checkpoint,
    }
    if cfg.student_epochs > 0:
        changes["optim.epochs"] = cfg.student_epochs
    if cfg.session_hours > 0:  # nb03's session, counted from the notebook's start
        changes["session.session_hours"] = cfg.session_hours
    if cfg.student_backbone:
        changes["model.backbone"] = cfg.student_backbone
    student = replace_dotted(teacher_cfg, changes)
    if cfg.strong_augment:
        student = dataclasses.replace(student, wave_augment=WaveAugmentConfig.strong(),
                                      spec_augment=SpecAugmentConfig.strong())
    return replace_dotted(student, teacher_cfg.task_spec.student_changes())


def students_have_labels(out: Path, r: int, mode: str, n_folds: int) -> bool:
    """True when a table the students of round ``r`` read (``mode``: the per-fold ones, or
    the ensemble's) has a row. No per-fold table at all (teachers without a fold in their
    names) is left to nb02 to report."""
    if mode == "fold":
        paths = [p for p in (out / f"pseudo_labels_soft_r{r}_fold{k}.csv" for k in range(n_folds))
                 if p.is_file()]
        if not paths:
            return True
    else:
        paths = [out / f"pseudo_labels_soft_r{r}.csv"]
    return any(len(comp.read_csv_str(p)) for p in paths)


def teacher_row(models_dir: Path, labeller: PseudoLabeller) -> dict[str, Any]:
    """Round 0 of ``rounds_summary.csv``: the nb02 teacher's validation scores; its
    ``checkpoints_dir`` is absolute (students' are relative to the stage's output)."""
    report_path = models_dir / "train_report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return {"round": 0, "model": "teacher (nb02)", **labeller.round_scores(report),
            "folds": ",".join(map(str, report.get("folds_done", []))),
            "checkpoints_dir": str(models_dir.absolute())}


def publish_students(out: Path, student_dir: Path | None) -> None:
    """Copy the final round's best checkpoints to ``<backbone>_student_fold<k>_best.pt``."""
    for old in out.glob("*_student_fold*_best.pt"):
        old.unlink()
    if student_dir is None:
        return
    for path in sorted(student_dir.glob("*_fold*_best.pt")):
        name = re.sub(r"_fold(\d+)_best\.pt$", r"_student_fold\1_best.pt", path.name)
        shutil.copyfile(path, out / name)
