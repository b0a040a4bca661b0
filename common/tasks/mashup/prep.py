"""nb01 for the messy-mashup task: song folds, training mashups, their audio cache, reports.

The mashup competition gives songs as stems (``train/<genre>/<song_id>/{drums,vocals,bass,
other}.wav``) and environmental noise clips (``noise/``), but scores 30-s *mashups*: stems of
different songs of one genre, tempo-synced, over noise. So this stage folds the songs (per
genre, so every genre is in every fold), renders training mashups out of each fold's songs with
:func:`common.tasks.mashup.generation.generate_mashups` (:mod:`common.tasks.mashup.prep_songs`),
and then writes the same files as every task's nb01 (:mod:`common.stages.prep.run`, which calls
:func:`prepare_mashups` through :meth:`common.tasks.mashup.task.MashupTask.prepare`), so
nb02-nb04 read them through the same code:

- ``train_folds.csv``: one row per training mashup: ``filename`` (the cache key and the path
  inside this folder, ``mashups/<genre>/<file>.wav``), ``primary_label`` (the genre),
  ``secondary_labels`` (``"[]"``), ``fold`` (>= 0; a fold's mashups hold only its songs),
  ``duration_seconds``, ``active_share``, ``best_window_start_seconds``, then where the mashup
  came from (``index``, ``tempo_bpm``, ``snr_db``, ``noise_file`` as its cache key
  ``noise/<name>``, ``songs``, ``<stem>_song``, ``n_stems``, ``stretch_rates``, ``gains_db``);
- ``soundscape_labels_folds.csv`` and ``rare_species.csv``: headers only (no such data);
- ``species.csv``: the genres in model-output order (``class_name`` ``"genre"``);
- ``songs_folds.csv``: ``genre, song_id, fold`` plus the song's usable stems and tempo;
- ``bad_files.csv``: ``filename`` (relative to the competition folder, or a cache key),
  ``kind`` (``stem``, ``noise``, ``song``, ``clip``, ``background``) and ``reason``: corrupt,
  undecodable, silent or missing stems and noise clips, songs whose ``train.csv`` row and folder
  disagree, mashups or noise clips that failed caching. Nothing is dropped without a row here;
- ``cache/``: every mashup whole (kind ``clip``) and every usable noise clip (kind
  ``background``, key ``noise/<name>``), float16 at ``sample_rate``;
- ``mashups/``: the WAVs and :func:`~common.tasks.mashup.generation.generate_mashups`' tables;
- ``fold_summary.csv``, ``figures/*.png``, ``prep_config.json``, ``prep_report.json``,
  ``dataset-metadata.json``.

A stopped run resumes: finished mashups are kept (and a finished set is not even re-scanned),
and cached files are not decoded again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from common.audio.cache import CacheWriter, read_index
from common.data.folds import fold_summary
from common.report import data_plots as plots
from common.report.plots import save_figure
from common.stages.prep.scan import (
    SCAN_NAME,
    audio_durations,
    bad_scan_rows,
    check_cache_budget,
    project_cache_gb,
    read_scan,
    scan_and_cache,
)
from common.stages.prep.tables import BAD_COLUMNS, PrepTables, write_prep_tables
from common.tasks.mashup import plots as mashup_plots
from common.tasks.mashup.generation import SONGS_CSV
from common.tasks.mashup.prep_config import MashupPrepConfig
from common.tasks.mashup.prep_songs import (
    MASHUP_DIRNAME,
    NOISE_DIRNAME,
    SONG_FOLDS_CSV,
    check_same_folds,
    find_mashup_competition,
    make_mashups,
    noise_names,
    read_songs,
    skipped_to_bad_rows,
)
from common.tasks.mashup.stems import assign_song_folds

log = logging.getLogger(__name__)

__all__ = ["build_genre_table", "build_song_table", "build_train_table", "check_prep_inputs",
           "prepare_mashups"]

SOUNDSCAPE_COLUMNS = ["filename", "start_seconds", "end_seconds", "row_id", "primary_label",
                      "fold"]
RARE_COLUMNS = ["primary_label", "n_clips", "policy"]
MEASURE_COLUMNS = ["duration_seconds", "active_share", "best_window_start_seconds"]


# ---------------------------------------------------------------------------------------------
# Inputs and the output budget.


def check_prep_inputs(cfg: MashupPrepConfig) -> Path:
    """The competition folder (:func:`~common.tasks.mashup.prep_songs.find_mashup_competition`),
    once the render rate is checked to be the decode rate (else the mashups would be resampled
    on caching); raises ``ValueError`` / ``FileNotFoundError`` naming the fix."""
    if cfg.mashup.sample_rate != cfg.sample_rate:
        raise ValueError(f"mashup.sample_rate={cfg.mashup.sample_rate} differs from "
                         f"sample_rate={cfg.sample_rate}: the mashups would be resampled on "
                         "caching; set both to the test clips' rate "
                         f"({cfg.task_spec.sample_rate} Hz)")
    return find_mashup_competition(cfg)


def _check_cache_budget(cfg: MashupPrepConfig, n_mashups: int, noise_paths: list[Path]
                        ) -> None:
    """Fail before rendering if the mashups and noise would not fit the Kaggle output."""
    durations = np.concatenate([np.full(n_mashups, cfg.mashup.clip_seconds),
                                audio_durations(noise_paths)])
    cache_gb = project_cache_gb(durations, cfg.cache_limit_seconds, cfg.sample_rate)
    wav_gb = n_mashups * cfg.mashup.n_samples * 2 / 1e9  # 16-bit WAVs, kept for listening
    log.info("projected: %.2f GB of cache + %.2f GB of mashup WAVs (%d mashups)", cache_gb,
             wav_gb, n_mashups)
    check_cache_budget(cache_gb + wav_gb, cfg.max_cache_gb,
                       f"{n_mashups} mashups (cache and WAVs)",
                       f"lower --mashups-per-genre-per-fold (now "
                       f"{cfg.mashups_per_genre_per_fold})")


# ---------------------------------------------------------------------------------------------
# Tables.


def build_genre_table(classes: list[str], train_df: pd.DataFrame) -> pd.DataFrame:
    """``species.csv`` for genres: one row per class in output order, mashup counts."""
    counts = train_df["primary_label"].value_counts()
    return pd.DataFrame({
        "column_index": range(len(classes)),
        "primary_label": pd.Series(classes, dtype=object),
        "class_name": "genre",
        "common_name": pd.Series(classes, dtype=object),
        "n_focal_clips": [int(counts.get(c, 0)) for c in classes],
        "n_secondary": 0,
        "n_soundscape_windows": 0,
    })


def build_train_table(mashups_df: pd.DataFrame, scan_df: pd.DataFrame) -> pd.DataFrame:
    """``train_folds.csv`` rows of the mashups that were cached (see the module docstring)."""
    ok = scan_df[scan_df["status"] == "ok"].set_index("key")
    keys = MASHUP_DIRNAME + "/" + mashups_df["filename"]
    cached = keys.isin(ok.index).to_numpy()
    df, keys = mashups_df[cached].reset_index(drop=True), keys[cached].reset_index(drop=True)
    out = pd.DataFrame({"filename": keys, "primary_label": df["genre"],
                        "secondary_labels": "[]", "fold": df["fold"].astype(int)})
    for column in MEASURE_COLUMNS:
        out[column] = ok.loc[keys, column].to_numpy(dtype=float)
    out["tempo_bpm"] = df["tempo_bpm"].astype(float)
    out["snr_db"] = df["snr_db"].astype(float)
    out["noise_file"] = [f"{NOISE_DIRNAME}/{n}" if n else "" for n in df["noise_file"].fillna("")]
    taken = {"filename", "genre", "fold", *out.columns}
    return pd.concat([out, df[[c for c in df.columns if c not in taken]]], axis=1)


def build_song_table(folds_df: pd.DataFrame, mashup_dir: Path) -> pd.DataFrame:
    """``songs_folds.csv``: the folds plus each song's usable stems (``""``: none) and tempo."""
    scanned = pd.read_csv(mashup_dir / SONGS_CSV, dtype={"genre": str, "song_id": str,
                                                          "stems": str},
                          keep_default_na=False)
    merged = folds_df[["genre", "song_id", "fold"]].merge(
        scanned[["genre", "song_id", "stems", "tempo_bpm", "tempo_source"]],
        on=["genre", "song_id"], how="left")
    merged["stems"] = merged["stems"].fillna("")
    return merged.rename(columns={"stems": "usable_stems"})


