"""nb03's teacher switch: a pretrained classifier's opinion blended into the soft pseudo labels.

With ``teacher.teacher`` set (``birdnet``, ``perch``), the teacher scores every window of the
files being labelled once (cached: :mod:`common.stages.teacher_table`), and each round's
ensemble and per-fold probabilities become ``(1 - w) p + w t`` on the species the teacher knows
(:func:`common.teachers.blend.blend_linear`); the other species, and windows the teacher did not
reach, keep our ensemble's probabilities. The 2025 second place used Perch this way.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.score import Scored
from common.stages.teacher_table import coverage_summary, teacher_table
from common.teachers.blend import align_teacher, blend_linear

__all__ = ["blend_teacher"]

log = logging.getLogger(__name__)


def blend_teacher(cfg: PseudoConfig, scored: Scored, paths: list[Path], competition_dir: Path,
                  classes: list[str], sample_rate: int, out: Path,
                  deadline: float | None = None) -> tuple[Scored, dict[str, Any]]:
    """``scored`` with the teacher blended in, and the report's teacher entry.

    Args:
        paths: the files being pseudo-labelled (the teacher scores only these).
        sample_rate: Hz our models decode at.
        deadline: ``time.monotonic()`` instant after which the teacher scores no new file.
    """
    teacher_cfg = cfg.teacher
    table = teacher_table(teacher_cfg, paths, competition_dir, classes, out, sample_rate,
                          deadline)
    teacher = align_teacher(table.table_df, scored.windows_df["row_id"].astype(str), classes)
    weight = teacher_cfg.teacher_weight
    blended = dataclasses.replace(
        scored, probs=blend_linear(scored.probs, teacher, weight),
        fold_probs={k: blend_linear(p, teacher, weight) for k, p in scored.fold_probs.items()})
    reached = ~np.isnan(teacher).all(axis=1)
    labelled = scored.windows_df["filename"].isin({p.name for p in paths}).to_numpy()
    info = {**coverage_summary(teacher_cfg, table.mapping_df),
            "n_windows_blended": int(reached.sum()), "n_windows": int(labelled.sum()),
            "table": str(table.path.relative_to(out)), "n_failed_files": len(table.failed)}
    if table.windows_per_second:
        info["windows_per_second"] = round(table.windows_per_second, 2)
    log.info("%s teacher blended at weight %.2f into %d of %d windows, %d of %d species",
             teacher_cfg.teacher, weight, info["n_windows_blended"], info["n_windows"],
             info["n_species_covered"], info["n_species"])
    return blended, info
