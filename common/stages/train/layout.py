"""Where nb02's files go: checkpoint, per-fold and resume paths, all named after the backbone.

A models dir may hold several backbones' runs side by side (nb04 ensembles them), so every
file of a run carries ``<backbone-short>`` (the timm name without its pretrained tag).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from common.stages.train.config import TrainConfig

__all__ = ["backbone_short_name", "checkpoint_path", "fold_dir", "resume_path",
           "extra_windows_path", "json_default"]


def backbone_short_name(backbone: str) -> str:
    """timm name without its pretrained tag.

    ``tf_efficientnet_b0.ns_jft_in1k`` -> ``tf_efficientnet_b0``.
    """
    return backbone.split(".")[0].replace("/", "_")


def checkpoint_path(cfg: TrainConfig, fold: int, which: str) -> Path:
    """``<working_dir>/<backbone-short>_fold<k>_<which>.pt`` (``which``: best or last)."""
    return cfg.output_dir / f"{backbone_short_name(cfg.model.backbone)}_fold{fold}_{which}.pt"


def fold_dir(cfg: TrainConfig, fold: int) -> Path:
    """``<working_dir>/folds/<backbone-short>_fold<k>/``: one fold's history, OOF and
    ``done.json``, merged into the run's tables by :mod:`common.stages.train.summary`."""
    return cfg.output_dir / "folds" / f"{backbone_short_name(cfg.model.backbone)}_fold{fold}"


def resume_path(cfg: TrainConfig, fold: int) -> Path:
    """``<working_dir>/resume/<backbone-short>_fold<k>.pt``: the fold's resume state."""
    return cfg.output_dir / "resume" / f"{backbone_short_name(cfg.model.backbone)}_fold{fold}.pt"


def extra_windows_path(path: str, fold: int) -> Path:
    """An ``extra_windows`` (or ``init_checkpoint``) entry for one fold: ``{fold}`` in it
    becomes the fold id (nb03's per-fold pseudo labels: the student of fold k learns only from
    the teacher of fold k)."""
    return Path(str(path).replace("{fold}", str(fold)))


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars in summaries and reports."""
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
