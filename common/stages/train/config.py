"""nb02's configuration: :class:`TrainConfig` and the nested configs it groups its fields into.

A training run is described by a few groups, each a frozen dataclass saved inside every
checkpoint and in ``train_config.json``:

- stage-level fields (flat): where the inputs and outputs are (slugs, ``kaggle_user``), which
  folds, the seed, and the inputs from other stages (``extra_windows``: nb03's pseudo labels or
  named subsets; ``init_checkpoint``: a teacher's weights);
- ``optim`` (:class:`OptimConfig`): epochs, batches, AdamW with layer-wise LR decay, the cosine
  schedule, AMP, EMA, and which epoch is kept as ``*_best.pt``;
- ``data`` (:class:`DataConfig`): what a fold trains on (soundscape windows, crops, background,
  oversampling, the rating filter, class balance);
- ``objective`` (:class:`LossConfig`): the loss and how secondary labels become targets;
- ``session`` (:class:`SessionConfig`): the machine and the session (processes, loader
  workers, Kaggle's 12-hour limit, resume states); free to change between sessions of one run;
- ``frontend``, ``model``, ``wave_augment``, ``spec_augment``: shared with nb03/nb04
  (:mod:`common.model.frontend`, :mod:`common.model.sed`, :mod:`common.audio.augment`).

Every leaf keeps its old short name as an alias (``--epochs`` sets ``optim.epochs``, see
:func:`common.core.config.resolve_alias`), so the leaf names are unique across the groups.
A task may extend the class with fields of its own (:meth:`common.tasks.base.Task.config_class`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.audio.augment import SpecAugmentConfig, WaveAugmentConfig
from common.core.config import StageConfig, param
from common.model.frontend import FrontendConfig
from common.model.sed import ModelConfig
from common.report.tracking import TrackingConfig
from common.stages.train.optim import check_fine_tuning
from common.teachers.config import TeacherConfig

__all__ = ["OptimConfig", "DataConfig", "LossConfig", "SessionConfig", "TrainConfig",
           "CHECKPOINT_RULES", "checkpoint_rule", "check_config", "resolve_folds"]

CHECKPOINT_RULES = ("auto", "best", "last")


@dataclass(frozen=True)
class OptimConfig:
    """Epochs, batches, optimiser, schedule, weight averaging and the epoch kept as best."""

    epochs: int = param(30, "training epochs per fold")
    batch_size: int = param(64, "training batch size")
    eval_batch_size: int = param(128, "validation batch size")
    max_steps_per_epoch: int = param(0, "cap on steps per epoch (0 = full epoch); for smoke runs")
    lr: float = param(1e-3, "peak learning rate of the head (backbone stages get less, LLRD)")
    layer_decay: float = param(0.75, "LR factor per backbone stage going down from the head")
    weight_decay: float = param(1e-2, "AdamW weight decay (not on norms, biases, GeM p)")
    warmup_epochs: float = param(1.0, "linear warm-up length, epochs")
    min_lr_ratio: float = param(0.01, "cosine schedule floor as a fraction of the peak LR")
    grad_clip_norm: float = param(5.0, "clip the gradient norm to this (0 = off)")
    amp: bool = param(True, "fp16 autocast + GradScaler on CUDA (ignored on CPU)")
    ema: bool = param(True, "keep an EMA of the weights; checkpoints and validation use it")
    ema_decay: float = param(0.999, "EMA decay (warmed up from 0 over the first steps)")
    checkpoint_selection: str = param(
        "auto", "epoch saved as *_best.pt: 'best' (highest validation score), 'last' (the final "
        "epoch) or 'auto' (best when the fold's validation has at least min_val_rows_for_best "
        "scored rows, else last)")
    min_val_rows_for_best: int = param(
        100, "checkpoint_selection=auto: scored validation rows (windows or clips) needed to "
        "choose the epoch by score; fewer (the BirdCLEF demo's 24 windows per fold) is noise")


@dataclass(frozen=True)
class DataConfig:
    """What one fold trains on, besides nb01's focal clips of the other folds."""

    use_soundscapes: bool = param(True, "train on labelled soundscape windows of other folds")
    soundscape_weight: float = param(1.0, "loss weight of a soundscape window vs a focal clip")
    soundscape_repeats: int = param(1, "times each soundscape window appears per epoch")
    soundscape_negatives: bool = param(
        True, "train on every 5-s window of the labelled soundscapes, the unlisted ones as "
        "all-negative rows (nothing was heard there), not only the listed call windows")
    crop_mode: str = param("energy", "focal-clip crop for training: energy, random or start")
    background_mixing: bool = param(True, "give the augmenter real no-call soundscape windows")
    extra_repeats: int = param(1, "times each extra windows row appears per epoch (oversampling)")
    min_rating: float = param(
        0.0, "focal clips rated below this are not trained on (still validated; 0 = keep all)")
    class_balance: bool = param(
        False, "sample rows with probability ~ 1/sqrt(rows of their class) instead of uniformly")


