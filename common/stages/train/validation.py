"""nb02, validation of one fold: what is predicted, how it is scored, what picks the best epoch.

The task picks the validation of a fold (:meth:`common.tasks.base.Task.make_validation`) from
two kinds built here:

- :class:`WindowValidation`, for tasks scored per 5-s window (BirdCLEF): every window of the
  fold's held-out labelled soundscapes, scored with the competition metric
  (:func:`soundscape_auc`: macro ROC-AUC by column name over the species with a positive), the
  number that predicts the leaderboard and the one that picks the best epoch; plus the fold's
  held-out focal clips (energy crop without jitter) scored by macro AUC over their primary
  labels (:func:`focal_auc`), reported, and the selection score only when the fold has no
  soundscape window with a call. Out-of-fold files: ``oof_soundscapes.csv`` and
  ``oof_focal.csv`` (``row_id, key, start_seconds, <species...>, fold``).
- :class:`ClipValidation`, for tasks scored once per clip: every 5-s window of the fold's
  held-out clips, the window probabilities pooled per clip (mean,
  :func:`common.data.windows.pool_clip_probs`, as nb04 pools the test files) and scored by the
  task's clip scorer (``val_<task.metric>``, which picks the best epoch, then any other score).
  Out-of-fold file: ``oof_clips.csv`` (``key, fold, <class...>``).

:func:`common.stages.train.fold.train_fold` calls ``evaluate`` after every epoch and
``write_oof`` whenever the epoch is the best so far; ``n_scored`` (rows behind the selection
score) decides ``checkpoint_selection=auto`` (:func:`common.stages.train.config.checkpoint_rule`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from common.core.metrics import macro_auc_array, macro_roc_auc
from common.data.loaders import AudioSource, WindowDataset, make_loader
from common.data.windows import WindowItems, pool_clip_probs
from common.model.sed import BirdModel
from common.tasks.base import Task

log = logging.getLogger(__name__)

__all__ = ["Validation", "WindowValidation", "ClipValidation", "ClipScorer", "make_validation",
           "predict", "soundscape_auc", "focal_auc", "format_scores", "SCORE_LABELS"]

# How the per-epoch log line and the learning-curve legends name each validation score.
SCORE_LABELS = {"val_soundscape_auc": "val soundscape AUC", "val_focal_auc": "focal AUC",
                "val_macro_f1": "val macro F1", "val_accuracy": "accuracy"}


# ---------------------------------------------------------------------------------------------
# Predictions and scores.


@torch.no_grad()
def predict(model: BirdModel, loader, device: torch.device, amp: bool,
            task: Task) -> np.ndarray:
    """Probabilities ``(rows, classes)`` for a loader, in the loader's order: the task's
    activation of the clip logits (:func:`common.tasks.base.activation`: sigmoid or softmax)."""
    model.eval()
    out = []
    for batch in loader:
        wave = batch["wave"].to(device, non_blocking=True).float()
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = model(wave)["clip_logits"]
        out.append(task.activation(logits.float()).cpu().numpy())
    n_classes = model.head.num_classes
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)


def soundscape_auc(items: WindowItems, probs: np.ndarray, classes: list[str]) -> float:
    """Competition metric on soundscape windows (NaN when no class has a positive).

    Scored as Kaggle does, by column name over classes with a positive; a class positive in
    every window (possible on a small fold) cannot be scored and is skipped.
    """
    y = items.targets >= 0.5
    if not len(items) or not y.any():
        return float("nan")
    solution = pd.DataFrame(y.astype(float), columns=classes)
    solution.insert(0, "row_id", items.table_df["row_id"].to_numpy())
    submission = pd.DataFrame(probs, columns=classes)
    submission.insert(0, "row_id", items.table_df["row_id"].to_numpy())
    try:
        return macro_roc_auc(solution, submission)
    except ValueError:
        return float(macro_auc_array(y.astype(float), probs))


def focal_auc(items: WindowItems, probs: np.ndarray) -> float:
    """Macro AUC over primary labels of held-out focal clips (NaN when nothing is scorable)."""
    y = (items.targets >= 1.0).astype(float)
    if len(items) < 2 or not y.any():
        return float("nan")
    scorable = (y.sum(0) > 0) & (y.sum(0) < len(y))
    if not scorable.any():
        return float("nan")
    return float(macro_auc_array(y, probs))


def format_scores(scores: dict[str, float]) -> str:
    """``{"val_macro_f1": 0.5}`` -> ``"val macro F1 0.5000"`` (names from :data:`SCORE_LABELS`),
    two spaces between scores: the per-epoch log line."""
    return "  ".join(f"{SCORE_LABELS.get(k, k)} {v:.4f}" for k, v in scores.items())


def _write_oof(path: Path, items: WindowItems, probs: np.ndarray, classes: list[str],
               fold: int) -> None:
    """Probabilities per row: ``row_id, key, start_seconds, <species...>, fold``."""
    table = items.table_df
    df = pd.DataFrame(probs, columns=classes)
    df.insert(0, "row_id", table["row_id"].to_numpy())
    df.insert(1, "key", table["key"].to_numpy())
    df.insert(2, "start_seconds", table["start_seconds"].to_numpy())
    df["fold"] = fold
    df.to_csv(path, index=False)


# ---------------------------------------------------------------------------------------------
# Validation of one fold, per task.


# ``(clip keys, targets (clips, classes), pooled probabilities (clips, classes))`` -> scores
ClipScorer = Callable[[Sequence[str], np.ndarray, np.ndarray], dict[str, float]]


class Validation(Protocol):
    """What :func:`common.stages.train.fold.train_fold` needs of a fold's validation."""

    selection: str  # the score that picks the best epoch, e.g. "val_soundscape_auc"
    score_names: tuple[str, ...]  # every score evaluate() returns, in log order

    @property
    def n_scored(self) -> int:
        """Rows (windows or clips) behind the selection score: enough to choose an epoch by?"""
        ...

    def describe(self) -> str:
        """What is validated on, for the fold's first log line."""
        ...

    def warn_if_unscorable(self) -> None:
        """Log a warning when the selection score cannot be computed on this fold."""
        ...

    def evaluate(self, model: BirdModel, device: torch.device, amp: bool,
                 workers: int) -> dict[str, float]:
        """Predict every validation row and score; keeps the probabilities for write_oof."""
        ...

    def write_oof(self, fold_dir: Path) -> None:
        """Write the last evaluate()'s out-of-fold probabilities into ``fold_dir``."""
        ...

    def counts(self) -> dict[str, int]:
        """Validation sizes for the fold summary (``n_val_...``)."""
        ...


