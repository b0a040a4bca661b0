"""nb03, pseudo labels and noisy student: a teacher ensemble labels unlabelled audio (BirdCLEF's
unlabelled train soundscapes, the mashup's test clips), a student learns from it with stronger
augmentation, and the student becomes the next teacher.

One round ``r`` (``rounds`` of them, chained):

1. **Score.** The teacher ensemble (round 1: every fold and backbone of nb02's models dataset
   matching ``checkpoint_glob``; round r > 1: the students of round r - 1) predicts every 5-s
   window of ``train_soundscapes/`` with nb04's engine
   (:func:`common.stages.infer.run.predict_files`:
   same frontend, TTA and combination rule as the submission). ``soundscapes="unlabelled"``
   labels the files not in the labels file, ``"all"`` every file. Files are decoded in a thread
   pool ahead of the models, with a progress bar; files that fail to decode are skipped and
   listed in ``pseudo_bad_files.csv``. The decoded audio of files not in nb01's cache is
   written to ``cache/`` (up to ``cache_max_gb``), so students read memory maps.
2. **Label.** The recipe (2025 winners: soft pseudo labels, often sharpened by a power):
   targets are the ensemble probabilities raised to ``target_power`` (1 = raw; > 1 pushes
   uncertain scores towards 0, so noise from many weak scores does not add up), on windows
   whose top-class probability is at least ``min_confidence`` (0 = keep every window: the low
   scores are informative soft negatives), at most ``max_windows`` (most confident first).
   ``pseudo_targets="fold"`` (default) also writes one table per fold, labelled by that fold's
   teacher alone; the student of fold k learns from it, so fold k's held-out soundscapes never
   reach the student through a teacher that trained on them and the student's CV stays honest.
   ``"ensemble"`` gives every fold the full ensemble's (stronger) labels; the CV is then
   optimistic. The tables themselves are made by :mod:`common.stages.pseudo.tables`.
3. **Train the student.** nb02's training (:func:`common.stages.train.run.run_training`) with the
   teacher's recipe (its ``train_config.json``) plus the pseudo table as extra windows (soft
   targets, loss weight ``pseudo_weight``, ``pseudo_repeats`` copies per epoch), strong waveform
   and spectrogram augmentation, and optionally a warm start from the teacher of the same fold.
   The student is validated exactly like the teacher (held-out labelled soundscapes of each
   fold), so the two CV numbers compare directly.

Once, from the nb02 teacher: named data subsets (:mod:`common.stages.pseudo.subsets`):
``subset_pos_top<pct>
.csv`` (confidence-curated positives from nb02's out-of-fold focal predictions) and
``subset_neg_t<thr>.csv`` (hard negatives from known-negative windows), for nb02 to include.

Outputs (working dir, published as the ``pseudo`` dataset):

- ``pseudo_labels_soft.csv`` (final round): ``filename, start, end`` (seconds), ``key``,
  ``start_seconds``, ``row_id``, ``fold`` (-1 for unlabelled files, else the file's CV fold),
  ``weight``, ``confidence`` (top-class probability before the power), one column per species;
  it is directly an nb02 extra windows table. Per round: ``pseudo_labels_soft_r<r>.csv`` and
  ``pseudo_labels_soft_r<r>_fold<k>.csv``;
- ``pseudo_labels_hard_t050.csv`` (0/1 at ``threshold``), ``pseudo_summary.json``,
  ``pseudo_class_counts.csv``, ``figures/confidence_histogram.png``, ``pseudo_bad_files.csv``;
- ``<backbone>_student_fold<k>_best.pt``: the final round's students (nb04 ensembles these with
  nb02's models); ``rounds/r<r>/``: each round's full nb02 training output;
- ``rounds_summary.csv``: the teacher's and each student's out-of-fold soundscape AUC (the
  task's validation score: see :func:`_round_scores`);
- ``subset_*.csv`` + ``subsets_summary.csv``; ``cache/``; ``pseudo_config.json``;
  ``dataset-metadata.json``.

**Whole-clip, single-label tasks** (``cfg.task_spec``: the messy-mashup genres) run the same
rounds with clips instead of windows:

- the unlabelled audio is the competition's test clips (nb04's ``InferConfig.test_dir`` of the
  task), scored by the same engine (every 5-s window, the task's TTA views, softmax), the
  window probabilities pooled per clip (mean, :func:`common.stages.infer.ensemble.pool_clips`, as
  nb04
  does) and written for every scored clip to ``pseudo_clip_probs.csv``;
- a clip is pseudo-labelled when its top probability is at least ``min_confidence`` (0.95, the
  write-up's threshold); its target is the one-hot arg-max (``clip_targets="hard"``: at that
  confidence a hard label is the recipe) or the pooled probabilities sharpened by ``target_power``
  and renormalised (``"soft"``). The table (:data:`common.stages.pseudo.tables.CLIP_META_COLUMNS`
  then
  one column per class) has ``key`` = the path relative to the competition folder
  (``test/<id>.wav``) and no ``start_seconds``, so nb02 crops the clip like a training clip;
  ``fold`` is -1 (test clips are never validated on: every student fold trains on them);
- the decoded clips are cached at the frontend's (= nb01's) sample rate, and at the end the
  cache is pruned to the clips some published table uses;
- ``pseudo_labels_hard.csv`` is the one-hot arg-max view; ``pseudo_class_counts.csv`` counts
  per class the teacher's arg-max over every scored clip and the pseudo-labelled clips;
  figures: the top-probability histogram of every scored clip (the cut drawn) and the
  per-class counts;
- curated positives and hard negatives are skipped (multi-label notions: windows known to
  hold none of the species); students are validated on held-out training clips with the
  task metric, and ``rounds_summary.csv`` compares teacher and students on it
  (``oof_macro_f1``: the CNN's out-of-fold macro F1; ``mean_fold_val_macro_f1``).

A round whose tables hold no row (nothing reached ``min_confidence``) trains no student: the
stage ends after writing its labels.

Running again with the same working dir skips finished rounds (their labels and folds).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from common.audio.augment import SpecAugmentConfig, WaveAugmentConfig
from common.audio.cache import AudioCache, CacheWriter
from common.core.config import (
    StageConfig,
    config_from_dict,
    default_config,
    param,
    replace_dotted,
    save_config,
)
from common.core.kaggle import write_dataset_metadata
from common.core.paths import find_competition_dir, find_dataset_dir
from common.core.runtime import cpu_count
from common.data import competition as comp
from common.data.prep_data import PrepData, load_prep
from common.data.windows import SOUNDSCAPE_PREFIX
from common.report import prediction_plots as plots
from common.report.plots import save_figure
from common.stages.infer.ensemble import METHODS, combine_models, pool_clips
from common.stages.infer.members import Member, find_checkpoints, load_members
from common.stages.infer.predictor import DecodedFile
from common.stages.infer.run import InferConfig, list_test_files, predict_files
from common.stages.infer.tta import VIEWS, check_views
from common.stages.pseudo.subsets import curate_positive_subsets, mine_hard_negatives
from common.stages.pseudo.tables import (
    CLIP_PROBS_NAME,
    CLIP_TARGET_MODES,
    class_counts,
    clip_class_counts,
    clip_probs_table,
    clip_pseudo_label_table,
    hard_label_table,
    pseudo_label_table,
    window_frame,
)
from common.stages.train.config import TrainConfig
from common.stages.train.layout import backbone_short_name
from common.stages.train.run import run_training
from common.tasks.base import Task

__all__ = ["PseudoConfig", "PseudoResult", "run_pseudo", "member_folds", "student_config",
           "soundscape_files", "SOFT_NAME"]

log = logging.getLogger(__name__)

SOFT_NAME = "pseudo_labels_soft.csv"
SOUNDSCAPE_MODES = ("unlabelled", "all")
TARGET_MODES = ("fold", "ensemble")
NEGATIVE_SOURCES = ("unlisted", "unlabelled")


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
    tta: tuple[str, ...] = param(("orig", "reverse"), f"TTA views of the teacher, from {VIEWS}")
    combine: str = param("logit_mean", f"ensemble combination, one of {METHODS}")
    batch_windows: int = param(48, "windows per forward pass")
    threads: int = param(0, "torch intra-op threads (0 = every CPU)")
    decode_workers: int = param(-1, "threads decoding audio ahead of the models (-1 = CPUs)")
    graph: str = param("auto", "'trace', 'eager' or 'auto' (see nb04)")
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
    train_student: bool = param(True, "train students (False: write pseudo labels only)")
    pseudo_weight: float = param(1.0, "loss weight of a pseudo-labelled window vs a clip")
    pseudo_repeats: int = param(1, "times each pseudo window appears per student epoch")
    strong_augment: bool = param(True, "students use WaveAugment/SpecAugment 'strong' presets")
    warm_start: bool = param(False, "initialise student k from the teacher of fold k")
    student_epochs: int = param(0, "student epochs (0 = the teacher's)")
    student_backbone: str = param("", "student timm backbone ('' = the teacher's)")
    time_budget_minutes: float = param(600.0, "wall time for one scoring pass")
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

    STAGE: ClassVar[str] = "pseudo"  # names its dataset and the task defaults it takes
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # The demo competition on a 2-core CPU: one round, one TTA view.
        "cpu": {"rounds": 1, "tta": ("orig",), "batch_windows": 24, "device": "cpu",
                "cache_max_gb": 2.0},
        # Seconds, for tests and the smoke pipeline.
        "smoke": {"rounds": 1, "tta": ("orig",), "batch_windows": 12, "graph": "eager",
                  "threads": 2, "decode_workers": 1, "device": "cpu", "max_files": 4,
                  "cache_max_gb": 0.5,
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
        if self.combine not in METHODS:
            raise ValueError(f"combine must be one of {METHODS}, got {self.combine!r}")
        bad = [s for s in self.negative_sources if s not in NEGATIVE_SOURCES]
        if bad:
            raise ValueError(f"negative_sources {bad} unknown; choose from {NEGATIVE_SOURCES}")
        if self.clip_targets not in CLIP_TARGET_MODES:
            raise ValueError(f"clip_targets must be one of {CLIP_TARGET_MODES}, got "
                             f"{self.clip_targets!r}")
        check_views(self.tta)
        if self.rounds < 0 or self.target_power <= 0 or not 0 <= self.threshold <= 1:
            raise ValueError("rounds must be >= 0, target_power > 0, threshold in [0, 1]")



@dataclass
class PseudoResult:
    """What nb03 made; every path is inside ``output_dir``."""

    output_dir: Path
    soft_df: pd.DataFrame  # final round's pseudo_labels_soft.csv
    hard_df: pd.DataFrame  # its hard view at the threshold
    class_counts_df: pd.DataFrame
    summary: dict[str, Any]  # final round's pseudo_summary.json
    rounds_df: pd.DataFrame  # teacher and students: the task's out-of-fold validation score
    subsets_df: pd.DataFrame  # name, rows
    figures: dict[str, Path]
    clips_df: pd.DataFrame | None = None  # whole-clip tasks: every scored clip (final round)


# ---------------------------------------------------------------------------------------------
# Teachers.


def member_folds(members: list[Member]) -> list[int]:
    """The CV fold of each member from its checkpoint name (``..._fold<k>_...``), -1 if none."""
    out = []
    for m in members:
        found = re.findall(r"fold(\d+)", Path(m.name).name)
        out.append(int(found[-1]) if found else -1)
    return out


# ---------------------------------------------------------------------------------------------
# Inputs.


def soundscape_files(competition_dir: Path, labelled: set[str], mode: str, max_files: int = 0
                     ) -> list[Path]:
    """The train soundscapes to label: unlabelled ones, or all; sorted by name."""
    files = list_test_files(competition_dir / "train_soundscapes")
    if mode == "unlabelled":
        files = [p for p in files if p.name not in labelled]
    return files[:max_files] if max_files else files


def student_config(cfg: PseudoConfig, teacher_cfg: TrainConfig, round_dir: Path,
                   extra_windows: tuple[str, ...], init_checkpoint: str = "") -> TrainConfig:
    """The teacher's nb02 recipe, turned into this round's student (see the module doc).

    The task and its settings come with the teacher's config (``train_config.json``); the
    student keeps the teacher's extra windows tables except earlier rounds' pseudo labels,
    adds ``extra_windows``, the strong augmentation presets (without the in-batch
    soundscape simulator on single-label tasks: it unions the mixed clips' labels) and does
    not refit nb02's feature baseline (it never sees the pseudo labels; the models dataset
    holds it).
    """
    # The teacher's own extra tables stay (e.g. nb02 trained with a subset); an earlier round's
    # pseudo labels are replaced by this round's, not added to them (every window twice).
    own = cfg.output_dir.resolve()
    kept = tuple(p for p in teacher_cfg.extra_windows
                 if Path(p.replace("{fold}", "0")).is_file()
                 and not (Path(p).parent.resolve() == own
                          and Path(p).name.startswith("pseudo_labels_soft")))
    changes: dict[str, Any] = {
        "input_root": cfg.input_root, "working_dir": str(round_dir),
        "dataset_slug": cfg.dataset_slug, "kaggle_user": cfg.kaggle_user,
        "extra_windows": (*kept, *extra_windows), "extra_repeats": cfg.pseudo_repeats,
        "init_checkpoint": init_checkpoint,
    }
    if hasattr(teacher_cfg, "feature_baseline"):  # the task's config has a baseline to skip
        changes["feature_baseline"] = False
    if cfg.strong_augment:
        wave = WaveAugmentConfig.strong()
        if not teacher_cfg.task_spec.multilabel:
            wave = dataclasses.replace(wave, p_simulate=0.0)
        changes["wave_augment"] = wave
        changes["spec_augment"] = SpecAugmentConfig.strong()
    if cfg.student_epochs > 0:
        changes["epochs"] = cfg.student_epochs
    if cfg.student_backbone:
        changes["model.backbone"] = cfg.student_backbone
    student = replace_dotted(teacher_cfg, {k: v for k, v in changes.items()
                                           if not dataclasses.is_dataclass(v)})
    return dataclasses.replace(student, **{k: v for k, v in changes.items()
                                            if dataclasses.is_dataclass(v)})


def _teacher_config(models_dir: Path, task: str) -> TrainConfig:
    path = models_dir / "train_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: nb03 trains students with the teacher's "
                                "recipe; attach nb02's full output (it writes train_config.json)")
    teacher = config_from_dict(TrainConfig, json.loads(path.read_text()))
    if teacher.task != task:
        raise ValueError(f"{path}: the teacher was trained for task {teacher.task!r}, but nb03 "
                         f"runs {task!r}: pass --task {teacher.task} or attach the {task} "
                         "models dataset")
    return teacher


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _infer_config(cfg: PseudoConfig, device: torch.device) -> InferConfig:
    """nb04's config for the teacher pass: the task's inference defaults (softmax or sigmoid,
    ``test_dir``) with this stage's models, views and speed settings."""
    return dataclasses.replace(
        default_config(InferConfig, cfg.task),
        input_root=cfg.input_root, working_dir=cfg.working_dir, competition=cfg.competition,
        models_slug=cfg.models_slug, checkpoint_glob=cfg.checkpoint_glob, pseudo_slug="",
        combine=cfg.combine, tta=cfg.tta, batch_windows=cfg.batch_windows,
        threads=cfg.threads, decode_workers=cfg.decode_workers if cfg.decode_workers > 0
        else cpu_count(), graph=cfg.graph if device.type == "cpu" else "eager",
        channels_last=device.type == "cpu", time_budget_minutes=cfg.time_budget_minutes,
        prefetch_files=max(4, 2 * cpu_count()), n_plot_files=0)


