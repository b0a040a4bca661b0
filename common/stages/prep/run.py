"""nb01, data prep: clean the metadata, decode and cache audio, make folds, write reports.

Outputs in the working dir (published as the ``prep`` dataset):

- ``train_folds.csv``: cleaned train metadata with ``fold``, ``duration_seconds``,
  ``active_share`` and ``best_window_start_seconds``;
- ``soundscape_labels_folds.csv``: labelled soundscape windows (deduplicated) with ``fold``;
- ``species.csv``: species in submission column order, taxon class, focal-clip counts;
- ``rare_species.csv``, ``bad_files.csv`` (file and reason), ``fold_summary.csv``;
- ``cache/``: decoded audio (see :mod:`common.audio.cache`);
- ``figures/*.png``, ``prep_config.json``, ``prep_report.json``, ``dataset-metadata.json``.

A run that stops half-way resumes: decoded files already in the cache are not decoded again.

For a task whose classes are the folders of ``train/`` (messy-mashup), :func:`run_prep` hands over
to :func:`common.tasks.mashup.prep.run_mashup_prep`, which writes the same files from generated
training mashups (see that module).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from common.audio.cache import CacheWriter, read_index
from common.audio.crops import frame_activity
from common.audio.io import AudioDecodeError, load_audio
from common.core.config import StageConfig, param, save_config
from common.core.kaggle import write_dataset_metadata
from common.core.parallel import warm_numba_caches
from common.core.paths import find_competition_dir
from common.core.runtime import resolve_workers
from common.data import competition as comp
from common.data.folds import (
    assign_clip_folds,
    assign_soundscape_folds,
    fold_summary,
    rare_species,
)
from common.report import data_plots as plots
from common.report.plots import save_figure
from common.tasks.mashup.recipe import MashupConfig

log = logging.getLogger(__name__)

SCAN_NAME = "scan.csv"
SCAN_COLUMNS = ["key", "kind", "status", "reason", "duration_seconds", "active_share",
                "best_window_start_seconds"]


@dataclass(frozen=True)
class PrepConfig(StageConfig):
    """nb01 parameters; defaults are the Kaggle recipe (``TASK_OVERRIDES``: other tasks')."""

    dataset_slug: str = param("birdclef-2026-prep", "slug this stage's output is published as")
    kaggle_user: str = param("", "Kaggle user for dataset-metadata.json ('' = kaggle CLI config)")
    n_folds: int = param(5, "number of cross-validation folds (K)")
    seed: int = param(42, "seed for folds and sampling (messy-mashup: and for the mashups)")
    sample_rate: int = param(
        32000, "decode rate, Hz (messy-mashup: 22050, the test clips' rate = mashup.sample_rate)")
    min_seconds: float = param(0.5, "clips shorter than this are listed as bad and excluded")
    silence_dbfs: float = param(-70.0, "clips whose RMS is below this (dBFS) are listed as silent")
    cache_seconds: float = param(
        10.0, "seconds of each focal clip kept in the decoded cache (0 = the whole clip; "
        "messy-mashup: 0, mashups are cached whole)")
    cache_region: str = param(
        "start", "'start': first seconds; 'active': around the loudest window")
    max_cache_gb: float = param(18.0, "fail early if the cache would exceed this (Kaggle: 20 GB)")
    n_background_soundscapes: int = param(
        200, "birdclef: unlabelled train soundscapes cached for background mixing (-1 = all); "
        "messy-mashup: unused, every usable noise/ clip is cached instead")
    max_clips: int = param(0, "birdclef: keep only the first N clips (0 = all); for quick trials")
    mashups_per_genre_per_fold: int = param(
        40, "messy-mashup: training mashups generated per genre and fold (100 songs per genre "
        "and 5 folds: 40 gives 2,000 mashups of 30 s, 2.6 GB of WAVs plus as much cache)")
    mashup: MashupConfig = param(
        MashupConfig(), "messy-mashup: how training mashups are made (common.tasks.mashup.render)")
    workers: int = param(0, "decoding processes (0 = every CPU)")
    shard_mb: float = param(256.0, "cache shard size, MB")

    STAGE: ClassVar[str] = "prep"  # names its dataset and the task defaults it takes
    PRESETS = {
        "cpu": {"n_background_soundscapes": 40, "shard_mb": 64.0,
                "mashups_per_genre_per_fold": 10},
        "smoke": {"n_folds": 2, "cache_seconds": 6.0, "n_background_soundscapes": 2,
                  "shard_mb": 1.0, "workers": 2, "mashups_per_genre_per_fold": 1},
    }

    @property
    def cache_dir(self) -> Path:
        return Path(self.working_dir) / "cache"


# ---------------------------------------------------------------------------------------------
# Per-file work, run in worker processes.


def scan_file(path: str, key: str, kind: str, sample_rate: int, min_seconds: float,
              silence_dbfs: float, keep_seconds: float | None, region: str
              ) -> tuple[dict[str, Any], np.ndarray | None, float]:
    """Decode one file, measure it, and cut the part to cache.

    Returns:
        ``(record, segment, segment_start_seconds)``: ``record`` has the ``SCAN_COLUMNS``;
        ``segment`` is ``None`` for bad files (status ``bad`` and a reason).
    """
    record: dict[str, Any] = {"key": key, "kind": kind, "status": "ok", "reason": "",
                              "duration_seconds": 0.0, "active_share": 0.0,
                              "best_window_start_seconds": 0.0}
    try:
        wave = load_audio(path, sample_rate)
    except AudioDecodeError as err:
        return {**record, "status": "bad", "reason": f"unreadable: {err.__cause__ or err}"}, None, 0
    duration = len(wave) / sample_rate
    record["duration_seconds"] = round(duration, 3)
    if len(wave) == 0:
        return {**record, "status": "bad", "reason": "empty: no audio frames"}, None, 0.0
    if duration < min_seconds:
        return {**record, "status": "bad",
                "reason": f"too short: {duration:.2f} s < {min_seconds} s"}, None, 0.0
    if not np.all(np.isfinite(wave)):
        return {**record, "status": "bad", "reason": "non-finite samples"}, None, 0.0
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(wave.astype(np.float64) ** 2)) + 1e-12)
    if rms_dbfs < silence_dbfs:
        return {**record, "status": "bad",
                "reason": f"silent: RMS {rms_dbfs:.0f} dBFS < {silence_dbfs} dBFS"}, None, 0.0
    share, best_start = frame_activity(wave, sample_rate)
    record["active_share"] = round(float(share), 4)
    record["best_window_start_seconds"] = round(float(best_start), 3)
    start = 0.0
    if keep_seconds is not None and duration > keep_seconds:
        if region == "active":
            centre = best_start + comp.WINDOW_SECONDS / 2
            start = float(np.clip(centre - keep_seconds / 2, 0.0, duration - keep_seconds))
        a = int(round(start * sample_rate))
        wave = wave[a:a + int(round(keep_seconds * sample_rate))]
    return record, wave, start


