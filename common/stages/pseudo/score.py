"""One teacher pass of nb03: nb04's engine over the unlabelled audio, per ensemble and per fold.

:func:`score_files` runs :func:`common.stages.infer.predictor.predict_files` with the stage's
nested :class:`~common.stages.infer.config.PredictConfig` (on a GPU: eager graphs, contiguous
memory) and combines the members twice: all of them, and each CV fold's alone
(:func:`member_folds` reads the fold from the checkpoint name), so student k can learn from
teacher k only. The result is a :class:`Scored`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from common.stages.infer.config import PredictConfig
from common.stages.infer.decode import DecodedFile
from common.stages.infer.ensemble import combine_models
from common.stages.infer.members import Member
from common.stages.infer.predictor import predict_files
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.tables import window_frame

__all__ = ["Scored", "member_folds", "resolve_device", "score_files", "teacher_predict_config"]


@dataclass
class Scored:
    """The teacher's probabilities for every window of the scored files."""

    windows_df: pd.DataFrame  # filename, start, end, row_id per window
    probs: np.ndarray  # ensemble (windows, classes); NaN where no member reached the window
    fold_probs: dict[int, np.ndarray]  # per teacher fold, (windows, classes)
    failed: list[str]  # decoding errors, one line per file
    paths: list[Path]  # scored files, in order
    file_ids: np.ndarray  # (windows,) index into paths


def member_folds(members: list[Member]) -> list[int]:
    """The CV fold of each member from its checkpoint name (``..._fold<k>_...``), -1 if none."""
    out = []
    for m in members:
        found = re.findall(r"fold(\d+)", Path(m.name).name)
        out.append(int(found[-1]) if found else -1)
    return out


def resolve_device(name: str) -> torch.device:
    """``auto`` (the GPU when there is one), ``cuda`` or ``cpu``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def teacher_predict_config(cfg: PseudoConfig, device: torch.device) -> PredictConfig:
    """The stage's engine settings for ``device``: on a GPU, eager graphs in contiguous memory
    (jit tracing and channels-last are CPU speed-ups)."""
    if device.type == "cpu":
        return cfg.predict
    return dataclasses.replace(cfg.predict, graph="eager", channels_last=False)


def score_files(cfg: PseudoConfig, members: list[Member], paths: list[Path], classes: list[str],
                device: torch.device,
                on_decoded: Callable[[DecodedFile], None] | None = None) -> Scored:
    """The teacher's ensemble and per-fold probabilities for every window of ``paths``.

    ``on_decoded``: called with each decoded file (nb03 caches the audio this way).
    """
    task = cfg.task_spec
    predict = teacher_predict_config(cfg, device)
    predictions, probs = predict_files(members, paths, predict, classes, task, device=device,
                                       on_decoded=on_decoded)
    folds = member_folds(members)
    fold_probs = {}
    for k in sorted({f for f in folds if f >= 0}):
        idx = [i for i, f in enumerate(folds) if f == k]
        fold_probs[k] = combine_models([predictions.scores[i] for i in idx],
                                       [predictions.covered[i] for i in idx],
                                       [members[i].weight for i in idx], predict.combine, task)
    return Scored(window_frame(predictions), probs, fold_probs, list(predictions.failed_files),
                  list(predictions.paths), predictions.file_ids)