class WindowValidation:
    """Multi-label tasks scored per 5-s window: the fold's held-out soundscape windows (the
    competition metric) and held-out focal clips (energy crop); see the module docstring.

    Args:
        soundscapes: every window of the held-out labelled soundscapes.
        focal: the held-out focal clips.
        source: where their audio is read.
        clip_samples: samples per window (``FrontendConfig.clip_samples``).
        batch_size: validation batch size.
    """

    def __init__(self, soundscapes: WindowItems, focal: WindowItems, source: AudioSource, *,
                 clip_samples: int, batch_size: int, task: Task, fold: int,
                 classes: list[str]) -> None:
        self.soundscapes, self.focal = soundscapes, focal
        self.batch_size, self.task, self.fold, self.classes = batch_size, task, fold, classes
        self.sc_ds = WindowDataset(soundscapes, source, clip_samples, train=False)
        self.focal_ds = WindowDataset(focal, source, clip_samples, train=False)
        self.n_sc_scored = int((soundscapes.targets >= 0.5).any(axis=0).sum())
        self.selection = "val_soundscape_auc" if self.n_sc_scored else "val_focal_auc"
        self.score_names = ("val_soundscape_auc", "val_focal_auc")
        self._probs: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_scored(self) -> int:
        return len(self.soundscapes) if self.n_sc_scored else len(self.focal)

    def describe(self) -> str:
        return (f"{len(self.soundscapes)} soundscape windows ({self.n_sc_scored} "
                f"species), {len(self.focal)} focal clips")

    def warn_if_unscorable(self) -> None:
        if not self.n_sc_scored:
            log.warning("fold %d has no soundscape validation windows with a call: the best "
                        "epoch is chosen by the focal-clip AUC instead", self.fold)

    def evaluate(self, model: BirdModel, device: torch.device, amp: bool,
                 workers: int) -> dict[str, float]:
        bs, task = self.batch_size, self.task
        sc_probs = predict(model, make_loader(self.sc_ds, bs, shuffle=False, workers=workers),
                           device, amp, task)
        focal_probs = predict(model, make_loader(self.focal_ds, bs, shuffle=False,
                                                 workers=workers), device, amp, task)
        self._probs = (sc_probs, focal_probs)
        return {"val_soundscape_auc": soundscape_auc(self.soundscapes, sc_probs, self.classes),
                "val_focal_auc": focal_auc(self.focal, focal_probs)}

    def write_oof(self, fold_dir: Path) -> None:
        assert self._probs is not None
        _write_oof(fold_dir / "oof_soundscapes.csv", self.soundscapes, self._probs[0],
                   self.classes, self.fold)
        _write_oof(fold_dir / "oof_focal.csv", self.focal, self._probs[1], self.classes,
                   self.fold)

    def counts(self) -> dict[str, int]:
        return {"n_val_soundscape_windows": len(self.soundscapes),
                "n_val_focal_clips": len(self.focal)}


