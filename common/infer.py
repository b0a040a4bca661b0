"""nb04, inference: an ensemble of checkpoints over every test soundscape, on 4 CPU cores.

Outputs in the working dir: ``submission.csv`` (the sample submission's columns in its order;
its rows first in its order, then any other window), ``infer_timings.csv`` (one row per batch),
``infer_report.json`` (speed per model, budget decisions, totals), ``infer_config.json`` and
``figures/predictions_<file>.png`` (species x time for a few soundscapes).

The work is split by role: ``common.members`` (checkpoints -> checked, compiled models),
``common.tta`` (views), ``common.predictor`` (the timed loop), ``common.ensemble`` (the
combination maths and the budget rule) and ``common.submission`` (rows and columns). This module
holds the stage config and ``run_inference``, which ties them together.

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
from typing import Any

import numpy as np
import pandas as pd
import torch

from common import competition as comp
from common import plots
from common.config import StageConfig, param, save_config
from common.ensemble import METHODS, combine_models, smooth_windows
from common.members import GRAPHS, Member, find_checkpoints, group_by_frontend, load_members
from common.paths import find_competition_dir, find_dataset_dir
from common.plots import save_figure
from common.predictor import DecodedFile, EnsemblePredictor, Predictions
from common.runtime import cpu_count
from common.submission import build_submission, validate_submission
from common.tta import VIEWS, check_views

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
    tta: tuple[str, ...] = param(VIEWS, f"TTA views, 'orig' first; any subset of {VIEWS}")
    gain_db: float = param(3.0, "gain of the gain_up / gain_down views, dB")
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
    n_plot_files: int = param(3, "soundscapes drawn as species x time figures")

    PRESETS = {
        "cpu": {"tta": ("orig", "reverse"), "time_budget_minutes": 30.0},
        "smoke": {"threads": 2, "graph": "eager", "batch_windows": 12, "probe_files": 1,
                  "replan_every_files": 2, "n_plot_files": 1},
    }

    def __post_init__(self) -> None:
        if self.combine not in METHODS:
            raise ValueError(f"combine must be one of {METHODS}, got {self.combine!r}")
        if self.graph not in GRAPHS:
            raise ValueError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        check_views(self.tta)
        if self.batch_windows < 1:
            raise ValueError("batch_windows must be >= 1")




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
        loaded = load_members(paths, classes, weights, root=root)
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
        probabilities, files in order and windows in time; rows no member reached are NaN.
    """
    predictor = EnsemblePredictor(members, cfg, classes, clock=clock, started_at=started_at,
                                  device=device)
    predictions = predictor.predict(paths, on_decoded=on_decoded)
    probs = combine_models(predictions.scores, predictions.covered, [m.weight for m in members],
                           cfg.combine)
    return predictions, probs


def run_inference(cfg: InferConfig, clock: Callable[[], float] = time.perf_counter
                  ) -> InferResult:
    """Run nb04 end to end; see the module docstring for the outputs.

    ``clock`` (seconds) drives the time budget; tests inject a fake one.
    """
    started_at = clock()
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "infer_config.json")
    threads = cfg.threads if cfg.threads > 0 else cpu_count()
    torch.set_num_threads(threads)
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    sample_df = comp.read_sample_submission(competition_dir)
    classes = comp.species_columns(sample_df)
    paths = list_test_files(competition_dir / "test_soundscapes", cfg.max_files)
    log.info("competition data: %s; %d test files; %d torch threads", competition_dir,
             len(paths), threads)

    members = load_ensemble(cfg, classes)
    groups = group_by_frontend(members)
    log.info("ensemble: %d models in %d frontend groups; views %s; combine %s", len(members),
             len(groups), ",".join(cfg.tta), cfg.combine)
    predictions = None
    if paths:
        predictions, probs = predict_files(members, paths, cfg, classes, clock, started_at)
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
        log.info("no test audio in %s: writing a submission shaped like the sample",
                 competition_dir / "test_soundscapes")
        probs, row_ids = np.zeros((0, len(classes)), np.float32), []
        fallback = np.full(len(classes), cfg.fallback_probability, np.float32)
    submission_df = build_submission(row_ids, probs, sample_df, fallback)
    validate_submission(submission_df, sample_df)
    # %.7g keeps relative precision: fixed decimals would turn small probabilities into tied
    # zeros, and ties cost ROC-AUC.
    submission_df.to_csv(out / "submission.csv", index=False, float_format="%.7g")

    timings_df = pd.DataFrame(predictions.batch_log if predictions else [],
                              columns=["batch", "windows", "files", "seconds",
                                       "elapsed_seconds", "models", "views"])
    timings_df.to_csv(out / "infer_timings.csv", index=False)
    figures = _plot_files(predictions, probs, classes, out, cfg.n_plot_files)
    report = _report(cfg, members, predictions, submission_df, threads,
                     clock() - started_at)
    (out / "infer_report.json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("inference done: %d rows in %.1f s -> %s", len(submission_df),
             report["seconds"], out / "submission.csv")
    return InferResult(out, submission_df, timings_df, report, figures, predictions)


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
