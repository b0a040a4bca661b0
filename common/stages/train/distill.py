"""nb02's distillation term: soundscape windows also learn the pretrained teacher's opinion.

The 2025 winner distilled Perch into its backbones. With ``distill.teacher`` set, the teacher
scores the labelled soundscapes once before the folds start (:func:`prepare_distill`, cached in
``<working_dir>/teacher/``, :mod:`common.stages.teacher_table`), and every training row with a
teacher value (soundscape windows and extra windows of the same files, matched by ``row_id``)
trains on ``(1 - w) y + w t`` in the species the teacher knows
(:func:`common.teachers.blend.distill_targets`): with BCE exactly the loss
``(1 - w) L(y) + w L(t)``. Held-out windows are never touched: validation scores the labels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.core.paths import find_competition_dir
from common.data import competition as comp
from common.data.prep_data import PrepData
from common.data.windows import SOUNDSCAPE_PREFIX, WindowItems
from common.stages.teacher_table import coverage_summary, teacher_table
from common.teachers.blend import align_teacher, distill_targets

if TYPE_CHECKING:
    from common.stages.train.config import TrainConfig

__all__ = ["apply_distill", "prepare_distill", "teacher_table_path"]

log = logging.getLogger(__name__)


def teacher_table_path(cfg: TrainConfig) -> Path:
    """Where :func:`prepare_distill` caches the teacher's soundscape table."""
    return cfg.output_dir / "teacher" / f"{cfg.distill.teacher}_windows.csv"


def prepare_distill(cfg: TrainConfig, prep: PrepData) -> dict[str, Any]:
    """Score the labelled soundscapes with the teacher (once; cached) and return the report's
    entry: teacher, weight, coverage, windows scored. Call before the folds start, so that
    parallel fold processes only read the table."""
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    names = sorted(set(prep.soundscape_df["filename"].astype(str)))
    paths = [competition_dir / SOUNDSCAPE_PREFIX / name for name in names]
    table = teacher_table(cfg.distill, paths, competition_dir, prep.classes, cfg.output_dir,
                          cfg.frontend.sample_rate)
    info = {**coverage_summary(cfg.distill, table.mapping_df),
            "n_windows_scored": int(len(table.table_df)), "n_failed_files": len(table.failed)}
    log.info("distillation toward %s at weight %.2f: %d soundscape windows scored, %d of %d "
             "species known", cfg.distill.teacher, cfg.distill.teacher_weight,
             info["n_windows_scored"], info["n_species_covered"], info["n_species"])
    return info


def apply_distill(cfg: TrainConfig, items: WindowItems, classes: list[str]) -> WindowItems:
    """``items`` with the distillation term folded into the targets of every row the cached
    teacher table holds (see module doc); other rows unchanged."""
    path = teacher_table_path(cfg)
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run_training scores the teacher before the "
                                "folds (prepare_distill)")
    table_df = comp.read_csv_str(path)
    windows = (items.table_df["crop"] == "window").to_numpy()
    teacher = align_teacher(table_df, items.table_df["row_id"].astype(str), classes)
    teacher[~windows] = np.nan  # a clip crop has no window of its own to match
    targets = distill_targets(items.targets, items.mask, teacher, cfg.distill.teacher_weight)
    n = int((~np.isnan(teacher).all(axis=1)).sum())
    log.info("distillation: %d of %d training rows get the teacher's targets", n, len(items))
    return WindowItems(items.table_df, targets, items.mask)