class ClipValidation:
    """Tasks scored once per clip: every 5-s window of the fold's held-out clips,
    probabilities pooled per clip (mean) and scored by ``score``, whose first score (named
    ``score_names[0]``) selects the epoch.

    Args:
        clips: every window of the held-out clips (:func:`common.data.windows.clip_window_items`;
            ``key`` names the clip).
        score: the task's clip scorer (:data:`ClipScorer`), returning ``score_names``.
        score_names: the scores ``score`` returns, the selection first.
        source, clip_samples, batch_size: as :class:`WindowValidation`'s.
    """

    def __init__(self, clips: WindowItems, source: AudioSource, *, score: ClipScorer,
                 score_names: tuple[str, ...], clip_samples: int, batch_size: int, task: Task,
                 fold: int, classes: list[str]) -> None:
        self.batch_size, self.task, self.fold, self.classes = batch_size, task, fold, classes
        self.items = clips
        self.ds = WindowDataset(self.items, source, clip_samples, train=False)
        self.score, self.score_names = score, tuple(score_names)
        self.selection = self.score_names[0]
        self._pooled: tuple[list[str], np.ndarray] | None = None
        first = ~self.items.table_df["key"].duplicated().to_numpy()
        self._clip_targets = self.items.targets[first]  # (clips, classes), one row per key

    @property
    def n_clips(self) -> int:
        return len(self._clip_targets)

    @property
    def n_scored(self) -> int:
        return self.n_clips

    def describe(self) -> str:
        return f"{self.n_clips} clips ({len(self.items)} windows)"

    def warn_if_unscorable(self) -> None:
        if not self.n_clips:
            log.warning("fold %d has no held-out clips: every epoch counts as the best", self.fold)

    def evaluate(self, model: BirdModel, device: torch.device, amp: bool,
                 workers: int) -> dict[str, float]:
        probs = predict(model, make_loader(self.ds, self.batch_size, shuffle=False,
                                           workers=workers), device, amp, self.task)
        keys, pooled = pool_clip_probs(self.items.table_df["key"], probs)
        self._pooled = (keys, pooled)
        return self.score(keys, self._clip_targets, pooled)

    def write_oof(self, fold_dir: Path) -> None:
        assert self._pooled is not None
        keys, pooled = self._pooled
        df = pd.DataFrame(pooled, columns=pd.Index(self.classes, dtype=object))
        df.insert(0, "key", keys)
        df.insert(1, "fold", self.fold)
        df.to_csv(fold_dir / "oof_clips.csv", index=False)

    def counts(self) -> dict[str, int]:
        return {"n_val_clips": self.n_clips, "n_val_windows": len(self.items)}


def make_validation(task: Task, source: AudioSource, *, soundscapes: WindowItems,
                    focal: WindowItems, clips: WindowItems | None, clip_samples: int,
                    batch_size: int, fold: int, classes: list[str]) -> Validation:
    """The task's validation of one fold (:meth:`common.tasks.base.Task.make_validation`):
    :class:`WindowValidation` on ``soundscapes`` and ``focal`` for tasks scored per window,
    :class:`ClipValidation` on ``clips`` for tasks scored per clip (``clips`` must then be
    given)."""
    return task.make_validation(source, soundscapes=soundscapes, focal=focal, clips=clips,
                                clip_samples=clip_samples, batch_size=batch_size, fold=fold,
                                classes=classes)
