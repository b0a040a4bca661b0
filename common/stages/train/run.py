"""nb02, training: K-fold SED models on focal clips plus labelled soundscape windows.

The task (``cfg.task_spec``, :mod:`common.tasks.base`) decides what is validated and how
(:mod:`common.stages.train.validation`); BirdCLEF (multi-label, scored per 5-s window) first:

For every requested fold k the model trains on focal clips and labelled soundscape windows of
the other folds (plus nb01's always-train rare species and any extra windows tables), and is
validated each epoch on

- the fold's held-out labelled soundscapes, every 5-s window, with the competition metric
  (:func:`common.core.metrics.macro_roc_auc` by column name): the number that predicts the
  leaderboard, and the one that picks the best epoch;
- the fold's held-out focal clips (energy crop without jitter), macro AUC over primary labels:
  reported, and used for model selection only when the fold has no soundscape windows.

Outputs in the working dir (published as the ``models`` dataset):

- ``<backbone-short>_fold<k>_best.pt`` / ``_last.pt``: self-describing checkpoints
  (:func:`common.model.checkpoint.save_checkpoint`; ``meta["classes"]`` = submission columns);
- ``training_log.csv`` (fold, epoch, lr, train loss, val AUCs, seconds), ``fold_summary.csv``,
  ``oof_soundscapes.csv`` / ``oof_focal.csv`` (best-epoch probabilities + fold),
  ``per_class_auc.csv``, ``figures/*.png``, ``train_config.json``, ``train_report.json``,
  ``dataset-metadata.json``;
- ``folds/<short>_fold<k>/``: per-fold history and OOF files, merged into the above;
- ``resume/<short>_fold<k>.pt``: the resume state, written atomically after every epoch and
  deleted once the fold is done (``keep_resume_state``). A stopped session (Kaggle's 12 h) run
  again with the same working dir continues where it stopped; ``--folds`` splits a run across
  sessions.

Whole-clip tasks (the mashup genres: single-label, one answer per 30-s clip) train on random
5-s crops of their training clips (softmax, cross-entropy) and validate each epoch on every 5-s
window of the fold's held-out clips, the window probabilities pooled per clip (mean) and scored
with the task metric (``val_macro_f1``, which picks the best epoch; ``val_accuracy`` is
reported). Their outputs replace the soundscape files by ``oof_clips.csv`` (key, fold, one
probability per class), ``per_class_f1.csv``, ``model_scores.csv``, confusion matrices and, with
``feature_baseline``, the feature models and the OOF blend of :mod:`common.tasks.mashup.baselines`
(``features.csv``, ``oof_<model>.csv``, ``blend.json``).

Several GPUs: folds train in parallel, one process per GPU (``parallel_processes``), each
pinned with ``CUDA_VISIBLE_DEVICES``. Folds are independent, so this needs no gradient sync
and scales linearly with GPUs whenever there are at least as many folds as GPUs; with one GPU,
or on CPU, it is a plain loop. DDP would only help a single fold, at the cost of a sync per
step over Kaggle's PCIe-only T4 pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from timm.utils import ModelEmaV3
from tqdm.auto import tqdm

from common.audio.augment import SpecAugment, SpecAugmentConfig, WaveAugment, WaveAugmentConfig
from common.core.config import StageConfig, config_from_dict, config_to_dict, param, save_config
from common.core.kaggle import write_dataset_metadata
from common.core.metrics import per_class_auc
from common.core.paths import find_competition_dir, find_dataset_dir
from common.core.runtime import resolve_workers, seed_everything
from common.data.loaders import AudioSource, WindowDataset, loader_workers, make_loader
from common.data.prep_data import PrepData, load_prep
from common.data.windows import (
    WindowItems,
    background_windows,
    clip_window_items,
    focal_items,
    read_extra_windows,
    soundscape_eval_items,
    soundscape_items,
)
from common.model.checkpoint import load_checkpoint, save_checkpoint
from common.model.frontend import FrontendConfig
from common.model.losses import build_loss
from common.model.sed import BirdModel, ModelConfig, build_model, param_groups_lrd
from common.report import training_plots as plots
from common.report.plots import save_figure
from common.stages.train.validation import (
    SCORE_LABELS,
    format_scores,
    make_validation,
    soundscape_auc,
)
from common.tasks.mashup import baselines

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "run_training", "train_fold", "summarize_run",
           "backbone_short_name", "checkpoint_path", "resolve_folds", "class_balance_weights",
           "extra_windows_path", "check_config"]

# Fields that may differ between the session that wrote a resume state and the one resuming.
_RESUME_FREE = {"preset", "input_root", "working_dir", "folds", "workers", "parallel_processes",
                "session_epochs", "session_hours", "kaggle_user", "keep_resume_state",
                "feature_baseline", "feature_models", "feature_workers"}


@dataclass(frozen=True)
class TrainConfig(StageConfig):
    """nb02 parameters; defaults are the Kaggle recipe (T4/P100, fp16 AMP)."""

    prep_slug: str = param("birdclef-2026-prep", "slug of nb01's output dataset")
    dataset_slug: str = param("birdclef-2026-models", "slug this stage's output is published as")
    kaggle_user: str = param("", "Kaggle user for dataset-metadata.json ('' = kaggle CLI config)")
    folds: tuple[int, ...] = param((), "folds to train, e.g. 0,1 (empty = every fold of nb01)")
    epochs: int = param(30, "training epochs per fold")
    batch_size: int = param(64, "training batch size")
    eval_batch_size: int = param(128, "validation batch size")
    lr: float = param(1e-3, "peak learning rate of the head (backbone stages get less, LLRD)")
    layer_decay: float = param(0.75, "LR factor per backbone stage going down from the head")
    weight_decay: float = param(1e-2, "AdamW weight decay (not on norms, biases, GeM p)")
    warmup_epochs: float = param(1.0, "linear warm-up length, epochs")
    min_lr_ratio: float = param(0.01, "cosine schedule floor as a fraction of the peak LR")
    grad_clip_norm: float = param(5.0, "clip the gradient norm to this (0 = off)")
    amp: bool = param(True, "fp16 autocast + GradScaler on CUDA (ignored on CPU)")
    ema: bool = param(True, "keep an EMA of the weights; checkpoints and validation use it")
    ema_decay: float = param(0.999, "EMA decay (warmed up from 0 over the first steps)")
    seed: int = param(42, "seed of init, data order, crops and augmentation")
    workers: int = param(-1, "DataLoader workers per process (-1 = from the CPU count)")
    max_steps_per_epoch: int = param(0, "cap on steps per epoch (0 = full epoch); for smoke runs")
    loss: str = param("asl", "loss: asl (asymmetric), bce or focal for multi-label tasks, "
                      "cross_entropy for single-label ones ('' = the task's default)")
    asl_gamma_neg: float = param(4.0, "ASL focusing on negatives")
    asl_gamma_pos: float = param(0.0, "ASL focusing on positives")
    asl_clip: float = param(0.05, "ASL probability margin for negatives")
    focal_gamma: float = param(2.0, "focal loss gamma")
    label_smoothing: float = param(
        0.0, "cross_entropy label smoothing eps (target (1-eps) y + eps/classes); multi-label "
        "tasks smooth with wave_augment.label_smoothing instead")
    secondary_mode: str = param("soft", "secondary labels: soft (target value) or mask (no loss)")
    secondary_value: float = param(0.5, "target of a secondary label in soft mode")
    use_soundscapes: bool = param(True, "train on labelled soundscape windows of other folds")
    soundscape_weight: float = param(1.0, "loss weight of a soundscape window vs a focal clip")
    soundscape_repeats: int = param(1, "times each soundscape window appears per epoch")
    crop_mode: str = param("energy", "focal-clip crop for training: energy, random or start")
    background_mixing: bool = param(True, "give the augmenter real no-call soundscape windows")
    extra_windows: tuple[str, ...] = param(
        (), "extra windows tables (CSV paths, e.g. nb03 pseudo labels or named subsets; "
        "'{fold}' in a path is replaced by the fold id); see common.data.windows")
    extra_repeats: int = param(1, "times each extra windows row appears per epoch (oversampling)")
    min_rating: float = param(
        0.0, "focal clips rated below this are not trained on (still validated; 0 = keep all)")
    class_balance: bool = param(
        False, "sample rows with probability ~ 1/sqrt(rows of their class) instead of uniformly")
    init_checkpoint: str = param(
        "", "warm start: checkpoint whose weights initialise each fold ('{fold}' = fold id)")
    parallel_processes: int = param(
        0, "training processes, one fold each (0 = one per GPU when >1 GPU, else 1)")
    session_epochs: int = param(0, "stop after this many epochs in this session (0 = no cap)")
    session_hours: float = param(
        11.5, "do not start an epoch that would end past this many hours (Kaggle: 12 h)")
    keep_resume_state: bool = param(False, "keep resume/ states after a fold is done")
    checkpoint_selection: str = param(
        "best", "epoch saved as *_best.pt: 'best' (highest validation score) or 'last' (when the "
        "validation set is too small to choose by, e.g. the demo's 24 windows per fold)")
    feature_baseline: bool = param(
        True, "single-label tasks: also fit the feature models on the same folds and blend them "
        "with the CNN on OOF predictions (common.tasks.mashup.baselines)")
    feature_models: tuple[str, ...] = param(
        ("logreg", "extra_trees"),
        "feature models of the baseline (keys of common.tasks.mashup.features.MODEL_BUILDERS)")
    feature_workers: int = param(
        -1, "processes computing the baseline's clip features (-1 = every CPU, 1 = in process)")
    frontend: FrontendConfig = param(FrontendConfig(), "waveform -> spectrogram settings")
    model: ModelConfig = param(ModelConfig(), "backbone and head settings")
    wave_augment: WaveAugmentConfig = param(WaveAugmentConfig(), "waveform augmentation")
    spec_augment: SpecAugmentConfig = param(SpecAugmentConfig(), "SpecAugment masks")

    STAGE: ClassVar[str] = "train"  # names its dataset and the task defaults it takes
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # A small real model that learns the demo competition from scratch on a 2-core CPU in
        # ~10 minutes (mobilenetv3_small: ~6x cheaper per step than efficientnet_b0 on CPU).
        "cpu": {
            "folds": (0,), "epochs": 20, "batch_size": 32, "eval_batch_size": 64, "lr": 3e-3,
            "layer_decay": 1.0, "warmup_epochs": 0.5, "ema_decay": 0.99, "amp": False,
            "workers": 1, "soundscape_repeats": 2, "session_hours": 0.0,
            # 2 soundscapes (24 windows) per demo fold: picking the epoch by them is noise.
            "checkpoint_selection": "last",
            "model.backbone": "mobilenetv3_small_100", "model.drop_path_rate": 0.0,
            "model.head_hidden": 128, "frontend.n_mels": 64, "frontend.n_fft": 1024,
            "frontend.hop_length": 640,
        },
        # Seconds, for tests: two folds of a few steps with timm's test model.
        "smoke": {
            "folds": (0, 1), "epochs": 1, "batch_size": 8, "eval_batch_size": 16,
            "max_steps_per_epoch": 3, "amp": False, "workers": 0, "session_hours": 0.0,
            "model.backbone": "test_efficientnet", "model.drop_path_rate": 0.0,
            "model.head_hidden": 32, "frontend.n_mels": 32, "frontend.n_fft": 512,
            "frontend.hop_length": 640, "feature_workers": 1,
        },
    }




@dataclass
class TrainResult:
    """What nb02 made; every path is inside ``output_dir``."""

    output_dir: Path
    log_df: pd.DataFrame  # one row per fold and epoch
    fold_summary_df: pd.DataFrame  # one row per fold: best epoch, scores, checkpoint names
    # OOF probabilities: soundscape windows (row_id, key, start_seconds, species..., fold), or
    # for whole-clip tasks one row per clip (key, fold, classes...)
    oof_df: pd.DataFrame
    # per class: soundscape and focal AUC, or for whole-clip tasks F1 of every model
    per_class_df: pd.DataFrame
    report: dict[str, Any]
    figures: dict[str, Path]
    # whole-clip tasks: one row per model (cnn, feature models, blend) with its OOF scores
    model_scores_df: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def weakest_classes_df(self) -> pd.DataFrame:
        """``per_class_df`` sorted by the score that matters (soundscape AUC or CNN F1), worst
        first."""
        column = next((c for c in ("oof_soundscape_auc", "f1_cnn") if c in self.per_class_df),
                      None)
        return self.per_class_df.sort_values(column) if column else self.per_class_df


# ---------------------------------------------------------------------------------------------
# Names and folds.


def backbone_short_name(backbone: str) -> str:
    """timm name without its pretrained tag.

    ``tf_efficientnet_b0.ns_jft_in1k`` -> ``tf_efficientnet_b0``.
    """
    return backbone.split(".")[0].replace("/", "_")


def checkpoint_path(cfg: TrainConfig, fold: int, which: str) -> Path:
    """``<working_dir>/<backbone-short>_fold<k>_<which>.pt`` (``which``: best or last)."""
    return cfg.output_dir / f"{backbone_short_name(cfg.model.backbone)}_fold{fold}_{which}.pt"


def _fold_dir(cfg: TrainConfig, fold: int) -> Path:
    return cfg.output_dir / "folds" / f"{backbone_short_name(cfg.model.backbone)}_fold{fold}"


def _resume_path(cfg: TrainConfig, fold: int) -> Path:
    return cfg.output_dir / "resume" / f"{backbone_short_name(cfg.model.backbone)}_fold{fold}.pt"


def resolve_folds(cfg: TrainConfig, n_folds: int) -> tuple[int, ...]:
    """The folds to train: ``cfg.folds`` checked against nb01's ``n_folds``, or all of them."""
    if not cfg.folds:
        return tuple(range(n_folds))
    bad = [k for k in cfg.folds if not 0 <= k < n_folds]
    if bad:
        raise ValueError(f"folds {bad} do not exist: nb01 made {n_folds} folds (0..{n_folds - 1});"
                         " pass --folds with ids in that range")
    return tuple(dict.fromkeys(cfg.folds))