# ---------------------------------------------------------------------------------------------
# The task's nb01.


def prepare_mashups(cfg: MashupPrepConfig, competition_dir: Path, workers: int) -> PrepTables:
    """nb01's tables for the mashup task, written into ``cfg.output_dir`` (see the module
    docstring); the soundscape and rare-class tables are empty.

    Args:
        cfg: the stage config; ``competition_dir``: from :func:`check_prep_inputs`;
        workers: rendering and decoding processes.
    """
    out = cfg.output_dir
    classes = cfg.task_spec.read_classes(competition_dir)

    # Song-level folds, stratified by genre: a fold's mashups use only its songs.
    songs_df, bad_rows = read_songs(competition_dir)
    folds_df = assign_song_folds(songs_df, cfg.n_folds, cfg.seed)
    check_same_folds(out, folds_df)
    folds_df.to_csv(out / SONG_FOLDS_CSV, index=False)
    n_pairs = folds_df[["genre", "fold"]].drop_duplicates().shape[0]
    noise = noise_names(competition_dir)
    _check_cache_budget(cfg, n_pairs * cfg.mashups_per_genre_per_fold,
                        [competition_dir / NOISE_DIRNAME / n for n in noise])

    mashups_df = make_mashups(cfg, competition_dir, folds_df, workers)
    mashup_dir = out / MASHUP_DIRNAME
    bad_rows += skipped_to_bad_rows(mashup_dir, competition_dir)
    rejected_noise = {r["filename"] for r in bad_rows if r["kind"] == "noise"}

    # Cache every mashup whole and every usable noise clip, resuming an earlier partial run.
    scan_path = out / SCAN_NAME
    done = set(read_scan(scan_path)["key"])
    if done:
        log.info("resuming: %d files already cached", len(done))
    common_args = (cfg.sample_rate, cfg.min_seconds, cfg.silence_dbfs)
    mashup_jobs = [(str(mashup_dir / fn), f"{MASHUP_DIRNAME}/{fn}", "clip", *common_args,
                    cfg.cache_limit_seconds, "start") for fn in mashups_df["filename"]
                   if f"{MASHUP_DIRNAME}/{fn}" not in done]
    noise_jobs = [(str(competition_dir / NOISE_DIRNAME / n), f"{NOISE_DIRNAME}/{n}",
                   "background", *common_args, None, "start") for n in noise
                  if f"{NOISE_DIRNAME}/{n}" not in rejected_noise | done]
    writer = CacheWriter(cfg.cache_dir, cfg.sample_rate, cfg.shard_mb)
    scan_and_cache(mashup_jobs, writer, scan_path, workers, "cache mashups")
    scan_and_cache(noise_jobs, writer, scan_path, workers, "cache noise")
    writer.close()

    scan_df = read_scan(scan_path)
    bad_rows += bad_scan_rows(scan_df)
    bad_df = pd.DataFrame(bad_rows, columns=BAD_COLUMNS)
    reasons = bad_df["reason"].str.split(":").str[0].value_counts()
    if len(bad_df):  # the renderer has logged examples; one line with the totals here
        log.warning("%d files excluded (%s): listed in %s", len(bad_df),
                    ", ".join(f"{k} {v}" for k, v in reasons.items()), out / "bad_files.csv")

    train_df = build_train_table(mashups_df, scan_df)
    songs_out = build_song_table(folds_df, mashup_dir)
    species_df = build_genre_table(classes, train_df)
    summary_df = fold_summary(train_df, cfg.n_folds)
    usable = songs_out[songs_out["usable_stems"] != ""]
    songs_per_fold = usable.groupby("fold")["song_id"].nunique()
    summary_df["val_songs"] = [int(songs_per_fold.get(k, 0)) for k in summary_df["fold"]]
    per_genre = train_df.groupby(["fold", "primary_label"]).size().unstack(fill_value=0)
    per_genre = per_genre.reindex(index=summary_df["fold"], columns=classes, fill_value=0)
    summary_df["min_val_clips_per_genre"] = per_genre.min(axis=1).to_numpy(dtype=int)
    soundscape_df = pd.DataFrame(columns=SOUNDSCAPE_COLUMNS)
    rare_df = pd.DataFrame(columns=RARE_COLUMNS)

    write_prep_tables(out, train_df, soundscape_df, species_df, rare_df, bad_df, summary_df)
    songs_out.to_csv(out / SONG_FOLDS_CSV, index=False)
    index_df = read_index(cfg.cache_dir)
    report = {
        "n_genres": len(classes),
        "n_songs": int(len(songs_out)),
        "n_songs_without_usable_stem": int(len(songs_out) - len(usable)),
        "n_mashups": int(len(train_df)),
        "mashups_per_genre_per_fold": cfg.mashups_per_genre_per_fold,
        "n_folds": cfg.n_folds,
        "n_bad_files": int(len(bad_df)),
        "bad_file_reasons": {str(k): int(v) for k, v in reasons.items()},
        "n_noise_clips": int((index_df["kind"] == "background").sum()),
    }
    figures_dir = out / "figures"
    figures = {
        "genre_fold_counts": save_figure(
            mashup_plots.genre_fold_counts(songs_out, train_df, classes),
            figures_dir / "genre_fold_counts.png"),
        "mashup_recipes": save_figure(mashup_plots.mashup_recipes(train_df),
                                      figures_dir / "mashup_recipes.png"),
        "bad_files": save_figure(plots.bad_file_reasons(bad_df),
                                 figures_dir / "bad_files.png"),
    }
    return PrepTables(train_df, soundscape_df, species_df, rare_df, bad_df, summary_df, report,
                      figures, title="Messy mashup prep (mashups, folds, cache)")