@dataclass(frozen=True)
class LossConfig:
    """The training loss (checked against the task) and the targets of secondary labels."""

    loss: str = param("asl", "loss: asl (asymmetric), bce or focal for multi-label tasks, "
                      "cross_entropy for single-label ones ('' = the task's default)")
    asl_gamma_neg: float = param(4.0, "ASL focusing on negatives")
    asl_gamma_pos: float = param(0.0, "ASL focusing on positives")
    asl_clip: float = param(0.05, "ASL probability margin for negatives")
    focal_gamma: float = param(2.0, "focal loss gamma")
    secondary_mode: str = param("soft", "secondary labels: soft (target value) or mask (no loss)")
    secondary_value: float = param(0.5, "target of a secondary label in soft mode")


@dataclass(frozen=True)
class SessionConfig:
    """The machine and the session; none of it changes what a fold learns, so a stopped run
    may resume under other values (:data:`TrainConfig.RESUME_FREE`)."""

    workers: int = param(-1, "DataLoader workers per process (-1 = from the CPU count)")
    parallel_processes: int = param(
        0, "training processes, one fold each (0 = one per GPU when >1 GPU, else 1)")
    session_epochs: int = param(0, "stop after this many epochs in this session (0 = no cap)")
    session_hours: float = param(
        11.5, "do not start an epoch that would end past this many hours (Kaggle: 12 h)")
    keep_resume_state: bool = param(False, "keep resume/ states after a fold is done")


# A small real model that learns the demo competition from scratch on a 2-core CPU
# (mobilenetv3_small: ~6x cheaper per step than efficientnet_b0 on CPU). Measured on
# the demo, fold 0, 12 epochs, one seed each (CV = held-out soundscape AUC):
# - BCE, not the Kaggle recipe's ASL: BCE led at every epoch from the 3rd (CV 0.75 vs
#   0.71, test 0.79 vs 0.74) and gives nb03 calibrated probabilities;
# - no SpecAugment: a model this small, trained this briefly from scratch, underfits
#   (without SpecAugment and the simulator, 12 epochs, CNN alone: CV 0.78 vs 0.75, test
#   0.81 vs 0.79);
# - the in-batch soundscape simulator at the Kaggle recipe's rate (p_simulate 0.3): off in
#   the cpu preset until the ablation (python -m common.ablate --preset fast, 3 seeds,
#   2026-11-30) measured +0.016 CV and +0.019 test with the band-statistics path at 10
#   epochs; at 36 epochs (seed 42) CV 0.927 with it vs 0.909 without;
# - two passes per epoch over the ~636 training soundscape windows (calls and
#   negatives) next to ~256 focal clips (CV 0.81 vs 0.78, test 0.82 vs 0.81);
# - 36 epochs, not 12 (~11 min on 2 cores): the CNN alone reached CV 0.804 / 0.839 /
#   0.868 and test 0.813 / 0.849 / 0.879 after 12 / 24 / 36 epochs (seed 0);
# - the per-band statistics path beside the CNN (model.band_stats): the small CNN pools
#   frequency away, and alone it only matched a logistic regression on band statistics
#   (CV 0.863, test 0.881); with the path, 36 epochs: CV 0.914 / 0.917, test 0.911 /
#   0.921 (seeds 0 / 1); 24 epochs: CV 0.898, test 0.913.
# SpecAugment stays off at 24 epochs too (CV 0.794 vs 0.832 at epoch 18); a frequency
# coordinate channel (CoordConv) did not help (12 epochs: CV 0.790 vs 0.804).
# The ~168 validation windows of a fold choose the epoch (checkpoint_selection=auto).
_CPU_PRESET: dict[str, Any] = {
    "folds": (0,), "optim.epochs": 36, "optim.batch_size": 32,
    "optim.eval_batch_size": 64, "optim.lr": 3e-3, "optim.layer_decay": 1.0,
    "optim.warmup_epochs": 0.5, "optim.ema_decay": 0.99, "optim.amp": False,
    "objective.loss": "bce", "spec_augment.p": 0.0,
    "session.workers": 1, "data.soundscape_repeats": 2, "session.session_hours": 0.0,
    "model.backbone": "mobilenetv3_small_100", "model.pretrained": False,
    "model.drop_path_rate": 0.0, "model.band_stats": True,
    "model.head_hidden": 128, "frontend.n_mels": 64, "frontend.n_fft": 1024,
    "frontend.hop_length": 640,
}