class _AudioCacher:
    """``on_decoded`` hook: writes decoded files missing from nb01's cache to ``cache/``.

    Keys are ``prefix`` + file name (the path relative to the competition folder). With
    ``trim_padding`` the zeros that pad a file's last window are dropped, so a cached clip is
    the decoded file (whole-clip tasks crop inside it).
    """

    def __init__(self, cache_dir: Path, sample_rate: int, skip: set[str], max_gb: float,
                 prefix: str = SOUNDSCAPE_PREFIX, trim_padding: bool = False) -> None:
        self.writer = CacheWriter(cache_dir, sample_rate, shard_mb=256.0)
        self.skip = skip
        self.prefix = prefix
        self.trim_padding = trim_padding
        self.budget = int(max_gb * 2**30) - sum(
            int(p.stat().st_size) for p in cache_dir.glob("shard_*.npy"))
        self.full = False

    def __call__(self, item: DecodedFile) -> None:
        key = self.prefix + item.path.name
        if self.full or key in self.skip or key in self.writer or item.windows is None:
            return
        wave = item.windows.reshape(-1)
        if self.trim_padding:
            wave = np.trim_zeros(wave, "b")
        if 2 * wave.size > self.budget:
            self.full = True
            log.warning("audio cache reached cache_max_gb; later files are decoded on the fly "
                        "when students train")
            return
        self.budget -= 2 * wave.size
        self.writer.add(key, wave, kind="pseudo")

    def close(self) -> None:
        self.writer.close()