def _scan_star(args: tuple) -> tuple[dict[str, Any], np.ndarray | None, float]:
    return scan_file(*args)


def scan_and_cache(jobs: list[tuple], writer: CacheWriter, scan_path: Path, workers: int,
                   desc: str) -> None:
    """Run :func:`scan_file` over ``jobs`` in parallel, caching good files as they arrive.

    Scan records are appended to ``scan_path`` only after their audio is flushed to a cache
    shard, so on resume a key in the scan file is always complete.
    """
    pending: list[dict[str, Any]] = []

    def write_pending() -> None:
        if pending:
            frame = pd.DataFrame(pending, columns=SCAN_COLUMNS)
            frame.to_csv(scan_path, mode="a", header=not scan_path.is_file(), index=False)
            pending.clear()

    if not jobs:
        return
    if workers <= 1:
        results = map(_scan_star, jobs)
        executor = None
    else:
        warm_numba_caches()  # workers decode with librosa: see common.core.parallel
        executor = ProcessPoolExecutor(max_workers=workers)
        results = executor.map(_scan_star, jobs, chunksize=4)
    try:
        for record, segment, start in tqdm(results, total=len(jobs), desc=desc, unit="file"):
            pending.append(record)
            flushed = segment is not None and writer.add(
                record["key"], segment, kind=record["kind"], start_seconds=start)
            if flushed:  # the audio of every pending record is on disk: record them
                write_pending()
        writer.flush()
        write_pending()
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def read_scan(path: Path) -> pd.DataFrame:
    """Scan records written so far (empty frame when none)."""
    if not path.is_file():
        return pd.DataFrame(columns=SCAN_COLUMNS)
    return pd.read_csv(path, dtype={"key": str, "kind": str, "status": str, "reason": str},
                       keep_default_na=False).drop_duplicates("key", keep="last")


