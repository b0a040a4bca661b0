"""nb04's configs: the prediction engine's settings (:class:`PredictConfig`) nested in the stage's
(:class:`InferConfig`).

:class:`PredictConfig` is everything :class:`common.stages.infer.predictor.EnsemblePredictor`
reads (TTA views, the combination rule, batching, graph mode, threads, the time budget). nb03's
teacher pass runs the same engine, so :class:`common.stages.pseudo.config.PseudoConfig` nests the
same class instead of copying its fields. Every leaf name is unique, so the short names of the
flat configs keep working as flags and ``OVERRIDES`` keys (``--tta``, ``--batch-windows``).

The TTA view list ``tta`` is a task fact (BirdCLEF: the four waveform views; a music task sets
SpecAugment'd passes in its stage defaults); ``max_views`` is the scale knob that presets turn
(the first ``max_views`` views of that list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.audio.augment import SpecAugmentConfig
from common.core.config import StageConfig, param
from common.stages.infer.backends.base import CHOICES as BACKEND_CHOICES
from common.stages.infer.ensemble import METHODS
from common.stages.infer.members import GRAPHS
from common.stages.infer.tta import SPEC_VIEW_PREFIX, VIEWS, check_views
from common.teachers.config import TeacherConfig

__all__ = ["InferConfig", "PredictConfig"]


@dataclass(frozen=True)
class PredictConfig:
    """How the ensemble predicts: views, combination, batching, graph, threads, time budget."""

    tta: tuple[str, ...] = param(
        VIEWS, f"TTA views, 'orig' first; any of {VIEWS} and {SPEC_VIEW_PREFIX}1, "
        f"{SPEC_VIEW_PREFIX}2, ... (SpecAugment'd passes, masks fixed by the seed)")
    max_views: int = param(0, "use only the first N views of tta (0 = all of them)")
    gain_db: float = param(3.0, "gain of the gain_up / gain_down views, dB")
    # The masks of training's default recipe (2 + 2 masks, <= 12 mel bins, <= 24 frames), so a
    # masked window is one the model has learnt on; p = 1 because an unmasked pass only
    # repeats orig.
    tta_spec_augment: SpecAugmentConfig = param(
        SpecAugmentConfig(p=1.0), f"time and frequency masks of the {SPEC_VIEW_PREFIX}<k> views")
    tta_seed: int = param(0, f"seed of the {SPEC_VIEW_PREFIX}<k> masks (with k and the window)")
    combine: str = param("logit_mean", f"ensemble combination, one of {METHODS}")
    batch_windows: int = param(12, "windows per forward pass (12 = one 60-s file)")
    threads: int = param(0, "torch intra-op threads (0 = every CPU)")
    decode_workers: int = param(1, "threads decoding audio ahead of the models (0 = every CPU)")
    prefetch_files: int = param(
        4, "decoded files waiting in the queue at most (0 = two per CPU, at least 4)")
    graph: str = param("auto", f"one of {GRAPHS}: jit trace + freeze, eager, or the faster")
    channels_last: bool = param(True, "channels-last memory format for the backbones")
    backend: str = param(
        "torch", f"where the models run, one of {BACKEND_CHOICES}: 'auto' times each installed "
        "backend on the first batch and keeps the fastest; a missing one falls back to torch")
    backend_tolerance: float = param(
        1e-3, "largest max |logit difference| an exported model may show against PyTorch on "
        "the first batch (above: an error, or left out of auto)")
    export_dir: str = param(
        "", "where exports go when a checkpoint's folder is read-only ('' = "
        "<cwd>/exported_models)")
    int8: bool = param(
        False, "static int8 on the chosen backend (ONNX Runtime; OpenVINO through NNCF; auto: "
        "both, the faster kept), calibrated on the task's labelled training windows; kept per "
        "model only when faster and its macro-AUC drops <= int8_max_auc_drop")
    int8_max_auc_drop: float = param(
        0.002, "largest macro-AUC loss (fp32 -> int8, labelled windows) int8 may cost")
    int8_windows: int = param(
        240, "labelled windows read for int8: the first half calibrates, the second scores")
    tune_malloc: bool = param(
        True, "set glibc mallopt thresholds so freed batch buffers are reused, not re-faulted")
    time_budget_minutes: float = param(
        75.0, "wall time for the prediction loop; Kaggle stops the notebook at 90 min")
    probe_files: int = param(3, "files measured before the first budget projection")
    replan_every_files: int = param(25, "re-project the budget every this many files")

    def __post_init__(self) -> None:
        if self.combine not in METHODS:
            raise ValueError(f"combine must be one of {METHODS}, got {self.combine!r}")
        if self.backend not in BACKEND_CHOICES:
            raise ValueError(f"backend must be one of {BACKEND_CHOICES}, got {self.backend!r}")
        if self.int8 and self.backend not in ("onnxruntime", "openvino", "auto"):
            raise ValueError(f"int8 runs on ONNX Runtime or OpenVINO: set backend='onnxruntime', "
                             f"'openvino' or 'auto', not {self.backend!r}, or int8=False")
        if self.graph not in GRAPHS:
            raise ValueError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        check_views(self.tta)
        if self.batch_windows < 1:
            raise ValueError("batch_windows must be >= 1")
        if self.max_views < 0:
            raise ValueError("max_views must be >= 0 (0 = every view of tta)")

    @property
    def views(self) -> tuple[str, ...]:
        """The views that run: the first ``max_views`` of ``tta`` (all of them for 0)."""
        return self.tta[:self.max_views] if self.max_views else self.tta


_CPU_PRESET: dict[str, Any] = {"max_views": 2, "time_budget_minutes": 30.0}


@dataclass(frozen=True)
class InferConfig(StageConfig):
    """nb04 parameters; defaults are the Kaggle recipe (all TTA views, mean of logits).

    A task may extend it with fields of its own (:meth:`common.tasks.base.Task.config_class`:
    a feature-model blend) and checks the options against itself
    (:meth:`common.tasks.base.Task.check_infer_config`).
    """

    models_slug: str = param("birdclef-2026-models", "dataset holding the nb02 checkpoints")
    checkpoint_glob: str = param(
        "*_best.pt", "checkpoints used: file names matching this glob (nb02 writes *_best.pt, "
        "*_last.pt and resume/ states; '*.pt' would take them all)")
    pseudo_slug: str = param(
        "birdclef-2026-pseudo", "dataset holding nb03's student checkpoints, ensembled with the "
        "nb02 models when attached ('' = never)")
    pseudo_checkpoint_glob: str = param(
        "*_student_fold*_best.pt", "student checkpoints used from the pseudo dataset (nb03 "
        "publishes its final round's students under this name)")
    model_weights: tuple[float, ...] = param(
        (), "one weight per checkpoint in sorted path order (empty = equal weights)")
    test_dir: str = param("test_soundscapes",
                          "folder of the test audio inside the competition folder")
    smoothing_kernel: tuple[float, ...] = param(
        (), "weights over neighbouring windows, odd length, e.g. 0.25,0.5,0.25 (empty = off)")
    prob_power: float = param(1.0, "probabilities raised to this power (1 = raw sigmoid)")
    fallback_probability: float = param(
        0.0, "value for windows no model predicted when nothing else is known")
    max_files: int = param(0, "predict only the first N test files (0 = all); for trials")
    n_plot_files: int = param(3, "soundscapes drawn as species x time figures (windowed tasks)")
    predict: PredictConfig = param(PredictConfig(), "the prediction engine (views, batching...)")
    teacher: TeacherConfig = param(
        TeacherConfig(teacher_weight=0.2),
        "a pretrained teacher rank-blended into the submission when it fits the time budget "
        "(off by default)")

    STAGE: ClassVar[str] = "infer"  # names its dataset and the task defaults it takes
    # Presets scale a run; the view list itself is the task's (``max_views`` takes its first).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu": _CPU_PRESET,
        "fast": _CPU_PRESET,  # the cpu run with fewer epochs: nothing of nb04 changes
        "smoke": {"threads": 2, "graph": "eager", "batch_windows": 12, "probe_files": 1,
                  "replan_every_files": 2, "n_plot_files": 1},
    }

    def __post_init__(self) -> None:
        self.task_spec.check_infer_config(self)