def _prune_cache(cache_dir: Path, keep: set[str]) -> None:
    """Rewrite ``cache_dir`` with only the entries in ``keep`` (the clips the tables use)."""
    if not (cache_dir / "index.csv").is_file():
        return
    cache = AudioCache(cache_dir)
    keys = cache.keys()
    if all(k in keep for k in keys):
        return
    tmp = cache_dir.with_name(cache_dir.name + ".pruned")
    shutil.rmtree(tmp, ignore_errors=True)
    rate = int(cache.index_df["sample_rate"].iloc[0])
    with CacheWriter(tmp, rate, shard_mb=256.0) as writer:
        for key in keys:
            if key in keep:
                entry = cache.entry(key)
                writer.add(key, np.asarray(cache.get(key)), kind=entry.kind,
                           start_seconds=entry.start_seconds)
    del cache  # closes the memory maps before the folder goes
    shutil.rmtree(cache_dir)
    tmp.rename(cache_dir)
    log.info("cache pruned to the %d pseudo-labelled clips (%d scored clips dropped)",
             sum(k in keep for k in keys), sum(k not in keep for k in keys))


# ---------------------------------------------------------------------------------------------
# One scoring pass.


@dataclass
class _Scored:
    windows_df: pd.DataFrame  # filename, start, end, row_id
    probs: np.ndarray  # ensemble (windows, classes)
    fold_probs: dict[int, np.ndarray]  # per teacher fold
    failed: list[str]
    paths: list[Path]  # scored files, in order
    file_ids: np.ndarray  # (windows,) index into paths


