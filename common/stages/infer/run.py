"""nb04, inference: an ensemble of checkpoints over every test file, on 4 CPU cores.

Both tasks (``cfg.task_spec``) run the same loop: every test file of ``<competition>/<test_dir>``
is cut into 5-s windows, each window goes through every model and TTA view, and the models are
combined per window with the task's activation (sigmoid for multi-label, softmax for
single-label). Then, by the task's ``windowing``:

- ``windows_5s`` (BirdCLEF): one row per window, ``row_id`` + one probability per species;
- ``whole_clip`` (messy mashup): the windows' probabilities are averaged per clip, optionally
  blended with nb02's feature models (``common.tasks.mashup.feature_blend``: ``blend.json`` and
  ``features.csv`` of the models dataset), and the arg-max written as one label per clip
  (``common.tasks.base.format_submission``: the sample submission's columns and id order, ids = file
  stems).

Outputs in the working dir: ``submission.csv`` (the sample submission's columns in its order;
its rows first in its order, then any other window or clip), ``infer_timings.csv`` (one row per
batch), ``infer_report.json`` (speed per model, budget decisions, totals, the blend),
``infer_config.json``, for whole-clip tasks ``clip_probs.csv`` (``id`` + the final probability of
each class), and ``figures/``: species x time for a few soundscapes (windowed tasks) or the
predicted class counts and top-probability histogram (whole-clip tasks).

The work is split by role: ``common.stages.infer.members`` (checkpoints -> checked, compiled
models),
``common.stages.infer.tta`` (views), ``common.stages.infer.predictor`` (the timed loop),
``common.stages.infer.ensemble`` (the
combination maths, clip pooling and the budget rule), ``common.stages.infer.submission`` (rows and
columns)
and ``common.tasks.mashup.feature_blend``. This module holds the stage config and
``run_inference``, which
ties them together.

With no audio in the test folder (Kaggle's public data), the checkpoints are still loaded and
checked, so a broken model fails the quick public run rather than the hidden rerun, and a valid
submission shaped like the sample is written in seconds.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from common.audio.augment import SpecAugmentConfig
from common.core.config import StageConfig, param, save_config
from common.core.paths import find_competition_dir, find_dataset_dir
from common.core.runtime import cpu_count
from common.data import competition as comp
from common.report import prediction_plots as plots
from common.report.plots import save_figure
from common.stages.infer.ensemble import METHODS, combine_models, pool_clips, smooth_windows
from common.stages.infer.members import (
    GRAPHS,
    Member,
    find_checkpoints,
    group_by_frontend,
    load_members,
)
from common.stages.infer.predictor import DecodedFile, EnsemblePredictor, Predictions
from common.stages.infer.submission import (
    build_clip_submission,
    build_submission,
    validate_submission,
)
from common.stages.infer.tta import SPEC_VIEW_PREFIX, VIEWS, check_views
from common.tasks.base import Task
from common.tasks.mashup.feature_blend import FeatureBlend, load_feature_blend

__all__ = ["InferConfig", "InferResult", "list_test_files", "load_ensemble", "predict_files",
           "run_inference"]

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".ogg", ".flac", ".wav", ".mp3")


@dataclass(frozen=True)
class InferConfig(StageConfig):
    """nb04 parameters; defaults are the Kaggle recipe (all TTA views, mean of logits)."""

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
    combine: str = param("logit_mean", f"ensemble combination, one of {METHODS}")
    model_weights: tuple[float, ...] = param(
        (), "one weight per checkpoint in sorted path order (empty = equal weights)")
    tta: tuple[str, ...] = param(
        VIEWS, f"TTA views, 'orig' first; any of {VIEWS} and {SPEC_VIEW_PREFIX}1, "
        f"{SPEC_VIEW_PREFIX}2, ... (SpecAugment'd passes, masks fixed by the seed)")
    gain_db: float = param(3.0, "gain of the gain_up / gain_down views, dB")
    # The masks of training's default recipe (2 + 2 masks, <= 12 mel bins, <= 24 frames), so a
    # masked window is one the model has learnt on; p = 1 because an unmasked pass only
    # repeats orig.
    tta_spec_augment: SpecAugmentConfig = param(
        SpecAugmentConfig(p=1.0), f"time and frequency masks of the {SPEC_VIEW_PREFIX}<k> views")
    tta_seed: int = param(0, f"seed of the {SPEC_VIEW_PREFIX}<k> masks (with k and the window)")
    test_dir: str = param("test_soundscapes",
                          "folder of the test audio inside the competition folder")
    smoothing_kernel: tuple[float, ...] = param(
        (), "weights over neighbouring windows, odd length, e.g. 0.25,0.5,0.25 (empty = off)")
    prob_power: float = param(1.0, "probabilities raised to this power (1 = raw sigmoid)")
    batch_windows: int = param(12, "windows per forward pass (12 = one 60-s file)")
    threads: int = param(0, "torch intra-op threads (0 = every CPU)")
    decode_workers: int = param(1, "threads decoding audio ahead of the models")
    prefetch_files: int = param(4, "decoded files waiting in the queue at most")
    graph: str = param("auto", "'trace' (jit trace + freeze), 'eager', or 'auto' (the faster)")
    channels_last: bool = param(True, "channels-last memory format for the backbones")
    time_budget_minutes: float = param(
        75.0, "wall time for the prediction loop; Kaggle stops the notebook at 90 min")
    probe_files: int = param(3, "files measured before the first budget projection")
    replan_every_files: int = param(25, "re-project the budget every this many files")
    fallback_probability: float = param(
        0.0, "value for windows no model predicted when nothing else is known")
    max_files: int = param(0, "predict only the first N test files (0 = all); for trials")
    n_plot_files: int = param(3, "soundscapes drawn as species x time figures (windowed tasks)")
    feature_blend: bool = param(
        True, "whole-clip tasks: blend with nb02's feature models when the models dataset "
        "holds blend.json and features.csv (refitted here on all rows)")
    feature_workers: int = param(0, "processes extracting test-clip features (0 = every CPU)")
    feature_seed: int = param(0, "random state of the refitted feature models")

    STAGE: ClassVar[str] = "infer"  # names its dataset and the task defaults it takes
    PRESETS = {
        "cpu": {"tta": ("orig", "reverse"), "time_budget_minutes": 30.0},
        "smoke": {"threads": 2, "graph": "eager", "batch_windows": 12, "probe_files": 1,
                  "replan_every_files": 2, "n_plot_files": 1, "feature_workers": 1},
    }

    def __post_init__(self) -> None:
        if self.combine not in METHODS:
            raise ValueError(f"combine must be one of {METHODS}, got {self.combine!r}")
        if self.graph not in GRAPHS:
            raise ValueError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        check_views(self.tta)
        if self.batch_windows < 1:
            raise ValueError("batch_windows must be >= 1")
        if self.task_spec.windowing == "whole_clip" and (
                len(self.smoothing_kernel) > 1 or self.prob_power != 1.0):
            raise ValueError(f"smoothing_kernel and prob_power shape per-window probabilities "
                             f"for AUC; the {self.task} task pools windows into one label per "
                             "clip: leave them at their defaults")




@dataclass
class InferResult:
    """What nb04 made; every path is inside ``output_dir``."""

    output_dir: Path
    submission_df: pd.DataFrame
    timings_df: pd.DataFrame
    report: dict[str, Any]
    figures: dict[str, Path]
    predictions: Predictions | None


def list_test_files(test_dir: str | Path, max_files: int = 0) -> list[Path]:
    """Audio files in ``test_dir`` sorted by name (a readme or nothing gives ``[]``)."""
    test_dir = Path(test_dir)
    if not test_dir.is_dir():
        return []
    files = sorted(p for p in test_dir.iterdir()
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    return files[:max_files] if max_files else files


def load_ensemble(cfg: InferConfig, classes: list[str]) -> list[Member]:
    """Every checkpoint of the models dataset plus, when attached, nb03's students.

    ``cfg.model_weights`` gives one weight per checkpoint: models first, then students, each in
    sorted path order. Member names are relative to their dataset folder, prefixed with the
    slug for students.
    """
    models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
    sources = [(models_dir, find_checkpoints(models_dir, cfg.checkpoint_glob))]
    if cfg.pseudo_slug:
        try:
            pseudo_dir = find_dataset_dir(cfg.input_root, cfg.pseudo_slug)
        except FileNotFoundError:
            log.info("no %s dataset attached: the ensemble is nb02's models only", cfg.pseudo_slug)
        else:
            students = sorted(p for p in pseudo_dir.rglob("*.pt")
                              if fnmatch.fnmatch(p.name, cfg.pseudo_checkpoint_glob))
            if students:
                sources.append((pseudo_dir, students))
            else:
                log.warning("%s holds no checkpoint matching %r: no student in the ensemble",
                            pseudo_dir, cfg.pseudo_checkpoint_glob)
    n_total = sum(len(paths) for _, paths in sources)
    if cfg.model_weights and len(cfg.model_weights) != n_total:
        names = [str(p) for _, paths in sources for p in paths]
        raise ValueError(f"model_weights has {len(cfg.model_weights)} values for {n_total} "
                         f"checkpoints (in this order: {names})")
    members: list[Member] = []
    for i, (root, paths) in enumerate(sources):
        weights = cfg.model_weights[len(members):len(members) + len(paths)]
        loaded = load_members(paths, classes, weights, root=root,
                              window_seconds=cfg.task_spec.window_seconds)
        if i:
            for m in loaded:
                m.name = f"{root.name}/{m.name}"
        members += loaded
    rates = {m.frontend_cfg.sample_rate for m in members}
    if len(rates) > 1:
        raise ValueError(f"nb02 models and nb03 students use different sample rates ({rates}); "
                         "set pseudo_slug='' or retrain the students")
    return members


def predict_files(members: list[Member], paths: list[Path], cfg: InferConfig,
                  classes: list[str], clock: Callable[[], float] = time.perf_counter,
                  started_at: float | None = None, device: str | torch.device = "cpu",
                  on_decoded: Callable[[DecodedFile], None] | None = None
                  ) -> tuple[Predictions, np.ndarray]:
    """Ensemble probabilities for every 5-s window of ``paths`` (nb04's test files, nb03's
    unlabelled soundscapes): one loop, one frontend, one combination rule for both.

    Returns:
        ``(predictions, probs)``: the raw per-member output (``predictions.row_ids``,
        ``file_ids``, ``failed_files``...) and ``(windows, classes)`` float32 combined
        probabilities (the task's activation: sigmoid, or softmax for single-label tasks),
        files in order and windows in time; rows no member reached are NaN.
    """
    predictor = EnsemblePredictor(members, cfg, classes, clock=clock, started_at=started_at,
                                  device=device)
    predictions = predictor.predict(paths, on_decoded=on_decoded)
    probs = combine_models(predictions.scores, predictions.covered, [m.weight for m in members],
                           cfg.combine, cfg.task_spec)
    return predictions, probs


def read_task_sample(task: Task, competition_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """The sample submission and the class list in model-output order.

    ``windows_5s`` tasks: the sample's species columns are the classes
    (``comp.read_sample_submission``). ``whole_clip`` tasks: every column read as a string
    (clip ids and labels), checked against the task's submission shape; the classes are the
    task's (``task.classes``, else ``common.tasks.base.task_classes``).
    """
    if task.windowing == "windows_5s":
        sample_df = comp.read_sample_submission(competition_dir)
        return sample_df, comp.species_columns(sample_df)
    path = competition_dir / "sample_submission.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the competition folder is incomplete")
    sample_df = pd.read_csv(path, dtype=str, keep_default_na=False)
    classes = list(task.classes) if task.classes else task.read_classes(competition_dir)
    expected = [task.id_column, *([task.label_column] if task.submission == "label_per_clip"
                                  else classes)]
    if [str(c) for c in sample_df.columns] != expected:
        raise ValueError(f"{path}: columns {list(sample_df.columns)[:6]} are not the "
                         f"{task.name} submission's {expected[:6]}; is --task right?")
    return sample_df, classes


def run_inference(cfg: InferConfig, clock: Callable[[], float] = time.perf_counter
                  ) -> InferResult:
    """Run nb04 end to end; see the module docstring for the outputs.

    ``clock`` (seconds) drives the time budget; tests inject a fake one. For whole-clip tasks
    the feature models are refitted and the test features extracted before the models run,
    so the budget of the prediction loop (counted from the start) leaves room for them.
    """
    started_at = clock()
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "infer_config.json")
    threads = cfg.threads if cfg.threads > 0 else cpu_count()
    torch.set_num_threads(threads)
    task = cfg.task_spec
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    sample_df, classes = read_task_sample(task, competition_dir)
    test_dir = competition_dir / cfg.test_dir
    paths = list_test_files(test_dir, cfg.max_files)
    log.info("competition data: %s; %d test files in %s; %d torch threads", competition_dir,
             len(paths), cfg.test_dir, threads)

    members = load_ensemble(cfg, classes)
    groups = group_by_frontend(members)
    log.info("ensemble: %d models in %d frontend groups; views %s; combine %s", len(members),
             len(groups), ",".join(cfg.tta), cfg.combine)
    whole_clip = task.windowing == "whole_clip"
    blend_info: dict[str, Any] = {}
    feature_blend, feature_probs = None, {}
    if whole_clip and cfg.feature_blend and paths:
        workers = cfg.feature_workers if cfg.feature_workers > 0 else cpu_count()
        feature_blend, note = load_feature_blend(
            find_dataset_dir(cfg.input_root, cfg.models_slug), classes, task.label_column,
            cfg.feature_seed, n_jobs=workers)
        blend_info["note"] = note
        if feature_blend is not None:
            feature_probs, failed = feature_blend.predict(paths, task.sample_rate, workers)
            blend_info["failed_feature_files"] = failed
    elif whole_clip:
        blend_info["note"] = ("feature_blend is off" if not cfg.feature_blend
                              else "no test audio")

    predictions = None
    if paths:
        predictions, probs = predict_files(members, paths, cfg, classes, clock, started_at)
    else:
        log.info("no test audio in %s: writing a submission shaped like the sample", test_dir)
        probs = np.zeros((0, len(classes)), np.float32)
    if whole_clip:
        submission_df, clip_probs, clip_ids = _clip_submission(
            task, cfg, predictions, probs, classes, sample_df, feature_blend, feature_probs,
            blend_info)
        _clip_table(clip_ids, clip_probs, classes).to_csv(out / "clip_probs.csv", index=False,
                                                         float_format="%.6g")
        figures = _plot_clips(submission_df, clip_probs, task, classes, out)
    else:
        submission_df, probs = _window_submission(cfg, predictions, probs, classes, sample_df)
        figures = _plot_files(predictions, probs, classes, out, cfg.n_plot_files)
    # %.7g keeps relative precision: fixed decimals would turn small probabilities into tied
    # zeros, and ties cost ROC-AUC.
    submission_df.to_csv(out / "submission.csv", index=False, float_format="%.7g")

    timings_df = pd.DataFrame(predictions.batch_log if predictions else [],
                              columns=["batch", "windows", "files", "seconds",
                                       "elapsed_seconds", "models", "views"])
    timings_df.to_csv(out / "infer_timings.csv", index=False)
    report = _report(cfg, members, predictions, submission_df, threads,
                     clock() - started_at)
    if whole_clip:
        report.update(_clip_report(task, submission_df, classes, feature_blend, blend_info))
    (out / "infer_report.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("inference done: %d rows in %.1f s -> %s", len(submission_df),
             report["seconds"], out / "submission.csv")
    return InferResult(out, submission_df, timings_df, report, figures, predictions)


def _window_submission(cfg: InferConfig, predictions: Predictions | None, probs: np.ndarray,
                       classes: list[str], sample_df: pd.DataFrame
                       ) -> tuple[pd.DataFrame, np.ndarray]:
    """``windows_5s`` tasks: fill, smooth and sharpen the window probabilities, one row each.

    Returns the validated submission and the final ``(windows, classes)`` probabilities.
    """
    if predictions is not None:
        covered = ~np.isnan(probs).any(axis=1)
        # Windows no model reached get the mean prediction (a class prior), not a constant.
        fallback = (probs[covered].mean(axis=0) if covered.any()
                    else np.full(len(classes), cfg.fallback_probability, np.float32))
        probs = np.where(covered[:, None], probs, fallback[None, :])
        probs = smooth_windows(probs, predictions.file_ids, cfg.smoothing_kernel)
        if cfg.prob_power != 1.0:
            probs = np.power(np.clip(probs, 0.0, 1.0), cfg.prob_power)
            fallback = np.power(fallback, cfg.prob_power)
        row_ids = predictions.row_ids
        if len(set(row_ids)) != len(row_ids):
            log.warning("test files with the same stem share row ids; the later file wins")
    else:
        row_ids = []
        fallback = np.full(len(classes), cfg.fallback_probability, np.float32)
    submission_df = build_submission(row_ids, probs, sample_df, fallback)
    validate_submission(submission_df, sample_df)
    return submission_df, probs


def _clip_submission(task: Task, cfg: InferConfig, predictions: Predictions | None,
                     probs: np.ndarray, classes: list[str], sample_df: pd.DataFrame,
                     feature_blend: FeatureBlend | None, feature_probs: dict[str, np.ndarray],
                     blend_info: dict[str, Any]
                     ) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """``whole_clip`` tasks: pool windows per clip, blend, one row per clip.

    Clips no model reached (undecodable, or past the deadline) take the mean of the other
    clips (a class prior) before the blend, so the feature models still speak for them; sample
    ids without a test file take that prior too. Ids are file stems, as in the sample.

    Returns ``(submission_df, (clips, classes) final probabilities, clip ids)``, clips in the
    submission's order.
    """
    if predictions is not None:
        ids = [p.stem for p in predictions.paths]
        clip_probs = pool_clips(probs, predictions.file_ids, len(ids))
    else:
        ids, clip_probs = [], np.zeros((0, len(classes)), np.float32)
    seen = ~np.isnan(clip_probs).any(axis=1)
    prior = (clip_probs[seen].mean(axis=0) if seen.any()
             else np.full(len(classes), cfg.fallback_probability, np.float32))
    clip_probs = np.where(seen[:, None], clip_probs, prior[None, :]).astype(np.float32)
    if feature_blend is not None:
        cnn_labels = clip_probs.argmax(axis=1)
        clip_probs = feature_blend.combine(clip_probs, feature_probs)
        blend_info["labels_changed"] = int((clip_probs.argmax(axis=1) != cnn_labels).sum())
    return build_clip_submission(task, ids, clip_probs, classes, sample_df, prior)


def _clip_table(ids: list[str], probs: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """``id`` + one probability column per class: ``clip_probs.csv``."""
    table = pd.DataFrame(np.asarray(probs, np.float32), columns=pd.Index(classes, dtype=object))
    table.insert(0, "id", pd.Series(ids, dtype=object))
    return table


def _plot_clips(submission_df: pd.DataFrame, clip_probs: np.ndarray, task: Task,
                classes: list[str], out: Path) -> dict[str, Path]:
    """Predicted class counts and the top-probability histogram of whole-clip predictions."""
    if task.submission == "label_per_clip":
        labels = submission_df[task.label_column].astype(str).tolist()
    else:
        labels = [classes[j] for j in clip_probs.argmax(axis=1)] if len(clip_probs) else []
    top = clip_probs.max(axis=1) if len(clip_probs) else np.zeros(0)
    fig = plots.clip_predictions(labels, top, classes, title=f"nb04 {task.name}")
    return {"clip_predictions": save_figure(fig, out / "figures" / "clip_predictions.png")}


def _clip_report(task: Task, submission_df: pd.DataFrame, classes: list[str],
                 feature_blend: FeatureBlend | None, blend_info: dict[str, Any]
                 ) -> dict[str, Any]:
    report: dict[str, Any] = {"n_clips": int(len(submission_df))}
    if task.submission == "label_per_clip":
        counts = submission_df[task.label_column].astype(str).value_counts()
        report["predicted_counts"] = {c: int(counts.get(c, 0)) for c in classes}
    report["feature_blend"] = {
        "members": feature_blend.members if feature_blend else ["cnn"],
        "weights": feature_blend.weights if feature_blend else {"cnn": 1.0},
        "dropped": feature_blend.dropped if feature_blend else [],
        "n_train_rows": feature_blend.n_train_rows if feature_blend else 0,
        "oof_macro_f1": feature_blend.oof_macro_f1 if feature_blend else {},
        **blend_info,
    }
    return report


def _plot_files(predictions: Predictions | None, probs: np.ndarray, classes: list[str],
                out: Path, n_files: int) -> dict[str, Path]:
    """Species x time figures of the first ``n_files`` soundscapes."""
    if predictions is None or n_files <= 0:
        return {}
    figures = {}
    offset = 0
    for path, n in zip(predictions.paths, predictions.n_windows):
        if len(figures) >= n_files:
            break
        fig = plots.soundscape_predictions(probs[offset:offset + n], classes, title=path.name)
        figures[path.stem] = save_figure(fig, out / "figures" / f"predictions_{path.stem}.png")
        offset += n
    return figures


def _report(cfg: InferConfig, members: list, predictions: Predictions | None,
            submission_df: pd.DataFrame, threads: int, seconds: float) -> dict[str, Any]:
    report: dict[str, Any] = {
        "n_models": len(members),
        "models": [m.name for m in members],
        "model_weights": [m.weight for m in members],
        "combine": cfg.combine,
        "tta": list(cfg.tta),
        "threads": threads,
        "n_rows": int(len(submission_df)),
        "seconds": round(seconds, 2),
        "time_budget_minutes": cfg.time_budget_minutes,
    }
    if predictions is not None:
        windows = int(sum(predictions.n_windows))
        report.update({
            "n_files": len(predictions.paths),
            "n_windows": windows,
            "n_failed_files": len(predictions.failed_files),
            "failed_files": predictions.failed_files,
            "windows_covered_per_model": [int(c.sum()) for c in predictions.covered],
            "runner": [m.runner_kind for m in members],
            "model_windows_per_second": [round(1.0 / s, 1) if s > 0 else None
                                         for s in predictions.member_seconds_per_window],
            "stopped_at_deadline": predictions.stopped_early,
            "budget_events": predictions.events,
        })
    return report