@dataclass(frozen=True)
class TrainConfig(StageConfig):
    """nb02 parameters; defaults are the Kaggle recipe (T4/P100, fp16 AMP)."""

    prep_slug: str = param("birdclef-2026-prep", "slug of nb01's output dataset")
    dataset_slug: str = param("birdclef-2026-models", "slug this stage's output is published as")
    kaggle_user: str = param("", "Kaggle user for dataset-metadata.json ('' = kaggle CLI config)")
    folds: tuple[int, ...] = param((), "folds to train, e.g. 0,1 (empty = every fold of nb01)")
    seed: int = param(42, "seed of init, data order, crops and augmentation")
    extra_windows: tuple[str, ...] = param(
        (), "extra windows tables (CSV paths, e.g. nb03 pseudo labels or named subsets; "
        "'{fold}' in a path is replaced by the fold id); see common.data.windows")
    init_checkpoint: str = param(
        "", "warm start: checkpoint whose weights initialise each fold ('{fold}' = fold id)")
    # Flat, not in ``objective``: nested there, its short name would clash with
    # ``wave_augment.label_smoothing`` and ``--label-smoothing`` would stop meaning this one.
    label_smoothing: float = param(
        0.0, "cross_entropy label smoothing eps (target (1-eps) y + eps/classes); multi-label "
        "tasks smooth with wave_augment.label_smoothing instead")
    optim: OptimConfig = param(OptimConfig(), "epochs, optimiser, schedule, EMA, best epoch")
    data: DataConfig = param(DataConfig(), "what a fold trains on")
    objective: LossConfig = param(LossConfig(), "loss and secondary-label targets")
    session: SessionConfig = param(SessionConfig(), "processes, workers, session limits")
    frontend: FrontendConfig = param(FrontendConfig(), "waveform -> spectrogram settings")
    model: ModelConfig = param(ModelConfig(), "backbone and head settings")
    wave_augment: WaveAugmentConfig = param(WaveAugmentConfig(), "waveform augmentation")
    spec_augment: SpecAugmentConfig = param(SpecAugmentConfig(), "SpecAugment masks")
    tracking: TrackingConfig = param(TrackingConfig(), "experiment tracking: csv, wandb or off")
    distill: TeacherConfig = param(
        TeacherConfig(teacher_weight=0.3),
        "distillation toward a pretrained teacher on soundscape windows (off by default)")

    STAGE: ClassVar[str] = "train"  # names its dataset and the task defaults it takes
    # Dotted fields (or whole groups) that may differ between the session that wrote a resume
    # state and the one resuming it: where things are, which folds, the machine.
    RESUME_FREE: ClassVar[tuple[str, ...]] = ("preset", "input_root", "working_dir", "folds",
                                              "kaggle_user", "session")
    # Presets scale the model, and the small backbones they use train from random weights
    # (model.pretrained off): a laptop or test run must not depend on a download (timm's
    # pretrained weights come from the Hugging Face hub), and from scratch the layer-wise LR
    # decay is off too (optim.layer_decay=1, check_fine_tuning).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # A small real model that learns the demo competition from scratch on a 2-core CPU; the
        # evidence behind each value is at _CPU_PRESET.
        "cpu": _CPU_PRESET,
        # The cpu preset at 10 epochs (5-6 min a run, two runs side by side on 2 cores): for
        # tables of dozens of trainings, e.g. python -m common.ablate --preset fast.
        "fast": {**_CPU_PRESET, "optim.epochs": 10},
        # Seconds, for tests: two folds of a few steps with timm's test model.
        "smoke": {
            "folds": (0, 1), "optim.epochs": 1, "optim.batch_size": 8,
            "optim.eval_batch_size": 16, "optim.max_steps_per_epoch": 3, "optim.amp": False,
            "session.workers": 0, "session.session_hours": 0.0,
            "optim.layer_decay": 1.0, "model.backbone": "test_efficientnet",
            "model.pretrained": False, "model.drop_path_rate": 0.0, "model.band_stats": True,
            "model.head_hidden": 32, "frontend.n_mels": 32, "frontend.n_fft": 512,
            "frontend.hop_length": 640,
        },
    }