def _score(cfg: PseudoConfig, members: list[Member], paths: list[Path], classes: list[str],
           device: torch.device, on_decoded=None) -> _Scored:
    infer_cfg = _infer_config(cfg, device)
    predictions, probs = predict_files(members, paths, infer_cfg, classes, device=device,
                                       on_decoded=on_decoded)
    folds = member_folds(members)
    fold_probs = {}
    for k in sorted({f for f in folds if f >= 0}):
        idx = [i for i, f in enumerate(folds) if f == k]
        fold_probs[k] = combine_models([predictions.scores[i] for i in idx],
                                       [predictions.covered[i] for i in idx],
                                       [members[i].weight for i in idx], cfg.combine,
                                       cfg.task_spec)
    return _Scored(window_frame(predictions), probs, fold_probs, list(predictions.failed_files),
                   list(predictions.paths), predictions.file_ids)


# ---------------------------------------------------------------------------------------------
# The stage.


def run_pseudo(cfg: PseudoConfig) -> PseudoResult:
    """Run nb03: label, curate subsets, train students, chained over ``rounds``."""
    t0 = time.time()
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "pseudo_config.json")
    torch.set_num_threads(cfg.threads if cfg.threads > 0 else cpu_count())
    device = _device(cfg.device)
    task = cfg.task_spec
    whole_clip = task.windowing == "whole_clip"
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    prep = load_prep(find_dataset_dir(cfg.input_root, cfg.prep_slug,
                                      must_contain="train_folds.csv"))
    models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
    classes = prep.classes
    labelled = set(prep.soundscape_df["filename"].astype(str))
    file_folds = {str(f): int(k) for f, k in zip(prep.soundscape_df["filename"],
                                                  prep.soundscape_df["fold"])}
    if whole_clip:
        # The unlabelled audio of a whole-clip task is nb04's test folder.
        audio_dir = _infer_config(cfg, device).test_dir
        pseudo_paths = list_test_files(competition_dir / audio_dir, cfg.max_files)
        extra_paths: list[Path] = []
    else:
        audio_dir = "train_soundscapes"
        pseudo_paths = soundscape_files(competition_dir, labelled, cfg.soundscapes,
                                        cfg.max_files)
        labelled_paths = [p for p in list_test_files(competition_dir / audio_dir)
                          if p.name in labelled]
        need_unlisted = "unlisted" in cfg.negative_sources and len(cfg.negative_thresholds) > 0
        extra_paths = ([p for p in labelled_paths if p not in pseudo_paths]
                       if need_unlisted else [])
    prefix = f"{audio_dir.strip('/')}/"
    if whole_clip:
        log.info("nb03: %d %s clips to label (top probability >= %g, %s targets); %d rounds; "
                 "teacher on %s", len(pseudo_paths), audio_dir, cfg.min_confidence,
                 cfg.clip_targets, cfg.rounds, device)
    else:
        log.info("nb03: %d soundscapes to label (%s), %d labelled ones scored for hard "
                 "negatives; %d rounds; teacher on %s", len(pseudo_paths), cfg.soundscapes,
                 len(extra_paths), cfg.rounds, device)
    if not pseudo_paths:
        log.warning("no audio to label in %s", competition_dir / audio_dir)

    teacher_dir, teacher_glob = models_dir, cfg.checkpoint_glob
    teacher_cfg = (_teacher_config(models_dir, cfg.task) if cfg.train_student and cfg.rounds
                   else None)
    rounds_rows = [_teacher_row(models_dir, task)]
    subsets_df = pd.DataFrame(columns=["name", "rows", "path"])
    figures: dict[str, Path] = {}
    summary: dict[str, Any] = {}
    last_student_dir: Path | None = None
    final = 1
    for r in range(1, max(1, cfg.rounds) + 1):
        final = r
        members = load_members(find_checkpoints(teacher_dir, teacher_glob), classes,
                               root=teacher_dir, window_seconds=task.window_seconds)
        soft_path = out / f"pseudo_labels_soft_r{r}.csv"
        summary_path = out / f"pseudo_summary_r{r}.json"
        if summary_path.is_file() and soft_path.is_file():
            log.info("round %d: pseudo labels already written (%s), not scored again", r,
                     soft_path)
            summary = json.loads(summary_path.read_text())
        else:
            cacher = None
            if cfg.cache_audio:
                cacher = _AudioCacher(out / "cache", members[0].frontend_cfg.sample_rate,
                                      set(prep.index_df["key"]), cfg.cache_max_gb, prefix,
                                      trim_padding=whole_clip)
            try:
                scored = _score(cfg, members, [*pseudo_paths, *(extra_paths if r == 1 else [])],
                                classes, device, cacher)
            finally:
                if cacher is not None:
                    cacher.close()
            teacher = [m.name for m in members]
            if whole_clip:
                summary = _write_clip_round(cfg, r, scored, prefix, classes, teacher, out)
            else:
                names = {p.name for p in pseudo_paths}
                in_pseudo = scored.windows_df["filename"].isin(names).to_numpy()
                summary = _write_round(cfg, r, scored, in_pseudo, classes, file_folds, teacher,
                                       out)
            if r == 1:
                subsets_df = _write_subsets(cfg, prep, models_dir, scored, labelled, out)
        if not (cfg.train_student and cfg.rounds):
            break
        if not _students_have_labels(out, r, cfg.pseudo_targets, prep.n_folds):
            log.warning("round %d: no pseudo label (nothing reached min_confidence=%g): no "
                        "student is trained", r, cfg.min_confidence)
            break
        assert teacher_cfg is not None
        round_dir = out / "rounds" / f"r{r}"
        pseudo_table = (f"pseudo_labels_soft_r{r}_fold{{fold}}.csv"
                        if cfg.pseudo_targets == "fold" else f"pseudo_labels_soft_r{r}.csv")
        init = ""
        if cfg.warm_start:
            short = backbone_short_name(cfg.student_backbone or teacher_cfg.model.backbone)
            init = str(teacher_dir / f"{short}_fold{{fold}}_best.pt")
        student_cfg = student_config(cfg, teacher_cfg, round_dir, (str(out / pseudo_table),),
                                     init)
        log.info("round %d: training students in %s (%s targets, weight %.2f, %s augmentation%s)",
                 r, round_dir, cfg.pseudo_targets, cfg.pseudo_weight,
                 "strong" if cfg.strong_augment else "teacher's",
                 ", warm start" if init else "")
        result = run_training(student_cfg)
        rounds_rows.append({"round": r, "model": f"student r{r}",
                            **_round_scores(task, result.report),
                            "folds": ",".join(map(str, result.report.get("folds_done", []))),
                            "checkpoints_dir": str(round_dir.relative_to(out))})
        teacher_cfg, teacher_dir, teacher_glob = student_cfg, round_dir, "*_best.pt"
        last_student_dir = round_dir

    hard_name = _hard_name(cfg)
    for suffix in ("", *(f"_fold{k}" for k in range(prep.n_folds))):
        src = out / f"pseudo_labels_soft_r{final}{suffix}.csv"
        if src.is_file():
            shutil.copyfile(src, out / f"pseudo_labels_soft{suffix}.csv")
    for name in (hard_name, "pseudo_class_counts.csv", CLIP_PROBS_NAME):
        src = out / f"r{final}_{name}"
        if src.is_file():
            shutil.copyfile(src, out / name)
    summary = json.loads((out / f"pseudo_summary_r{final}.json").read_text())
    (out / "pseudo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _publish_students(out, last_student_dir)
    rounds_df = pd.DataFrame(rounds_rows)
    rounds_df.to_csv(out / "rounds_summary.csv", index=False)
    soft_df = comp.read_csv_str(out / SOFT_NAME)
    soft_df[classes] = soft_df[classes].astype(float)
    hard_df = comp.read_csv_str(out / hard_name)
    counts_df = comp.read_csv_str(out / "pseudo_class_counts.csv")
    clips_df = None
    if whole_clip:
        clips_df = comp.read_csv_str(out / CLIP_PROBS_NAME)
        clips_df[[*classes, "confidence"]] = clips_df[[*classes, "confidence"]].astype(float)
        counts_df[["n_scored", "n_clips"]] = counts_df[["n_scored", "n_clips"]].astype(int)
        figures["confidence_histogram"] = save_figure(
            plots.confidence_histogram(clips_df["confidence"].to_numpy(), cfg.min_confidence,
                                       title=f"round {final} teacher", unit="clip"),
            out / "figures" / "confidence_histogram.png")
        figures["pseudo_labels_per_class"] = save_figure(
            plots.pseudo_clip_counts(counts_df, cfg.min_confidence, title=f"(round {final})"),
            out / "figures" / "pseudo_labels_per_class.png")
        if cfg.cache_audio:
            _prune_cache(out / "cache", _table_keys(out))
    else:
        figures["confidence_histogram"] = save_figure(
            plots.confidence_histogram(soft_df["confidence"].astype(float).to_numpy(),
                                       cfg.threshold, title=f"round {final} teacher"),
            out / "figures" / "confidence_histogram.png")
    if (out / "subsets_summary.csv").is_file():
        subsets_df = comp.read_csv_str(out / "subsets_summary.csv")
    write_dataset_metadata(out, cfg.dataset_slug,
                           f"{task.name} pseudo labels (nb03)" if whole_clip
                           else "BirdCLEF 2026 pseudo labels (nb03)", cfg.kaggle_user)
    students = sorted(p.name for p in out.glob("*_student_fold*_best.pt"))
    summary = {**summary, "rounds": cfg.rounds if cfg.train_student else 0,
               "rounds_with_students": len(rounds_rows) - 1, "students": students,
               "seconds": round(time.time() - t0, 1)}
    (out / "pseudo_report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    shown = (("n_clips_scored", "n_clips", "share_kept", "students") if whole_clip
             else ("n_windows", "n_windows_with_positive", "students"))
    log.info("nb03 done in %.0f s: %s", time.time() - t0, {k: summary.get(k) for k in shown})
    return PseudoResult(out, soft_df, hard_df, counts_df, summary, rounds_df, subsets_df,
                        figures, clips_df)


def _pct(value: float) -> str:
    return f"{int(round(100 * value)):03d}"


def _hard_name(cfg: PseudoConfig) -> str:
    """The hard-label view: 0/1 at ``threshold`` (windows), or the one-hot arg-max (clips)."""
    if cfg.task_spec.windowing == "whole_clip":
        return "pseudo_labels_hard.csv"
    return f"pseudo_labels_hard_t{_pct(cfg.threshold)}.csv"


def _students_have_labels(out: Path, r: int, mode: str, n_folds: int) -> bool:
    """True when a table the students of round ``r`` read (``mode``: the per-fold ones, or
    the ensemble's) has a row. No per-fold table at all (teachers without a fold in their
    names) is left to nb02 to report."""
    if mode == "fold":
        paths = [p for p in (out / f"pseudo_labels_soft_r{r}_fold{k}.csv" for k in range(n_folds))
                 if p.is_file()]
        if not paths:
            return True
    else:
        paths = [out / f"pseudo_labels_soft_r{r}.csv"]
    return any(len(comp.read_csv_str(p)) for p in paths)


def _table_keys(out: Path) -> set[str]:
    """Every ``key`` of the pseudo-label tables in ``out`` (all rounds, ensemble and folds)."""
    keys: set[str] = set()
    for path in out.glob("pseudo_labels_soft*.csv"):
        keys.update(comp.read_csv_str(path)["key"].astype(str))
    return keys


def _round_scores(task: Task, report: dict[str, Any]) -> dict[str, Any]:
    """A training report's validation score, by the task's validation: out of fold over the
    finished folds and the mean of the folds' best epochs.

    Windowed tasks: ``oof_soundscape_auc``, ``mean_fold_soundscape_auc``. Whole-clip tasks:
    ``oof_<metric>`` (the CNN's: nb02's report also scores its feature models and blend) and
    ``mean_fold_val_<metric>``, the score that chose each fold's epoch.
    """
    if task.windowing == "whole_clip":
        oof = report.get(f"oof_{task.metric}")
        return {f"oof_{task.metric}": oof.get("cnn") if isinstance(oof, dict) else oof,
                f"mean_fold_val_{task.metric}": report.get(f"mean_fold_val_{task.metric}")}
    return {"oof_soundscape_auc": report.get("oof_soundscape_auc"),
            "mean_fold_soundscape_auc": report.get("mean_fold_soundscape_auc")}


def _teacher_row(models_dir: Path, task: Task) -> dict[str, Any]:
    report_path = models_dir / "train_report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return {"round": 0, "model": "teacher (nb02)", **_round_scores(task, report),
            "folds": ",".join(map(str, report.get("folds_done", []))),
            "checkpoints_dir": str(models_dir)}


