"""nb03's config: the pseudo-label recipe, the noisy-student rounds, and (nested) the settings of
the teacher's pass through nb04's engine (:class:`common.stages.infer.config.PredictConfig`).

The teacher pass nests nb04's engine config rather than copying its fields, so a flag or an
``OVERRIDES`` key names the same setting in both notebooks (``--tta``, ``--batch-windows``,
``--combine``...). nb03's defaults for it differ from nb04's: two views, bigger batches, every
CPU decoding, a 10-hour budget (a GPU notebook scores thousands of soundscapes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.core.config import StageConfig, param
from common.stages.infer.config import PredictConfig
from common.stages.pseudo.tables import CLIP_TARGET_MODES
from common.stages.train.config import CHECKPOINT_RULES
from common.teachers.config import TeacherConfig

__all__ = ["NEGATIVE_SOURCES", "SOUNDSCAPE_MODES", "TARGET_MODES", "PseudoConfig"]

SOUNDSCAPE_MODES = ("unlabelled", "all")
TARGET_MODES = ("fold", "ensemble")
NEGATIVE_SOURCES = ("unlisted", "unlabelled")

# The teacher pass: nb04's engine with nb03's scale (decode_workers 0 = every CPU,
# prefetch_files 0 = two files per CPU).
TEACHER_PREDICT = PredictConfig(tta=("orig", "reverse"), batch_windows=48, decode_workers=0,
                                prefetch_files=0, time_budget_minutes=600.0)


_CPU_PRESET: dict[str, Any] = {
    "rounds": 2, "max_views": 1, "batch_windows": 24, "device": "cpu", "cache_max_gb": 2.0,
    "session_hours": 0.0, "warm_start": True, "strong_augment": False, "student_epochs": 12}


@dataclass(frozen=True)
class PseudoConfig(StageConfig):
    """nb03 parameters; defaults are the Kaggle recipe (GPU scoring, two noisy-student rounds)."""

    prep_slug: str = param("birdclef-2026-prep", "slug of nb01's output dataset")
    models_slug: str = param("birdclef-2026-models", "slug of nb02's models dataset (teacher)")
    dataset_slug: str = param("birdclef-2026-pseudo", "slug this stage's output is published as")
    kaggle_user: str = param("", "Kaggle user for dataset-metadata.json ('' = kaggle CLI config)")
    checkpoint_glob: str = param("*_best.pt", "teacher checkpoints: file names matching this")
    soundscapes: str = param(
        "unlabelled", f"which train soundscapes to label: {SOUNDSCAPE_MODES} (windowed tasks; "
        "whole-clip tasks label every test clip of nb04's test_dir)")
    max_files: int = param(0, "label only the first N soundscapes or clips (0 = all); for trials")
    device: str = param("auto", "where the teacher runs: auto (GPU if any), cuda or cpu")
    threshold: float = param(
        0.5, "probability threshold of the hard-label view and counts (multi-label tasks)")
    min_confidence: float = param(
        0.0, "keep windows (whole-clip tasks: clips) whose top-class probability is >= this")
    target_power: float = param(
        1.0, "soft targets = probability ** power (>1 sharpens; whole-clip soft targets are "
        "renormalised to sum 1)")
    clip_targets: str = param(
        "hard", f"whole-clip tasks' targets, one of {CLIP_TARGET_MODES}: the one-hot arg-max, "
        "or the pooled probabilities")
    max_windows: int = param(
        0, "keep at most this many windows (whole-clip tasks: clips), most confident first "
        "(0 = all)")
    pseudo_targets: str = param("fold", f"student k learns from: {TARGET_MODES} (see module)")
    cache_audio: bool = param(
        True, "cache decoded soundscapes (clips) not in nb01's cache, for students")
    cache_max_gb: float = param(12.0, "stop caching past this many GB (float16 audio)")
    rounds: int = param(2, "noisy-student rounds (teacher -> student -> new teacher ...)")
    session_hours: float = param(
        11.5, "the whole stage ends within this many hours of the notebook's start (Kaggle: "
        "12 h); 0 = no limit")
    fit_session: bool = param(
        True, "at the start, cut max_windows, then student_epochs, then rounds until the "
        "projected stage fits session_hours (common.budget)")
    min_windows: int = param(20000, "fit_session keeps at least this many pseudo windows")
    min_student_epochs: int = param(10, "fit_session keeps at least this many student epochs")
    train_student: bool = param(True, "train students (False: write pseudo labels only)")
    pseudo_weight: float = param(1.0, "loss weight of a pseudo-labelled window vs a clip")
    pseudo_repeats: int = param(1, "times each pseudo window appears per student epoch")
    strong_augment: bool = param(True, "students use WaveAugment/SpecAugment 'strong' presets")
    warm_start: bool = param(False, "initialise student k from the teacher of fold k")
    student_epochs: int = param(0, "student epochs (0 = the teacher's)")
    student_backbone: str = param("", "student timm backbone ('' = the teacher's)")
    student_checkpoint: str = param(
        "last", "the epoch a student keeps (its optim.checkpoint_selection): 'last', so that "
        "the out-of-fold score the gate judges was not also chosen on those files, or "
        "'best' / 'auto' as nb02")
    student_gate: bool = param(
        True, "publish a student only when its out-of-fold score beats the teacher's on the "
        "same folds (False: publish the final round's students unconditionally)")
    student_min_gain: float = param(
        0.0, "student_gate: the out-of-fold margin a student must beat the teacher by")
    student_gate_confidence: float = param(
        0.9, "student_gate: publish a student only when it beats the teacher (by more than "
        "student_min_gain) in at least this share of paired bootstrap resamples of the "
        "validation files or clips (0 = compare the point scores only)")
    gate_resamples: int = param(1000, "student_gate: bootstrap resamples")
    positive_fractions: tuple[float, ...] = param(
        (0.05, 0.15, 0.30, 0.50), "curated positive subsets: top fractions by own-label score")
    curate_below_rating: float = param(
        0.0, "curate only clips rated below this (0 = every out-of-fold clip)")
    negative_thresholds: tuple[float, ...] = param(
        (0.5, 0.85, 0.99), "hard-negative subsets: top-class probability thresholds")
    negative_sources: tuple[str, ...] = param(
        ("unlisted",), f"known-negative windows for hard negatives, from {NEGATIVE_SOURCES}")
    negative_dir: str = param(
        "", "folder of recordings with none of the species, scored for hard negatives too")
    predict: PredictConfig = param(
        TEACHER_PREDICT, "the teacher's pass through nb04's engine (views, batching, budget)")
    teacher: TeacherConfig = param(
        TeacherConfig(teacher_weight=0.3),
        "a pretrained teacher blended into the soft pseudo labels (off by default)")

    STAGE: ClassVar[str] = "pseudo"  # names its dataset and the task defaults it takes
    # Presets scale a run; the view list is the task's (``max_views`` takes its first).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # The demo competition on a 2-core CPU: two rounds, one TTA view. Students start from
        # their teacher's weights and train 12 epochs with the teacher's augmentation: from
        # scratch with the strong presets, the cpu student lost to its teacher (demo fold 0:
        # CV 0.745 vs 0.804), warm-started it beat it (0.858 vs 0.839, one seed, a 24-epoch
        # teacher without the band-statistics path).
        "cpu": _CPU_PRESET,
        # One round of 4-epoch students after the fast preset's 10-epoch teachers.
        "fast": {**_CPU_PRESET, "rounds": 1, "student_epochs": 4},
        # Seconds, for tests and the smoke pipeline.
        "smoke": {"rounds": 1, "max_views": 1, "batch_windows": 12, "graph": "eager",
                  "threads": 2, "decode_workers": 1, "device": "cpu", "max_files": 4,
                  "cache_max_gb": 0.5, "session_hours": 0.0,
                  # A two-epoch smoke teacher reaches no task's confidence bar: keep every
                  # clip or window, so that the smoke run goes through a student.
                  "min_confidence": 0.0},
    }

    def __post_init__(self) -> None:
        if self.soundscapes not in SOUNDSCAPE_MODES:
            raise ValueError(f"soundscapes must be one of {SOUNDSCAPE_MODES}, got "
                             f"{self.soundscapes!r}")
        if self.pseudo_targets not in TARGET_MODES:
            raise ValueError(f"pseudo_targets must be one of {TARGET_MODES}, got "
                             f"{self.pseudo_targets!r}")
        bad = [s for s in self.negative_sources if s not in NEGATIVE_SOURCES]
        if bad:
            raise ValueError(f"negative_sources {bad} unknown; choose from {NEGATIVE_SOURCES}")
        if self.clip_targets not in CLIP_TARGET_MODES:
            raise ValueError(f"clip_targets must be one of {CLIP_TARGET_MODES}, got "
                             f"{self.clip_targets!r}")
        if self.student_checkpoint not in CHECKPOINT_RULES:
            raise ValueError(f"student_checkpoint must be one of {CHECKPOINT_RULES}, got "
                             f"{self.student_checkpoint!r}")
        if not 0 <= self.student_gate_confidence < 1 or self.gate_resamples < 1:
            raise ValueError("student_gate_confidence must be in [0, 1) and gate_resamples "
                             f">= 1, got {self.student_gate_confidence} and "
                             f"{self.gate_resamples}")
        if self.rounds < 0 or self.target_power <= 0 or not 0 <= self.threshold <= 1:
            raise ValueError("rounds must be >= 0, target_power > 0, threshold in [0, 1]")