def write_prep_tables(out: Path, train_df: pd.DataFrame, soundscape_df: pd.DataFrame,
                      species_df: pd.DataFrame, rare_df: pd.DataFrame, bad_df: pd.DataFrame,
                      summary_df: pd.DataFrame) -> None:
    """The tables every task's nb01 writes, under the names nb02-nb04 read."""
    for df, name in ((train_df, "train_folds.csv"), (soundscape_df, "soundscape_labels_folds.csv"),
                     (species_df, "species.csv"), (rare_df, "rare_species.csv"),
                     (bad_df, "bad_files.csv"), (summary_df, "fold_summary.csv")):
        df.to_csv(out / name, index=False)


def bad_scan_rows(scan_df: pd.DataFrame) -> list[dict[str, str]]:
    """``bad_files.csv`` rows (filename, kind, reason) of the scan records that failed."""
    bad = scan_df[scan_df["status"] != "ok"]
    return [{"filename": k, "kind": kind, "reason": r}
            for k, kind, r in zip(bad["key"], bad["kind"], bad["reason"])]


# ---------------------------------------------------------------------------------------------
# The stage.


@dataclass
class PrepResult:
    """What nb01 made; every path is inside ``output_dir``."""

    output_dir: Path
    train_df: pd.DataFrame
    soundscape_df: pd.DataFrame
    species_df: pd.DataFrame
    rare_df: pd.DataFrame
    bad_df: pd.DataFrame
    fold_summary_df: pd.DataFrame
    report: dict[str, Any]
    figures: dict[str, Path]


def project_cache_gb(durations: np.ndarray, cache_seconds: float, sample_rate: int) -> float:
    """Size of a float16 cache of ``min(duration, cache_seconds)`` per clip, in GB."""
    kept = np.minimum(np.asarray(durations, dtype=float), cache_seconds)
    return float(kept.sum() * sample_rate * 2 / 1e9)


def build_species_table(sample_df: pd.DataFrame, taxonomy_df: pd.DataFrame,
                        train_df: pd.DataFrame, soundscape_df: pd.DataFrame) -> pd.DataFrame:
    """Species in submission column order with taxon, focal-clip and soundscape counts."""
    columns = comp.species_columns(sample_df)
    tax = taxonomy_df.set_index("primary_label")
    focal = train_df["primary_label"].astype(str).value_counts()
    secondary = pd.Series([s for row in train_df["secondary"] for s in row], dtype=str)
    secondary_counts = secondary.value_counts()
    window_labels = pd.Series(
        [s for text in soundscape_df["primary_label"] for s in str(text).split(";") if s],
        dtype=str,
    ).value_counts()
    rows = []
    for i, label in enumerate(columns):
        rows.append({
            "column_index": i,
            "primary_label": label,
            "class_name": tax["class_name"].get(label, "unknown"),
            "common_name": tax["common_name"].get(label, "") if "common_name" in tax else "",
            "n_focal_clips": int(focal.get(label, 0)),
            "n_secondary": int(secondary_counts.get(label, 0)),
            "n_soundscape_windows": int(window_labels.get(label, 0)),
        })
    return pd.DataFrame(rows)