def _write_clip_round(cfg: PseudoConfig, r: int, scored: _Scored, prefix: str,
                      classes: list[str], teacher: list[str], out: Path) -> dict[str, Any]:
    """Whole-clip tasks: every scored clip, the pseudo-label tables (ensemble and per fold),
    the one-hot view, class counts and the summary of round r."""
    keys = [prefix + p.name for p in scored.paths]
    n = len(keys)
    clips = clip_probs_table(keys, pool_clips(scored.probs, scored.file_ids, n), classes)
    clips.to_csv(out / f"r{r}_{CLIP_PROBS_NAME}", index=False, float_format="%.5g")
    kwargs = dict(min_confidence=cfg.min_confidence, targets=cfg.clip_targets,
                  target_power=cfg.target_power, max_clips=cfg.max_windows,
                  weight=cfg.pseudo_weight)
    soft = clip_pseudo_label_table(clips, classes, **kwargs)
    soft.to_csv(out / f"pseudo_labels_soft_r{r}.csv", index=False, float_format="%.5g")
    per_fold = {}
    for k, probs in scored.fold_probs.items():
        fold_clips = clip_probs_table(keys, pool_clips(probs, scored.file_ids, n), classes)
        table = clip_pseudo_label_table(fold_clips, classes, **kwargs)
        table.to_csv(out / f"pseudo_labels_soft_r{r}_fold{k}.csv", index=False,
                     float_format="%.5g")
        per_fold[k] = len(table)
    hard = soft.copy()
    hard[classes] = (soft["label"].to_numpy()[:, None]
                     == np.array(classes, dtype=object)[None, :]).astype(np.int8)
    hard.to_csv(out / f"r{r}_{_hard_name(cfg)}", index=False, float_format="%.5g")
    counts = clip_class_counts(clips, soft, classes)
    counts.to_csv(out / f"r{r}_pseudo_class_counts.csv", index=False)
    pd.DataFrame({"error": scored.failed}).to_csv(out / "pseudo_bad_files.csv", index=False)
    for error in scored.failed:
        log.warning("clip skipped: %s", error)
    summary = {
        "round": r, "teacher": teacher, "n_teacher_models": len(teacher),
        "audio_dir": prefix.rstrip("/"), "n_files": n, "n_failed_files": len(scored.failed),
        "n_clips_scored": int(len(clips)), "n_clips": int(len(soft)),
        "share_kept": round(len(soft) / len(clips), 4) if len(clips) else None,
        "min_confidence": cfg.min_confidence, "clip_targets": cfg.clip_targets,
        "target_power": cfg.target_power,
        "mean_confidence": float(soft["confidence"].mean()) if len(soft) else None,
        "mean_confidence_scored": float(clips["confidence"].mean()) if len(clips) else None,
        "pseudo_labels_per_class": dict(zip(counts["primary_label"],
                                            counts["n_clips"].astype(int).tolist())),
        "pseudo_targets": cfg.pseudo_targets, "per_fold_tables": sorted(scored.fold_probs),
        "n_clips_per_fold_table": {str(k): v for k, v in sorted(per_fold.items())},
    }
    (out / f"pseudo_summary_r{r}.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("round %d pseudo labels: %d of %d clips with a top probability >= %g (%s)", r,
             len(soft), len(clips), cfg.min_confidence,
             ", ".join(f"{c} {v}" for c, v in summary["pseudo_labels_per_class"].items()))
    return summary


