"""nb01 for BirdCLEF: clean the metadata, decode and cache the audio, fold clips and soundscapes.

Called through :meth:`common.tasks.birdclef.task.BirdclefTask.prepare` by
:func:`common.stages.prep.run.run_prep`, which writes the report and the dataset metadata.
Besides the tables every task writes (see :mod:`common.stages.prep.run`):

- ``train_folds.csv``: the cleaned ``train.csv`` (labels the submission cannot score are bad
  files) with the scan's measurements and ``fold`` (stratified over primary and secondary
  labels; ``-1`` for rare species, always trained on, never validated);
- ``soundscape_labels_folds.csv``: the labelled soundscape windows, folded by file;
- ``species.csv``: the sample submission's columns with taxon, focal-clip, secondary and
  soundscape-window counts;
- ``cache/``: the first (or most active) ``cache_seconds`` of each focal clip (kind ``clip``),
  every labelled soundscape whole (``soundscape``) and a seeded sample of
  ``n_background_soundscapes`` unlabelled ones (``background``);
- ``figures/``: class distribution, durations, taxon counts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from common.audio.cache import CacheWriter, read_index
from common.budget.fit import CacheChoice
from common.data import competition as comp
from common.data.folds import (
    assign_clip_folds,
    assign_soundscape_folds,
    fold_summary,
    rare_species,
)
from common.report import data_plots as plots
from common.report.plots import save_figure
from common.stages.prep.budget import size_cache
from common.stages.prep.config import PrepConfig
from common.stages.prep.scan import (
    SCAN_NAME,
    audio_durations,
    bad_scan_rows,
    read_scan,
    scan_and_cache,
)
from common.stages.prep.tables import BAD_COLUMNS, PrepTables, write_prep_tables

log = logging.getLogger(__name__)

__all__ = ["build_species_table", "prepare_birdclef"]

MEASURE_COLUMNS = ("duration_seconds", "active_share", "best_window_start_seconds")


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


def _size_cache(cfg: PrepConfig, audio_dir: Path, filenames: pd.Series, sc_paths: list[Path],
                done: set[str]) -> tuple[PrepConfig, CacheChoice]:
    """``cache_seconds`` fitted to ``max_cache_gb`` from the file headers (focal clips and the
    soundscapes cached whole), before hours of decoding; fails if nothing fits."""
    durations = audio_durations(audio_dir / fn for fn in filenames)
    sc_seconds = float(audio_durations(sc_paths).sum())
    # ``done`` also holds soundscapes: count only the focal clips it already has.
    log.info("cache budget: %d clips (%d already done), %d soundscapes (%.0f s)",
             len(durations), len(done.intersection(filenames)), len(sc_paths), sc_seconds)
    return size_cache(cfg, durations, sc_seconds)


def _background_sample(unlabelled: list[str], n: int, seed: int) -> list[str]:
    """``n`` of the ``unlabelled`` soundscapes (``n < 0``: all), drawn with ``seed``, sorted."""
    rng = np.random.default_rng(seed)
    n_bg = len(unlabelled) if n < 0 else min(n, len(unlabelled))
    return sorted(rng.choice(unlabelled, size=n_bg, replace=False)) if n_bg else []


def _unscorable_rows(train_df: pd.DataFrame, known: set[str]) -> list[dict[str, str]]:
    """``bad_files`` rows of clips whose primary label is not a submission column: a data
    error worth seeing, not a crash."""
    unknown = ~train_df["primary_label"].isin(known)
    return [{"filename": fn, "kind": "clip",
             "reason": f"primary label {label!r} is not a submission column"}
            for fn, label in zip(train_df.loc[unknown, "filename"],
                                 train_df.loc[unknown, "primary_label"])]


def prepare_birdclef(cfg: PrepConfig, competition_dir: Path, workers: int) -> PrepTables:
    """nb01's BirdCLEF tables, written into ``cfg.output_dir`` (see the module docstring).

    Args:
        cfg: the stage config; ``competition_dir``: the competition folder;
        workers: decoding processes.
    """
    out = cfg.output_dir
    taxonomy_df = comp.read_taxonomy(competition_dir)
    sample_df = comp.read_sample_submission(competition_dir)
    classes = comp.species_columns(sample_df)
    train_df = comp.read_train_metadata(competition_dir)
    if cfg.max_clips:
        train_df = train_df.head(cfg.max_clips).copy()
    labels_df = comp.read_soundscape_labels(competition_dir)

    known = set(classes)
    bad_rows = _unscorable_rows(train_df, known)
    train_df = train_df[train_df["primary_label"].isin(known)].copy()
    train_df["secondary"] = [[s for s in row if s in known] for row in train_df["secondary"]]

    # Decode, measure and cache focal clips, labelled soundscapes and background soundscapes.
    audio_dir = competition_dir / "train_audio"
    sc_dir = competition_dir / "train_soundscapes"
    scan_path = out / SCAN_NAME
    writer = CacheWriter(cfg.cache_dir, cfg.sample_rate, cfg.shard_mb)
    done = set(read_scan(scan_path)["key"])
    if done:
        log.info("resuming: %d files already scanned", len(done))
    labelled_files = sorted(labels_df["filename"].unique())
    all_soundscapes = sorted(p.name for p in sc_dir.glob("*.ogg")) if sc_dir.is_dir() else []
    unlabelled = [f for f in all_soundscapes if f not in set(labelled_files)]
    background = _background_sample(unlabelled, cfg.n_background_soundscapes, cfg.seed)
    cfg, cache_choice = _size_cache(
        cfg, audio_dir, train_df["filename"],
        [sc_dir / fn for fn in (*labelled_files, *background) if fn in set(all_soundscapes)],
        done)
    common_args = (cfg.sample_rate, cfg.min_seconds, cfg.silence_dbfs)
    clip_jobs = [(str(audio_dir / fn), fn, "clip", *common_args, cfg.cache_limit_seconds,
                  cfg.cache_region) for fn in train_df["filename"] if fn not in done]
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
    bad_df = pd.DataFrame(bad_rows, columns=BAD_COLUMNS)
    for row in bad_df.itertuples():
        log.warning("bad file excluded: %s (%s)", row.filename, row.reason)

    # Cleaned train metadata with measurements.
    ok = scan_df[scan_df["status"] == "ok"].set_index("key")
    train_df = train_df[train_df["filename"].isin(ok.index)].reset_index(drop=True)
    for column in MEASURE_COLUMNS:
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

    write_prep_tables(out, train_df.drop(columns=["secondary"]), soundscape_df, species_df,
                      rare_df, bad_df, summary_df)
    index_df = read_index(cfg.cache_dir)
    report = {
        "n_clips": int(len(train_df)),
        "n_bad_files": int(len(bad_df)),
        "n_species": len(classes),
        "n_species_without_focal_clips": int((species_df["n_focal_clips"] == 0).sum()),
        "n_rare_species": int(len(rare_df)),
        "n_labelled_soundscapes": int(soundscape_df["filename"].nunique()),
        "n_labelled_windows": int(len(soundscape_df)),
        "n_background_soundscapes": int((index_df["kind"] == "background").sum()),
        "cache_seconds": cache_choice.seconds,
        "cache_choice": cache_choice.reason,
    }
    figures_dir = out / "figures"
    figures = {
        "class_distribution": save_figure(plots.class_distribution(species_df),
                                          figures_dir / "class_distribution.png"),
        "durations": save_figure(plots.durations(train_df), figures_dir / "durations.png"),
        "taxon_counts": save_figure(plots.taxon_counts(species_df),
                                    figures_dir / "taxon_counts.png"),
    }
    return PrepTables(train_df, soundscape_df, species_df, rare_df, bad_df, summary_df, report,
                      figures, title="BirdCLEF 2026 prep (folds + audio cache)")