def resolve_folds(cfg: TrainConfig, n_folds: int) -> tuple[int, ...]:
    """The folds to train: ``cfg.folds`` checked against nb01's ``n_folds``, or all of them."""
    if not cfg.folds:
        return tuple(range(n_folds))
    bad = [k for k in cfg.folds if not 0 <= k < n_folds]
    if bad:
        raise ValueError(f"folds {bad} do not exist: nb01 made {n_folds} folds (0..{n_folds - 1});"
                         " pass --folds with ids in that range")
    return tuple(dict.fromkeys(cfg.folds))


def checkpoint_rule(optim: OptimConfig, n_scored_rows: int) -> tuple[str, str]:
    """Which epoch a fold keeps as ``*_best.pt``: ``("best" | "last", why)``.

    ``optim.checkpoint_selection`` "best" or "last" is taken as given. "auto" picks "best"
    when the fold's validation has at least ``optim.min_val_rows_for_best`` scored rows
    (windows or clips behind the selection score), else "last": choosing the epoch by the
    score of a few dozen rows picks noise (the BirdCLEF demo's 24 windows per fold), while
    ~156 soundscape windows (the real competition) or 100 held-out clips can choose.
    """
    rule = optim.checkpoint_selection
    if rule != "auto":
        return rule, f"checkpoint_selection={rule}"
    enough = n_scored_rows >= optim.min_val_rows_for_best
    sign = ">=" if enough else "<"
    return ("best" if enough else "last",
            f"auto: {n_scored_rows} scored validation rows {sign} min_val_rows_for_best="
            f"{optim.min_val_rows_for_best}")


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings that do not fit the task, naming the fix (before anything is trained).

    The recipe must be consistent (:func:`common.stages.train.optim.check_fine_tuning`:
    layer-wise LR decay only from trained weights), the loss must fit the task
    (:meth:`common.tasks.base.Task.loss_name`), and the task checks the rest
    (:meth:`common.tasks.base.Task.check_train_config`: e.g. a single-label task refuses what
    makes multi-label targets).
    """
    task = cfg.task_spec
    task.loss_name(cfg.objective.loss)
    check_fine_tuning(cfg)
    if cfg.optim.checkpoint_selection not in CHECKPOINT_RULES:
        raise ValueError(f"checkpoint_selection must be one of {', '.join(CHECKPOINT_RULES)}, "
                         f"got {cfg.optim.checkpoint_selection!r}")
    if cfg.optim.min_val_rows_for_best < 0:
        raise ValueError("min_val_rows_for_best must be >= 0")
    task.check_train_config(cfg)