def run_prep(cfg: PrepConfig) -> PrepResult:
    """Run nb01 end to end; see the module docstring for the outputs."""
    if cfg.task_spec.classes_source == "train_folders":  # song stems, not labelled clips
        from common.tasks.mashup.prep import run_mashup_prep

        return run_mashup_prep(cfg)
    t0 = time.time()
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "prep_config.json")
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    log.info("competition data: %s", competition_dir)
    workers = resolve_workers(cfg.workers)

    taxonomy_df = comp.read_taxonomy(competition_dir)
    sample_df = comp.read_sample_submission(competition_dir)
    classes = comp.species_columns(sample_df)
    train_df = comp.read_train_metadata(competition_dir)
    if cfg.max_clips:
        train_df = train_df.head(cfg.max_clips).copy()
    labels_df = comp.read_soundscape_labels(competition_dir)
    bad_rows: list[dict[str, str]] = []

    # Labels the submission cannot score are a data error worth seeing, not a crash.
    known = set(classes)
    unknown = ~train_df["primary_label"].isin(known)
    for fn, label in zip(train_df.loc[unknown, "filename"], train_df.loc[unknown, "primary_label"]):
        bad_rows.append({"filename": fn, "kind": "clip",
                         "reason": f"primary label {label!r} is not a submission column"})
    train_df = train_df[~unknown].copy()
    train_df["secondary"] = [[s for s in row if s in known] for row in train_df["secondary"]]

    # Decode, measure and cache focal clips, labelled soundscapes and background soundscapes.
    audio_dir = competition_dir / "train_audio"
    sc_dir = competition_dir / "train_soundscapes"
    keep = None if cfg.cache_seconds <= 0 else cfg.cache_seconds
    scan_path = out / SCAN_NAME
    writer = CacheWriter(cfg.cache_dir, cfg.sample_rate, cfg.shard_mb)
    done = set(read_scan(scan_path)["key"])
    if done:
        log.info("resuming: %d files already scanned", len(done))
    _check_cache_budget(cfg, audio_dir, train_df["filename"], done)
    common_args = (cfg.sample_rate, cfg.min_seconds, cfg.silence_dbfs)
    clip_jobs = [(str(audio_dir / fn), fn, "clip", *common_args, keep, cfg.cache_region)
                 for fn in train_df["filename"] if fn not in done]
    labelled_files = sorted(labels_df["filename"].unique())
    all_soundscapes = sorted(p.name for p in sc_dir.glob("*.ogg")) if sc_dir.is_dir() else []
    unlabelled = [f for f in all_soundscapes if f not in set(labelled_files)]
    rng = np.random.default_rng(cfg.seed)
    n_bg = len(unlabelled) if cfg.n_background_soundscapes < 0 else min(
        cfg.n_background_soundscapes, len(unlabelled))
    background = sorted(rng.choice(unlabelled, size=n_bg, replace=False)) if n_bg else []
    sc_jobs = [(str(sc_dir / fn), f"train_soundscapes/{fn}", kind, *common_args, None, "start")
               for kind, names in (("soundscape", labelled_files), ("background", background))
               for fn in names if f"train_soundscapes/{fn}" not in done]
    missing_sc = [fn for fn in labelled_files if fn not in set(all_soundscapes)]
    for fn in missing_sc:
        bad_rows.append({"filename": f"train_soundscapes/{fn}", "kind": "soundscape",
                         "reason": "listed in train_soundscapes_labels.csv but not on disk"})
    sc_jobs = [j for j in sc_jobs if Path(j[0]).name not in set(missing_sc)]
    scan_and_cache(clip_jobs, writer, scan_path, workers, "decode focal clips")
    scan_and_cache(sc_jobs, writer, scan_path, workers, "decode soundscapes")
    writer.close()

    scan_df = read_scan(scan_path)
    bad_rows += bad_scan_rows(scan_df)
    bad_df = pd.DataFrame(bad_rows, columns=["filename", "kind", "reason"])
    for row in bad_df.itertuples():
        log.warning("bad file excluded: %s (%s)", row.filename, row.reason)

    # Cleaned train metadata with measurements.
    ok = scan_df[scan_df["status"] == "ok"].set_index("key")
    train_df = train_df[train_df["filename"].isin(ok.index)].reset_index(drop=True)
    for column in ("duration_seconds", "active_share", "best_window_start_seconds"):
        train_df[column] = ok.loc[train_df["filename"], column].to_numpy(dtype=float)

    # Folds.
    rare_df = rare_species(train_df, cfg.n_folds)
    train_df["fold"] = assign_clip_folds(train_df, cfg.n_folds, cfg.seed)
    bad_sc = set(bad_df.loc[bad_df["kind"] == "soundscape", "filename"])
    labels_df = labels_df[~labels_df["filename"].map(lambda f: f"train_soundscapes/{f}" in bad_sc)]
    label_lists = [str(t).split(";") for t in labels_df["primary_label"]]
    sc_folds = assign_soundscape_folds(list(labels_df["filename"]), label_lists, cfg.n_folds,
                                       cfg.seed)
    soundscape_df = labels_df.assign(fold=labels_df["filename"].map(sc_folds).astype(int))
    soundscape_df = soundscape_df.reset_index(drop=True)
    species_df = build_species_table(sample_df, taxonomy_df, train_df, soundscape_df)
    summary_df = fold_summary(train_df, cfg.n_folds)
    sc_per_fold = soundscape_df.groupby("fold")["filename"].nunique()
    summary_df["val_soundscapes"] = [int(sc_per_fold.get(k, 0)) for k in summary_df["fold"]]

    # Write outputs.
    write_prep_tables(out, train_df.drop(columns=["secondary"]), soundscape_df, species_df,
                      rare_df, bad_df, summary_df)
    index_df = read_index(cfg.cache_dir)
    report = {
        "competition_dir": str(competition_dir),
        "n_clips": int(len(train_df)),
        "n_bad_files": int(len(bad_df)),
        "n_species": len(classes),
        "n_species_without_focal_clips": int((species_df["n_focal_clips"] == 0).sum()),
        "n_rare_species": int(len(rare_df)),
        "n_labelled_soundscapes": int(soundscape_df["filename"].nunique()),
        "n_labelled_windows": int(len(soundscape_df)),
        "n_background_soundscapes": int((index_df["kind"] == "background").sum()),
        "cache_gb": round(float(index_df["length"].sum()) * 2 / 1e9, 3),
        "seconds": round(time.time() - t0, 1),
    }
    figures = {
        "class_distribution": save_figure(plots.class_distribution(species_df),
                                          out / "figures" / "class_distribution.png"),
        "durations": save_figure(plots.durations(train_df), out / "figures" / "durations.png"),
        "taxon_counts": save_figure(plots.taxon_counts(species_df),
                                    out / "figures" / "taxon_counts.png"),
    }
    (out / "prep_report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_dataset_metadata(out, cfg.dataset_slug, "BirdCLEF 2026 prep (folds + audio cache)",
                           cfg.kaggle_user)
    log.info("prep done: %s", report)
    return PrepResult(out, train_df, soundscape_df, species_df, rare_df, bad_df, summary_df,
                      report, figures)


def _check_cache_budget(cfg: PrepConfig, audio_dir: Path, filenames: pd.Series,
                        done: set[str]) -> None:
    """Fail before hours of decoding if the cache could not be saved as Kaggle output."""
    from common.audio.io import audio_duration

    durations = []
    for fn in filenames:
        try:
            durations.append(audio_duration(audio_dir / fn))
        except AudioDecodeError:
            durations.append(0.0)  # reported as bad by the decoding pass
    limit = cfg.cache_seconds if cfg.cache_seconds > 0 else float("inf")
    projected = project_cache_gb(np.array(durations), limit, cfg.sample_rate)
    log.info("projected focal-clip cache: %.2f GB (%d clips, %d already done)",
             projected, len(durations), len(done))
    if projected > cfg.max_cache_gb:
        raise ValueError(
            f"the audio cache would take {projected:.1f} GB, over max_cache_gb="
            f"{cfg.max_cache_gb}: lower --cache-seconds (now {cfg.cache_seconds}) or raise "
            f"--max-cache-gb if your output allows it"
        )