def _write_round(cfg: PseudoConfig, r: int, scored: _Scored, in_pseudo: np.ndarray,
                 classes: list[str], file_folds: dict[str, int], teacher: list[str], out: Path
                 ) -> dict[str, Any]:
    """Soft tables (ensemble and per fold), hard view, class counts and summary of round r."""
    windows = scored.windows_df[in_pseudo].reset_index(drop=True)
    kwargs = dict(min_confidence=cfg.min_confidence, target_power=cfg.target_power,
                  max_windows=cfg.max_windows, weight=cfg.pseudo_weight)
    soft = pseudo_label_table(windows, scored.probs[in_pseudo], classes, file_folds, **kwargs)
    soft.to_csv(out / f"pseudo_labels_soft_r{r}.csv", index=False, float_format="%.5g")
    for k, probs in scored.fold_probs.items():
        pseudo_label_table(windows, probs[in_pseudo], classes, file_folds, **kwargs).to_csv(
            out / f"pseudo_labels_soft_r{r}_fold{k}.csv", index=False, float_format="%.5g")
    hard = hard_label_table(soft, classes, cfg.threshold)
    hard.to_csv(out / f"r{r}_pseudo_labels_hard_t{_pct(cfg.threshold)}.csv", index=False)
    counts = class_counts(soft, classes, cfg.threshold)
    counts.to_csv(out / f"r{r}_pseudo_class_counts.csv", index=False)
    pd.DataFrame({"error": scored.failed}).to_csv(out / "pseudo_bad_files.csv", index=False)
    for error in scored.failed:
        log.warning("soundscape skipped: %s", error)
    positive = hard[classes].to_numpy().any(axis=1) if len(hard) else np.zeros(0, bool)
    summary = {
        "round": r, "teacher": teacher, "n_teacher_models": len(teacher),
        "soundscapes": cfg.soundscapes,
        "n_files": int(windows["filename"].nunique()), "n_failed_files": len(scored.failed),
        "n_windows_scored": int(len(windows)), "n_windows": int(len(soft)),
        "threshold": cfg.threshold, "n_windows_with_positive": int(positive.sum()),
        "n_species_with_positive": int((counts["n_windows"] > 0).sum()),
        "mean_confidence": float(soft["confidence"].mean()) if len(soft) else None,
        "min_confidence": cfg.min_confidence, "target_power": cfg.target_power,
        "pseudo_targets": cfg.pseudo_targets, "per_fold_tables": sorted(scored.fold_probs),
    }
    (out / f"pseudo_summary_r{r}.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("round %d pseudo labels: %d windows of %d files, %d with a species >= %.2f", r,
             len(soft), summary["n_files"], summary["n_windows_with_positive"], cfg.threshold)
    return summary