def _whole_clip(cfg: TrainConfig) -> bool:
    """True when the task scores one answer per clip (validation pools windows per clip)."""
    return cfg.task_spec.windowing == "whole_clip"


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings that do not fit the task, naming the fix (before anything is trained).

    The loss must fit the label mode (:func:`common.tasks.base.loss_name_for`). Single-label tasks
    cannot use what makes multi-label targets: the in-batch soundscape simulator (it unions the
    mixed clips' labels), binary label smoothing, labelled soundscape windows.
    """
    task = cfg.task_spec
    task.loss_name(cfg.loss)
    if cfg.checkpoint_selection not in ("best", "last"):
        raise ValueError(f"checkpoint_selection must be 'best' or 'last', got "
                         f"{cfg.checkpoint_selection!r}")
    if task.multilabel:
        if cfg.label_smoothing > 0:
            raise ValueError("label_smoothing is cross_entropy's (single-label); for the "
                             f"multi-label task {task.name!r} set wave_augment.label_smoothing")
        if _whole_clip(cfg):
            raise ValueError(f"task {task.name!r}: whole-clip validation is implemented for "
                             "single-label tasks only")
        return
    problems = []
    if cfg.wave_augment.p_simulate > 0:
        problems.append("wave_augment.p_simulate=0 (the soundscape simulator unions labels)")
    if cfg.wave_augment.label_smoothing > 0:
        problems.append("wave_augment.label_smoothing=0 (binary smoothing; use label_smoothing)")
    if cfg.use_soundscapes:
        problems.append("use_soundscapes=false (soundscape windows are multi-label)")
    if problems:
        raise ValueError(f"the single-label task {task.name!r} needs " + ", ".join(problems))


def _check_sample_rate(cfg: TrainConfig, prep: PrepData) -> None:
    """The cache must hold audio at the frontend's rate: slices are cut in samples."""
    rates = sorted({int(r) for r in prep.index_df["sample_rate"]})
    if rates and rates != [cfg.frontend.sample_rate]:
        raise ValueError(f"{prep.cache_dir} holds audio at {rates} Hz but frontend.sample_rate "
                         f"is {cfg.frontend.sample_rate}: run nb01 and nb02 with the same task "
                         "(or set --frontend.sample-rate to the cache's rate)")


# ---------------------------------------------------------------------------------------------
# Data of one fold.


@dataclass
class FoldData:
    """Training and validation tables of one fold."""

    train: WindowItems
    val_soundscapes: WindowItems  # every window of the held-out labelled soundscapes
    val_focal: WindowItems  # held-out focal clips
    background_df: pd.DataFrame  # key, start_seconds
    val_clips: WindowItems | None = None  # whole-clip tasks: every window of held-out clips


def fold_data(cfg: TrainConfig, prep: PrepData, fold: int) -> FoldData:
    """Split nb01's tables for ``fold`` (see the module docstring for what goes where)."""
    classes = prep.classes
    focal = focal_items(prep.train_df, classes, cfg.secondary_mode, cfg.secondary_value)
    folds = focal.table_df["fold"].to_numpy()
    rated = np.ones(len(focal), bool)
    if cfg.min_rating > 0 and "rating" in prep.train_df:
        # Unrated clips (rating 0, e.g. iNat) are kept: no rating is not a bad rating.
        rating = pd.to_numeric(prep.train_df["rating"], errors="coerce").fillna(0.0).to_numpy()
        rated = (rating >= cfg.min_rating) | (rating <= 0)
    parts = [focal.select((folds != fold) & rated)]
    sc_df = prep.soundscape_df
    val_files = sorted(sc_df.loc[sc_df["fold"] == fold, "filename"].astype(str).unique())
    if cfg.use_soundscapes and len(sc_df):
        sc = soundscape_items(sc_df, classes, cfg.soundscape_weight)
        sc = sc.select(sc.table_df["fold"].to_numpy() != fold)
        parts += [sc] * max(1, cfg.soundscape_repeats)
    for path in cfg.extra_windows:
        extra = read_extra_windows(extra_windows_path(path, fold), classes)
        parts += [extra.select(extra.table_df["fold"].to_numpy() != fold)] * max(
            1, cfg.extra_repeats)
    train = WindowItems.concat(parts, len(classes))
    focal_val = focal.select(folds == fold)
    sc_val = soundscape_eval_items(sc_df, prep.index_df, classes, val_files)
    bg = (background_windows(sc_df, prep.index_df, exclude_files=val_files)
          if cfg.background_mixing else pd.DataFrame(columns=["key", "start_seconds"]))
    clips_val = None
    if _whole_clip(cfg):
        clips_val = clip_window_items(prep.train_df[folds == fold], prep.index_df, classes,
                                      cfg.frontend.clip_seconds)
    return FoldData(train, sc_val, focal_val, bg, clips_val)


def extra_windows_path(path: str, fold: int) -> Path:
    """An ``extra_windows`` entry for one fold: ``{fold}`` in it becomes the fold id (nb03's
    per-fold pseudo labels: the student of fold k learns only from the teacher of fold k)."""
    return Path(str(path).replace("{fold}", str(fold)))


def class_balance_weights(items: WindowItems) -> np.ndarray:
    """Sampling probability per row, ``(rows,)`` summing to 1, ~ ``1/sqrt(rows of its class)``.

    A row's class is its strongest target (rows with no target >= 0.5, e.g. negatives, form
    one group of their own). The square root is the usual middle ground: rare classes are seen
    more often without repeating their few clips as often as the common ones.
    """
    targets = items.targets
    group = np.where(targets.max(axis=1) >= 0.5, targets.argmax(axis=1), -1) if len(items) \
        else np.zeros(0, int)
    _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
    weights = 1.0 / np.sqrt(counts[inverse].astype(float))
    return weights / weights.sum()


def _audio_source(cfg: TrainConfig, prep: PrepData) -> AudioSource:
    extra_caches = [Path(p).parent / "cache" for p in cfg.extra_windows]
    try:
        audio_root = find_competition_dir(cfg.input_root, cfg.competition)
    except FileNotFoundError:
        audio_root = None  # everything must then be cached
    return AudioSource([*extra_caches, prep.cache_dir], audio_root, cfg.frontend.sample_rate)


# ---------------------------------------------------------------------------------------------
# Optimisation pieces.


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                    min_lr_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up from ~0 to each group's LR, then cosine to
    ``min_lr_ratio`` of it. Each group keeps its own (layer-decayed) peak."""
    total_steps = max(1, total_steps)
    warmup_steps = min(max(0, warmup_steps), total_steps - 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return min_lr_ratio + (1.0 - min_lr_ratio) * cosine

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_criterion(cfg: TrainConfig) -> torch.nn.Module:
    """The configured loss (:func:`common.model.losses.build_loss`), checked against the task
    (:func:`common.tasks.base.loss_name_for`: a multi-label loss on a softmax task is an error)."""
    name = cfg.task_spec.loss_name(cfg.loss)
    if name == "asl":
        return build_loss("asl", gamma_neg=cfg.asl_gamma_neg, gamma_pos=cfg.asl_gamma_pos,
                          clip=cfg.asl_clip)
    if name == "focal":
        return build_loss("focal", gamma=cfg.focal_gamma)
    if name == "cross_entropy":
        return build_loss("cross_entropy", label_smoothing=cfg.label_smoothing)
    return build_loss(name)


def _amp_enabled(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.amp and device.type == "cuda"


def _warm_start(model: BirdModel, path: Path, classes: list[str]) -> None:
    """Load a checkpoint's weights into ``model`` (same backbone, same classes), strictly."""
    if not path.is_file():
        raise FileNotFoundError(f"init_checkpoint {path} does not exist: point it at a "
                                "checkpoint of this fold (e.g. the teacher's <backbone>_fold<k>"
                                "_best.pt) or leave it empty")
    state_dict, meta = load_checkpoint(path)
    if [str(c) for c in meta["classes"]] != list(classes):
        raise ValueError(f"{path}: its classes differ from nb01's species.csv; warm starts need "
                         "the same species in the same order")
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        backbone = meta["model"].get("backbone")
        raise ValueError(f"{path} (backbone {backbone}) does not fit this run's model config: "
                         f"{err}") from err
    log.info("warm start from %s", path)


# ---------------------------------------------------------------------------------------------
# Resume state.


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _resume_config(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in config_to_dict(cfg).items() if k not in _RESUME_FREE}


# ---------------------------------------------------------------------------------------------
# One fold.


def train_fold(cfg: TrainConfig, prep: PrepData, fold: int, device: torch.device | None = None,
               n_processes: int = 1, session_start: float | None = None) -> dict[str, Any]:
    """Train (or resume, or skip if done) one fold; returns its summary row.

    Writes the fold's checkpoints, history and OOF files (see the module docstring). Returns
    ``{"status": "interrupted", ...}`` when ``session_epochs`` or ``session_hours`` (counted from
    ``session_start``, a ``time.time()`` value; default now) stopped it early.
    """
    check_config(cfg)
    t_session = time.time() if session_start is None else session_start
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fold_dir = _fold_dir(cfg, fold)
    done_path = fold_dir / "done.json"
    if done_path.is_file():
        log.info("fold %d: already done (%s), skipped", fold, done_path)
        return json.loads(done_path.read_text())
    fold_dir.mkdir(parents=True, exist_ok=True)
    _check_sample_rate(cfg, prep)
    classes = prep.classes
    data = fold_data(cfg, prep, fold)
    source = _audio_source(cfg, prep)
    n = cfg.frontend.clip_samples
    workers = loader_workers(cfg.workers, n_processes)
    use_amp = _amp_enabled(cfg, device)
    validation = make_validation(
        cfg.task_spec, source, soundscapes=data.val_soundscapes, focal=data.val_focal,
        clips=data.val_clips, clip_samples=n, batch_size=cfg.eval_batch_size, fold=fold,
        classes=classes)
    selection = validation.selection
    log.info("fold %d: %d training rows (%d focal, %d soundscape, %d extra), validation: %s, "
             "%d background windows; device %s, %d workers", fold, len(data.train),
             int((data.train.table_df["source"] == "focal").sum()),
             int((data.train.table_df["source"] == "soundscape").sum()),
             int(data.train.table_df["source"].str.startswith("extra:").sum()),
             validation.describe(), len(data.background_df), device, workers)
    validation.warn_if_unscorable()
    if not len(data.train):
        raise ValueError(f"fold {fold} has no training rows: check nb01's train_folds.csv")

    train_ds = WindowDataset(data.train, source, n, train=True, crop_mode=cfg.crop_mode,
                             background_df=data.background_df, seed=cfg.seed + 1000 * fold)

    seed_everything(cfg.seed + fold)
    model = build_model(cfg.model, cfg.frontend, len(classes))
    if cfg.init_checkpoint:
        _warm_start(model, extra_windows_path(cfg.init_checkpoint, fold), classes)
    model = model.to(device)
    groups = param_groups_lrd(model, cfg.lr, cfg.weight_decay, cfg.layer_decay)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  **({"fused": True} if device.type == "cuda" else {}))
    batch = min(cfg.batch_size, len(data.train))
    steps_per_epoch = max(1, len(data.train) // batch)
    if cfg.max_steps_per_epoch > 0:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    scheduler = build_scheduler(optimizer, cfg.epochs * steps_per_epoch,
                                int(round(cfg.warmup_epochs * steps_per_epoch)), cfg.min_lr_ratio)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    ema = ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=True) if cfg.ema else None
    wave_aug = WaveAugment(cfg.wave_augment, cfg.frontend.sample_rate, seed=cfg.seed + fold)
    spec_aug = SpecAugment(cfg.spec_augment, seed=cfg.seed + fold + 500)
    criterion = build_criterion(cfg)
    any_masked = bool((data.train.mask < 1).any())
    sample_weights = class_balance_weights(data.train) if cfg.class_balance else None

    start_epoch, global_step = 0, 0
    best_score, best_epoch = -math.inf, -1
    history: list[dict[str, Any]] = []
    resume_path = _resume_path(cfg, fold)
    if resume_path.is_file():
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        saved_cfg = json.loads(state["config"])
        if saved_cfg != _resume_config(cfg):
            changed = sorted(k for k in set(saved_cfg) | set(_resume_config(cfg))
                             if saved_cfg.get(k) != _resume_config(cfg).get(k))
            raise ValueError(f"{resume_path} was written with a different config ({changed}); "
                             "use a fresh --working-dir or delete that file to start over")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.module.load_state_dict(state["ema"])
        start_epoch, global_step = int(state["epoch"]), int(state["global_step"])
        best_score, best_epoch = float(state["best_score"]), int(state["best_epoch"])
        wave_aug.calls, spec_aug.calls = int(state["wave_aug_calls"]), int(state["spec_aug_calls"])
        history = json.loads(state["history"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        log.info("fold %d: resumed from %s after epoch %d (best %.4f at epoch %d)", fold,
                 resume_path, start_epoch, best_score, best_epoch)

    eval_model = ema.module if ema is not None else model
    meta_config = config_to_dict(cfg)
    epochs_this_session = 0
    last_epoch_seconds = 0.0
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.session_epochs and epochs_this_session >= cfg.session_epochs:
            log.info("fold %d: session_epochs=%d reached; run again to resume", fold,
                     cfg.session_epochs)
            return {"fold": fold, "status": "interrupted", "epoch": epoch}
        elapsed_hours = (time.time() - t_session) / 3600
        if cfg.session_hours and elapsed_hours + last_epoch_seconds / 3600 > cfg.session_hours:
            log.warning("fold %d: stopping before epoch %d to stay within session_hours=%.1f; "
                        "run again with the same working dir to resume", fold, epoch + 1,
                        cfg.session_hours)
            return {"fold": fold, "status": "interrupted", "epoch": epoch}
        t0 = time.time()
        model.train()
        wave_aug.train()
        spec_aug.train()
        loader = make_loader(train_ds, batch, shuffle=True, epoch=epoch, seed=cfg.seed + fold,
                             workers=workers, drop_last=True, max_batches=steps_per_epoch,
                             pin_memory=device.type == "cuda", sample_weights=sample_weights)
        loss_sum, loss_count = 0.0, 0
        for item in tqdm(loader, desc=f"fold {fold} epoch {epoch + 1}/{cfg.epochs}",
                         leave=False, unit="batch"):
            wave = item["wave"].to(device, non_blocking=True).float()
            targets = item["targets"].to(device, non_blocking=True)
            mask = item["mask"].to(device, non_blocking=True) if any_masked else None
            weight = item["weight"].to(device, non_blocking=True)
            background = item.get("background")
            if background is not None:
                background = background.to(device, non_blocking=True).float()
            wave, targets = wave_aug(wave, targets, background)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits = model(wave, spec_augment=spec_aug)["clip_logits"]
            loss = criterion(logits.float(), targets, mask=mask, weight=weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip_norm > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            global_step += 1
            if ema is not None:
                ema.update(model, step=global_step)
            loss_sum += float(loss.detach())
            loss_count += 1
        lr = max(g["lr"] for g in optimizer.param_groups)

        scores = validation.evaluate(eval_model, device, use_amp, workers)
        score = scores[selection]
        # An unscorable fold (NaN) keeps the latest epoch as its best.
        is_best = (cfg.checkpoint_selection == "last" or not math.isfinite(score)
                   or score > best_score)
        seconds = time.time() - t0
        last_epoch_seconds = seconds
        row = {"fold": fold, "epoch": epoch + 1, "lr": lr,
               "train_loss": loss_sum / max(1, loss_count), **scores, "selection": selection,
               "is_best": is_best, "seconds": round(seconds, 2)}
        history.append(row)
        metrics = {"epoch": epoch + 1, **scores, "selection": selection,
                   "train_loss": row["train_loss"]}
        ckpt_kwargs = dict(classes=classes, model_cfg=cfg.model, frontend_cfg=cfg.frontend,
                           fold=fold, config=meta_config)
        if is_best:
            best_score = score if math.isfinite(score) else best_score
            best_epoch = epoch + 1
            save_checkpoint(checkpoint_path(cfg, fold, "best"), eval_model,
                            metrics={**metrics, "best": True}, **ckpt_kwargs)
            validation.write_oof(fold_dir)
        save_checkpoint(checkpoint_path(cfg, fold, "last"), eval_model,
                        metrics={**metrics, "best": is_best}, **ckpt_kwargs)
        pd.DataFrame(history).to_csv(fold_dir / "history.csv", index=False)
        state = {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "ema": ema.module.state_dict() if ema is not None else {},
            "epoch": epoch + 1, "global_step": global_step,
            "best_score": best_score, "best_epoch": best_epoch,
            "wave_aug_calls": wave_aug.calls, "spec_aug_calls": spec_aug.calls,
            "history": json.dumps(history), "config": json.dumps(_resume_config(cfg)),
            "torch_rng": torch.get_rng_state(),
        }
        if device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(device)
        _atomic_torch_save(state, resume_path)
        epochs_this_session += 1
        log.info("fold %d epoch %d/%d  lr %.2e  loss %.4f  %s%s  %.0f s", fold, epoch + 1,
                 cfg.epochs, lr, row["train_loss"], format_scores(scores),
                 "  (best)" if is_best else "", seconds)

    best_row = next((r for r in history if r["epoch"] == best_epoch), history[-1] if history
                    else {})
    summary = {
        "fold": fold, "status": "done", "epochs": cfg.epochs, "best_epoch": best_epoch,
        "selection": selection, "best_score": best_score if math.isfinite(best_score) else None,
        **{name: best_row.get(name) for name in validation.score_names},
        "best_checkpoint": checkpoint_path(cfg, fold, "best").name,
        "last_checkpoint": checkpoint_path(cfg, fold, "last").name,
        "n_train_rows": len(data.train), **validation.counts(),
    }
    done_path.write_text(json.dumps(summary, indent=2, default=_json_float) + "\n")
    if not cfg.keep_resume_state:
        resume_path.unlink(missing_ok=True)
    log.info("fold %d done: best epoch %d, %s %.4f", fold, best_epoch, selection,
             best_score if math.isfinite(best_score) else float("nan"))
    return summary


def _json_float(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


# ---------------------------------------------------------------------------------------------
# Several processes (one GPU each).


def resolve_processes(cfg: TrainConfig, n_folds: int) -> int:
    """How many training processes: ``parallel_processes``, or one per GPU when >1 GPU."""
    n = cfg.parallel_processes or max(1, torch.cuda.device_count())
    return max(1, min(n, n_folds))


def _run_parallel(cfg: TrainConfig, folds: tuple[int, ...], n_processes: int) -> None:
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
        command = [sys.executable, "-m", "common.stages.train.run", "--config", str(config_path),
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
    assert proc.stdout is not None
    for line in proc.stdout:
        tail.append(line)
        del tail[:-200]
        sys.stderr.write(f"[worker {index}] {line}")


# ---------------------------------------------------------------------------------------------
# The stage.


def _prep_dir(cfg: TrainConfig) -> Path:
    return find_dataset_dir(cfg.input_root, cfg.prep_slug, must_contain="train_folds.csv")


def run_training(cfg: TrainConfig) -> TrainResult:
    """Run nb02 for the requested folds, then merge every finished fold's outputs."""
    check_config(cfg)
    t0 = time.time()
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "train_config.json")
    prep = load_prep(_prep_dir(cfg))
    _check_sample_rate(cfg, prep)
    folds = resolve_folds(cfg, prep.n_folds)
    n_processes = resolve_processes(cfg, len(folds))
    log.info("training %s on folds %s with %d process(es); %d classes", cfg.model.backbone,
             list(folds), n_processes, len(prep.classes))
    if n_processes > 1:
        _run_parallel(cfg, folds, n_processes)
    else:
        for fold in tqdm(folds, desc="folds", unit="fold"):
            if train_fold(cfg, prep, fold, session_start=t0)["status"] == "interrupted":
                log.warning("session limit reached: folds after %d are left for the next "
                            "session", fold)
                break
    result = summarize_run(cfg, prep)
    result.report["seconds"] = round(time.time() - t0, 1)
    (out / "train_report.json").write_text(json.dumps(result.report, indent=2,
                                                      default=_json_float) + "\n")
    return result


def summarize_run(cfg: TrainConfig, prep: PrepData) -> TrainResult:
    """Merge the per-fold files of this backbone into the run's tables, plots and metadata."""
    if _whole_clip(cfg):
        return _summarize_clip_run(cfg, prep)
    out = cfg.output_dir
    short = backbone_short_name(cfg.model.backbone)
    fold_dirs = sorted((out / "folds").glob(f"{short}_fold*"))
    logs, oofs, focal_oofs, summaries = [], [], [], []
    for d in fold_dirs:
        if (d / "history.csv").is_file():
            logs.append(pd.read_csv(d / "history.csv"))
        if (d / "oof_soundscapes.csv").is_file():
            oofs.append(pd.read_csv(d / "oof_soundscapes.csv", dtype={"row_id": str, "key": str}))
        if (d / "oof_focal.csv").is_file():
            focal_oofs.append(pd.read_csv(d / "oof_focal.csv", dtype={"row_id": str, "key": str}))
        if (d / "done.json").is_file():
            summaries.append(json.loads((d / "done.json").read_text()))
    classes = prep.classes
    log_df = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(
        columns=["fold", "epoch", "lr", "train_loss", "val_soundscape_auc", "val_focal_auc",
                 "selection", "is_best", "seconds"])
    oof_df = _restore_class_columns(pd.concat(oofs, ignore_index=True), classes) if oofs \
        else pd.DataFrame(columns=["row_id", "key", "start_seconds", *classes, "fold"])
    focal_df = _restore_class_columns(pd.concat(focal_oofs, ignore_index=True), classes) \
        if focal_oofs else pd.DataFrame(columns=["row_id", "key", "start_seconds", *classes,
                                                 "fold"])
    summary_df = pd.DataFrame(summaries)
    log_df.to_csv(out / "training_log.csv", index=False)
    oof_df.to_csv(out / "oof_soundscapes.csv", index=False)
    focal_df.to_csv(out / "oof_focal.csv", index=False)
    summary_df.to_csv(out / "fold_summary.csv", index=False)

    # Out-of-fold scores over all finished folds: the CV estimate of the leaderboard metric.
    sc_all = soundscape_eval_items(prep.soundscape_df, prep.index_df, classes,
                                   sorted(prep.soundscape_df["filename"].astype(str).unique()))
    truth = pd.DataFrame(sc_all.targets, columns=classes).assign(
        row_id=sc_all.table_df["row_id"].to_numpy()).set_index("row_id")
    oof_auc, sc_class_auc = float("nan"), pd.Series(np.nan, index=classes, dtype=float)
    if len(oof_df):
        y = truth.loc[oof_df["row_id"], classes].to_numpy()
        probs = oof_df[classes].to_numpy(dtype=float)
        items = WindowItems(oof_df[["row_id"]].assign(
            key="", crop="window", start_seconds=0.0, weight=1.0, source="oof", fold=-1), y)
        oof_auc = soundscape_auc(items, probs, classes)
        sc_class_auc = per_class_auc((y >= 0.5).astype(float), probs, classes)
    focal_class_auc = pd.Series(np.nan, index=classes, dtype=float)
    if len(focal_df):
        labels = prep.train_df.set_index("filename")["primary_label"]
        y = np.array([[float(labels.get(k) == c) for c in classes] for k in focal_df["key"]])
        focal_class_auc = per_class_auc(y, focal_df[classes].to_numpy(dtype=float), classes)
    per_class_df = pd.DataFrame({
        "primary_label": classes,
        "class_name": prep.species_df["class_name"].to_numpy(),
        "n_soundscape_windows": prep.species_df["n_soundscape_windows"].to_numpy(),
        "n_focal_clips": prep.species_df["n_focal_clips"].to_numpy(),
        "oof_soundscape_auc": sc_class_auc.to_numpy(),
        "oof_focal_auc": focal_class_auc.to_numpy(),
    })
    per_class_df.to_csv(out / "per_class_auc.csv", index=False)

    figures: dict[str, Path] = {}
    if len(log_df):
        figures["learning_curves"] = save_figure(plots.learning_curves(log_df),
                                                 out / "figures" / "learning_curves.png")
    if per_class_df[["oof_soundscape_auc", "oof_focal_auc"]].notna().any().any():
        figures["per_class_auc"] = save_figure(plots.per_class_auc(per_class_df),
                                               out / "figures" / "per_class_auc.png")
    write_dataset_metadata(out, cfg.dataset_slug, "BirdCLEF 2026 models (nb02)", cfg.kaggle_user)
    report = {
        "backbone": cfg.model.backbone,
        "folds_done": [int(s["fold"]) for s in summaries],
        "oof_soundscape_auc": oof_auc,
        "mean_fold_soundscape_auc": _nanmean(summary_df.get("val_soundscape_auc")),
        "mean_fold_focal_auc": _nanmean(summary_df.get("val_focal_auc")),
        "checkpoints": sorted(p.name for p in out.glob(f"{short}_fold*_*.pt")),
    }
    log.info("training summary: %s", report)
    scores_df = pd.DataFrame([{"model": "cnn", "oof_macro_roc_auc": oof_auc,
                               "n_windows": len(oof_df)}])
    return TrainResult(out, log_df, summary_df, oof_df, per_class_df, report, figures, scores_df)


def _summarize_clip_run(cfg: TrainConfig, prep: PrepData) -> TrainResult:
    """:func:`summarize_run` of a whole-clip task: clip OOF, per-class F1, confusion matrices,
    and the feature baseline with the OOF blend
    (:func:`common.tasks.mashup.baselines.report_clip_models`)."""
    out = cfg.output_dir
    short = backbone_short_name(cfg.model.backbone)
    fold_dirs = sorted((out / "folds").glob(f"{short}_fold*"))
    logs = [pd.read_csv(d / "history.csv") for d in fold_dirs if (d / "history.csv").is_file()]
    oofs = [pd.read_csv(d / "oof_clips.csv", dtype={"key": str}) for d in fold_dirs
            if (d / "oof_clips.csv").is_file()]
    summaries = [json.loads((d / "done.json").read_text()) for d in fold_dirs
                 if (d / "done.json").is_file()]
    classes = prep.classes
    selection = f"val_{cfg.task_spec.metric}"
    log_df = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(
        columns=["fold", "epoch", "lr", "train_loss", selection, "val_accuracy", "selection",
                 "is_best", "seconds"])
    oof_df = (pd.concat(oofs, ignore_index=True) if oofs
              else pd.DataFrame(columns=["key", "fold", *classes]))[["key", "fold", *classes]]
    summary_df = pd.DataFrame(summaries)
    log_df.to_csv(out / "training_log.csv", index=False)
    oof_df.to_csv(out / "oof_clips.csv", index=False)
    summary_df.to_csv(out / "fold_summary.csv", index=False)

    clip_report = baselines.report_clip_models(
        prep, oof_df, out, task=cfg.task_spec,
        feature_models=cfg.feature_models if cfg.feature_baseline else (),
        workers=resolve_workers(cfg.feature_workers), seed=cfg.seed)
    figures: dict[str, Path] = {}
    if len(log_df):
        figures["learning_curves"] = save_figure(
            plots.training_curves(log_df, {
                "train_loss": "training loss",
                selection: f"{SCORE_LABELS.get(selection, selection)} (clips)",
                "val_accuracy": "val accuracy (clips)"}),
            out / "figures" / "learning_curves.png")
    figures.update(clip_report.figures)
    write_dataset_metadata(out, cfg.dataset_slug, f"{cfg.task_spec.name} models (nb02)",
                           cfg.kaggle_user)
    report = {
        "backbone": cfg.model.backbone,
        "task": cfg.task_spec.name,
        "folds_done": [int(s["fold"]) for s in summaries],
        f"mean_fold_{selection}": _nanmean(summary_df.get(selection)),
        **clip_report.report,
        "checkpoints": sorted(p.name for p in out.glob(f"{short}_fold*_*.pt")),
    }
    log.info("training summary: %s", report)
    return TrainResult(out, log_df, summary_df, oof_df, clip_report.per_class_df, report,
                       figures, clip_report.scores_df)


def _nanmean(values: pd.Series | None) -> float | None:
    if values is None:
        return None
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None


def _restore_class_columns(df: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """CSV round trips keep species headers as strings already; this just orders columns."""
    df.columns = [str(c) for c in df.columns]
    return df[["row_id", "key", "start_seconds", *classes, "fold"]]


def main(argv: list[str] | None = None) -> int:
    """Worker entry point for :func:`_run_parallel` (``python -m common.stages.train.run --config
    ...``)."""
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
    prep = load_prep(_prep_dir(cfg))
    start = time.time()
    for fold in resolve_folds(cfg, prep.n_folds):
        summary = train_fold(cfg, prep, fold, n_processes=args.processes, session_start=start)
        if summary["status"] == "interrupted":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