def _write_subsets(cfg: PseudoConfig, prep: PrepData, models_dir: Path, scored: _Scored,
                   labelled: set[str], out: Path) -> pd.DataFrame:
    """Curated positive and hard-negative subsets from the nb02 teacher (see
    common.stages.pseudo.subsets).

    Multi-label tasks only: both are made of per-species scores (a focal clip's own-label
    score, windows known to hold none of the species); a single-label task gets none.
    """
    if not cfg.task_spec.multilabel:
        log.info("subsets skipped: curated positives and hard negatives are multi-label notions "
                 "(per-species scores of focal clips and of windows with no species); the "
                 "single-label task %r has neither", cfg.task)
        return pd.DataFrame(columns=["name", "rows", "path"])
    classes = prep.classes
    tables: dict[str, pd.DataFrame] = {}
    oof_path = models_dir / "oof_focal.csv"
    if cfg.positive_fractions and oof_path.is_file():
        scores = comp.read_csv_str(oof_path)
        scores[classes] = scores[classes].astype(float)
        pool = prep.train_df
        if cfg.curate_below_rating > 0 and "rating" in pool:
            pool = pool[pd.to_numeric(pool["rating"], errors="coerce").fillna(0.0)
                        < cfg.curate_below_rating]
        tables.update(curate_positive_subsets(scores, pool, cfg.positive_fractions))
    elif cfg.positive_fractions:
        log.warning("%s is missing: no curated positive subsets", oof_path)
    if cfg.negative_thresholds:
        negatives = _negative_windows(cfg, prep, scored, labelled)
        if len(negatives):
            tables.update(mine_hard_negatives(negatives, cfg.negative_thresholds, classes))
    rows = []
    for name, table in tables.items():
        path = out / f"subset_{name}.csv"
        table.to_csv(path, index=False, float_format="%.5g")
        rows.append({"name": name, "rows": len(table), "path": path.name})
    subsets_df = pd.DataFrame(rows, columns=["name", "rows", "path"])
    subsets_df.to_csv(out / "subsets_summary.csv", index=False)
    log.info("subsets: %s", dict(zip(subsets_df["name"], subsets_df["rows"])))
    return subsets_df


def _negative_windows(cfg: PseudoConfig, prep: PrepData, scored: _Scored, labelled: set[str]
                      ) -> pd.DataFrame:
    """Scored windows known to hold none of the species, as ``key, start_seconds, fold, ...``."""
    classes = prep.classes
    listed = {(str(f), float(s)) for f, s in zip(prep.soundscape_df["filename"],
                                                   prep.soundscape_df["start_seconds"])}
    folds = dict(zip(prep.soundscape_df["filename"].astype(str),
                     prep.soundscape_df["fold"].astype(int)))
    w = scored.windows_df
    is_labelled = w["filename"].isin(labelled).to_numpy()
    unlisted = np.array([(f, float(s)) not in listed for f, s in zip(w["filename"], w["start"])],
                        dtype=bool)
    keep = np.zeros(len(w), bool)
    if "unlisted" in cfg.negative_sources:
        keep |= is_labelled & unlisted
    if "unlabelled" in cfg.negative_sources:
        keep |= ~is_labelled
    keep &= ~np.isnan(scored.probs).any(axis=1)
    frame = pd.DataFrame({"key": SOUNDSCAPE_PREFIX + w["filename"][keep].astype(str),
                          "start_seconds": w["start"][keep].to_numpy(),
                          "fold": [folds.get(f, -1) for f in w["filename"][keep]]})
    frame = pd.concat([frame.reset_index(drop=True),
                       pd.DataFrame(scored.probs[keep], columns=classes)], axis=1)
    if cfg.negative_dir:
        frame = pd.concat([frame, _score_negative_dir(cfg, prep)], ignore_index=True)
    return frame


def _score_negative_dir(cfg: PseudoConfig, prep: PrepData) -> pd.DataFrame:
    """Windows of every recording in ``negative_dir``, scored by the nb02 teacher."""
    folder = Path(cfg.negative_dir)
    paths = list_test_files(folder)
    if not paths:
        log.warning("negative_dir %s holds no audio file", folder)
        return pd.DataFrame()
    models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
    members = load_members(find_checkpoints(models_dir, cfg.checkpoint_glob), prep.classes,
                           root=models_dir)
    scored = _score(cfg, members, paths, prep.classes, _device(cfg.device))
    w = scored.windows_df
    frame = pd.DataFrame({"key": [str(folder.resolve() / f) for f in w["filename"]],
                          "start_seconds": w["start"].to_numpy(), "fold": -1})
    return pd.concat([frame, pd.DataFrame(scored.probs, columns=prep.classes)], axis=1)


def _publish_students(out: Path, student_dir: Path | None) -> None:
    """Copy the final round's best checkpoints to ``<backbone>_student_fold<k>_best.pt``."""
    for old in out.glob("*_student_fold*_best.pt"):
        old.unlink()
    if student_dir is None:
        return
    for path in sorted(student_dir.glob("*_fold*_best.pt")):
        name = re.sub(r"_fold(\d+)_best\.pt$", r"_student_fold\1_best.pt", path.name)
        shutil.copyfile(path, out / name)
