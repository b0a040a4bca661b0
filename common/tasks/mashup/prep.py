"""nb01 for the messy-mashup task: song folds, training mashups, their audio cache, reports.

The mashup competition gives songs as stems (``train/<genre>/<song_id>/{drums,vocals,bass,
other}.wav``) and environmental noise clips (``noise/``), but scores 30-s *mashups*: stems of
different songs of one genre, tempo-synced, over noise. So this stage folds the songs (per
genre, so every genre is in every fold), renders training mashups out of each fold's songs with
:func:`common.tasks.mashup.generation.generate_mashups`, and then writes the same files as the
BirdCLEF branch of :func:`common.stages.prep.run.run_prep`, so nb02-nb04 read them through the
same code:

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

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.audio.cache import CacheWriter, read_index
from common.audio.io import AudioDecodeError, audio_duration
from common.core.config import config_to_dict, save_config
from common.core.kaggle import write_dataset_metadata
from common.core.paths import find_competition_dir
from common.core.runtime import resolve_workers
from common.data.folds import fold_summary
from common.report import data_plots
from common.report.plots import save_figure
from common.stages.prep.run import (
    SCAN_NAME,
    PrepConfig,
    PrepResult,
    bad_scan_rows,
    project_cache_gb,
    read_scan,
    scan_and_cache,
    write_prep_tables,
)
from common.tasks.mashup.generation import (
    CONFIG_JSON,
    MASHUPS_CSV,
    SKIPPED_CSV,
    SONGS_CSV,
    generate_mashups,
)
from common.tasks.mashup.recipe import AUDIO_SUFFIXES, STEM_TYPES
from common.tasks.mashup.stems import assign_song_folds, list_songs

log = logging.getLogger(__name__)

__all__ = ["MASHUP_DIRNAME", "SONG_FOLDS_CSV", "find_mashup_competition", "make_mashups",
           "read_mashups_table", "read_songs", "run_mashup_prep"]

MASHUP_DIRNAME = "mashups"  # inside the prep folder; also the cache-key prefix of mashups
NOISE_DIRNAME = "noise"  # inside the competition folder; also the cache-key prefix of noise
SONG_FOLDS_CSV = "songs_folds.csv"
BAD_COLUMNS = ["filename", "kind", "reason"]
SOUNDSCAPE_COLUMNS = ["filename", "start_seconds", "end_seconds", "row_id", "primary_label",
                      "fold"]
RARE_COLUMNS = ["primary_label", "n_clips", "policy"]
MEASURE_COLUMNS = ["duration_seconds", "active_share", "best_window_start_seconds"]
_MASHUP_STRING_COLUMNS = ["filename", "genre", "songs", "stretch_rates", "gains_db",
                          "noise_file", *(f"{t}_song" for t in STEM_TYPES)]


# ---------------------------------------------------------------------------------------------
# Reading the competition.


def find_mashup_competition(cfg: PrepConfig) -> Path:
    """The competition folder, checked to hold ``train/<genre>/<song_id>/`` stem folders.

    Raises ``FileNotFoundError`` naming the folder and the fix when it is another kind of
    competition (a BirdCLEF folder has ``train_audio/``, not ``train/<genre>/``).
    """
    competition_dir = find_competition_dir(cfg.input_root, cfg.competition)
    train_dir = competition_dir / "train"
    has_songs = train_dir.is_dir() and any(
        song.is_dir() for genre in train_dir.iterdir() if genre.is_dir()
        for song in genre.iterdir())
    if not has_songs:
        hint = (" It looks like a BirdCLEF competition: run with --task birdclef-2026."
                if (competition_dir / "train_audio").is_dir() else "")
        raise FileNotFoundError(
            f"{competition_dir} is not a {cfg.task} competition folder: it has no "
            f"train/<genre>/<song_id>/ folders of stems.{hint} Otherwise point --input-root "
            f"(or --competition) at the folder holding train/, noise/ and train.csv.")
    return competition_dir


def read_songs(competition_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Songs to use (``genre, song_id`` strings) and ``bad_files`` rows of rejected ones.

    The ``train/`` folders are the truth (they are where the stems are); ``train.csv`` is a
    cross-check: a listed song without a folder, or one whose folder is under another genre
    than its row says, is reported (kind ``song``) and the latter is left out, as its label is
    in doubt. Folders that ``train.csv`` does not list are used, with a warning.
    """
    competition_dir = Path(competition_dir)
    songs_df = list_songs(competition_dir / "train")
    bad_rows: list[dict[str, str]] = []
    listed_path = competition_dir / "train.csv"
    if not listed_path.is_file():
        log.warning("%s is missing: using the train/ folders alone", listed_path)
        return songs_df, bad_rows
    listed = pd.read_csv(listed_path, dtype=str, keep_default_na=False)
    if not {"song_id", "genre"} <= set(listed.columns):
        raise ValueError(f"{listed_path} has columns {list(listed.columns)}; expected song_id "
                         "and genre")
    listed_genre = dict(zip(listed["song_id"], listed["genre"]))
    folder_genre = dict(zip(songs_df["song_id"], songs_df["genre"]))
    for song_id, genre in listed_genre.items():
        if song_id not in folder_genre:
            bad_rows.append({"filename": f"train/{genre}/{song_id}", "kind": "song",
                             "reason": "listed in train.csv but has no folder of stems"})
    mismatch = [(g, s) for g, s in zip(songs_df["genre"], songs_df["song_id"])
                if s in listed_genre and listed_genre[s] != g]
    for genre, song_id in mismatch:
        bad_rows.append({"filename": f"train/{genre}/{song_id}", "kind": "song",
                         "reason": f"train.csv says genre {listed_genre[song_id]!r}; label in "
                                   "doubt, song left out"})
    unlisted = sorted(set(folder_genre) - set(listed_genre))
    if unlisted:
        log.warning("%d song folders are not in train.csv (used anyway), e.g. %s",
                    len(unlisted), unlisted[0])
    keep = ~songs_df["song_id"].isin([s for _, s in mismatch])
    return songs_df[keep].reset_index(drop=True), bad_rows


def read_mashups_table(path: str | Path) -> pd.DataFrame:
    """A ``mashups.csv`` with song ids and file names as strings (ids can look numeric)."""
    header = pd.read_csv(path, nrows=0).columns
    df = pd.read_csv(path, dtype={c: str for c in _MASHUP_STRING_COLUMNS if c in header},
                     keep_default_na=False, na_values={"snr_db": [""], "tempo_bpm": [""]})
    return df.astype({"fold": int, "index": int})


# ---------------------------------------------------------------------------------------------
# Making the mashups (resumable).


def _check_same_folds(out: Path, folds_df: pd.DataFrame) -> None:
    """Refuse to resume over mashups rendered from other song folds (they would leak)."""
    path = out / SONG_FOLDS_CSV
    if not path.is_file() or not (out / MASHUP_DIRNAME).is_dir():
        return
    before = pd.read_csv(path, dtype={"genre": str, "song_id": str}, keep_default_na=False)
    columns = ["genre", "song_id", "fold"]
    same = before[columns].sort_values(columns[:2]).reset_index(drop=True).equals(
        folds_df[columns].sort_values(columns[:2]).reset_index(drop=True))
    if not same:
        raise FileExistsError(
            f"{out} holds mashups made from other song folds ({path}); changing n_folds, seed "
            f"or the songs needs an empty --working-dir (or delete {MASHUP_DIRNAME}/, cache/, "
            f"{SCAN_NAME} and {SONG_FOLDS_CSV} there)")


def _finished_mashups(mashup_dir: Path, folds_df: pd.DataFrame, cfg: PrepConfig
                      ) -> pd.DataFrame | None:
    """The ``mashups.csv`` of an earlier run that made exactly the mashups asked for, else None.

    Lets a resumed run skip :func:`generate_mashups`, whose stem scan (decoding and tempo
    tracking every song) costs minutes on the real data even when every mashup exists.
    """
    paths = [mashup_dir / name for name in (CONFIG_JSON, MASHUPS_CSV, SKIPPED_CSV, SONGS_CSV)]
    if not all(p.is_file() for p in paths):
        return None
    expected = {"seed": cfg.seed, "n_per_genre_per_fold": cfg.mashups_per_genre_per_fold,
                "config": config_to_dict(cfg.mashup)}
    if json.loads(paths[0].read_text()) != expected:
        return None
    mashups_df = read_mashups_table(paths[1])
    pairs = set(zip(folds_df["genre"], folds_df["fold"].astype(int)))
    wanted = {(g, k, i) for g, k in pairs for i in range(cfg.mashups_per_genre_per_fold)}
    made = set(zip(mashups_df["genre"], mashups_df["fold"], mashups_df["index"]))
    if made != wanted or not all((mashup_dir / f).is_file() for f in mashups_df["filename"]):
        return None
    return mashups_df


def make_mashups(cfg: PrepConfig, competition_dir: Path, folds_df: pd.DataFrame,
                 workers: int) -> pd.DataFrame:
    """The ``mashups.csv`` table of ``cfg.mashups_per_genre_per_fold`` mashups per genre-fold.

    Written to ``<working_dir>/mashups/`` by :func:`common.tasks.mashup.generation.generate_mashups`
    (in a
    process pool of ``workers``), or read back when an earlier run finished them.
    """
    mashup_dir = cfg.output_dir / MASHUP_DIRNAME
    finished = _finished_mashups(mashup_dir, folds_df, cfg)
    if finished is not None:
        log.info("resuming: all %d mashups already made in %s", len(finished), mashup_dir)
        return finished
    noise_dir = competition_dir / NOISE_DIRNAME
    if not noise_dir.is_dir():
        log.warning("%s is missing: training mashups get no noise, unlike the test clips",
                    noise_dir)
    return generate_mashups(competition_dir / "train", noise_dir if noise_dir.is_dir() else None,
                            mashup_dir, folds_df, cfg.mashups_per_genre_per_fold, cfg.mashup,
                            seed=cfg.seed, workers=workers)


def _relative(path: str, root: Path, fallback: str) -> str:
    """``path`` relative to ``root`` (POSIX), or ``fallback`` when it lies elsewhere (a run
    resumed with the competition mounted at another place)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return fallback


def skipped_to_bad_rows(mashup_dir: Path, competition_dir: Path) -> list[dict[str, str]]:
    """``bad_files`` rows of the stems and noise clips :func:`generate_mashups` left out."""
    skipped = pd.read_csv(mashup_dir / SKIPPED_CSV, dtype=str, keep_default_na=False)
    rows = []
    for genre, song_id, stem, path, reason in skipped[
            ["genre", "song_id", "stem", "path", "reason"]].itertuples(index=False):
        if stem == "noise":
            name = _relative(path, competition_dir / NOISE_DIRNAME, Path(path).name)
            rows.append({"filename": f"{NOISE_DIRNAME}/{name}", "kind": "noise",
                         "reason": reason})
        else:
            fallback = f"train/{genre}/{song_id}/{Path(path).name}"
            rows.append({"filename": _relative(path, competition_dir, fallback), "kind": "stem",
                         "reason": reason})
    return rows


def _noise_names(competition_dir: Path) -> list[str]:
    """Audio files of ``noise/``, relative to it (POSIX), sorted: what generate_mashups uses."""
    noise_dir = competition_dir / NOISE_DIRNAME
    if not noise_dir.is_dir():
        return []
    return sorted(p.relative_to(noise_dir).as_posix() for p in noise_dir.rglob("*")
                  if p.suffix.lower() in AUDIO_SUFFIXES)


def _check_cache_budget(cfg: PrepConfig, n_mashups: int, noise_paths: list[Path]) -> None:
    """Fail before rendering if the mashups and noise would not fit the Kaggle output."""
    limit = cfg.cache_seconds if cfg.cache_seconds > 0 else float("inf")
    durations = [cfg.mashup.clip_seconds] * n_mashups
    for path in noise_paths:
        try:
            durations.append(audio_duration(path))
        except AudioDecodeError:
            pass  # listed as bad by the mashup scan
    cache_gb = project_cache_gb(np.array(durations), limit, cfg.sample_rate)
    wav_gb = n_mashups * cfg.mashup.n_samples * 2 / 1e9  # 16-bit WAVs, kept for listening
    log.info("projected: %.2f GB of cache + %.2f GB of mashup WAVs (%d mashups)", cache_gb,
             wav_gb, n_mashups)
    if cache_gb + wav_gb > cfg.max_cache_gb:
        raise ValueError(
            f"{n_mashups} mashups would take {cache_gb + wav_gb:.1f} GB (cache and WAVs), over "
            f"max_cache_gb={cfg.max_cache_gb}: lower --mashups-per-genre-per-fold (now "
            f"{cfg.mashups_per_genre_per_fold}) or raise --max-cache-gb if your output allows it")


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
# The stage.


def run_mashup_prep(cfg: PrepConfig) -> PrepResult:
    """nb01 for a task whose classes are the ``train/`` folders; see the module docstring.

    Called by :func:`common.stages.prep.run.run_prep`; returns the same :class:`PrepResult` (with
    empty
    soundscape and rare-class tables).
    """
    t0 = time.time()
    if cfg.mashup.sample_rate != cfg.sample_rate:
        raise ValueError(f"mashup.sample_rate={cfg.mashup.sample_rate} differs from "
                         f"sample_rate={cfg.sample_rate}: the mashups would be resampled on "
                         "caching; set both to the test clips' rate "
                         f"({cfg.task_spec.sample_rate} Hz)")
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "prep_config.json")
    competition_dir = find_mashup_competition(cfg)
    log.info("competition data: %s", competition_dir)
    classes = cfg.task_spec.read_classes(competition_dir)
    workers = resolve_workers(cfg.workers)

    # Song-level folds, stratified by genre: a fold's mashups use only its songs.
    songs_df, bad_rows = read_songs(competition_dir)
    folds_df = assign_song_folds(songs_df, cfg.n_folds, cfg.seed)
    _check_same_folds(out, folds_df)
    folds_df.to_csv(out / SONG_FOLDS_CSV, index=False)
    n_pairs = folds_df[["genre", "fold"]].drop_duplicates().shape[0]
    noise_names = _noise_names(competition_dir)
    _check_cache_budget(cfg, n_pairs * cfg.mashups_per_genre_per_fold,
                        [competition_dir / NOISE_DIRNAME / n for n in noise_names])

    mashups_df = make_mashups(cfg, competition_dir, folds_df, workers)
    mashup_dir = out / MASHUP_DIRNAME
    bad_rows += skipped_to_bad_rows(mashup_dir, competition_dir)
    rejected_noise = {r["filename"] for r in bad_rows if r["kind"] == "noise"}

    # Cache every mashup whole and every usable noise clip, resuming an earlier partial run.
    scan_path = out / SCAN_NAME
    done = set(read_scan(scan_path)["key"])
    if done:
        log.info("resuming: %d files already cached", len(done))
    keep = None if cfg.cache_seconds <= 0 else cfg.cache_seconds
    common_args = (cfg.sample_rate, cfg.min_seconds, cfg.silence_dbfs)
    mashup_jobs = [(str(mashup_dir / fn), f"{MASHUP_DIRNAME}/{fn}", "clip", *common_args, keep,
                    "start") for fn in mashups_df["filename"]
                   if f"{MASHUP_DIRNAME}/{fn}" not in done]
    noise_jobs = [(str(competition_dir / NOISE_DIRNAME / n), f"{NOISE_DIRNAME}/{n}",
                   "background", *common_args, None, "start") for n in noise_names
                  if f"{NOISE_DIRNAME}/{n}" not in rejected_noise | done]
    writer = CacheWriter(cfg.cache_dir, cfg.sample_rate, cfg.shard_mb)
    scan_and_cache(mashup_jobs, writer, scan_path, workers, "cache mashups")
    scan_and_cache(noise_jobs, writer, scan_path, workers, "cache noise")
    writer.close()

    scan_df = read_scan(scan_path)
    bad_rows += bad_scan_rows(scan_df)
    bad_df = pd.DataFrame(bad_rows, columns=BAD_COLUMNS)
    reasons = bad_df["reason"].str.split(":").str[0].value_counts()
    if len(bad_df):  # the generator has logged examples; one line with the totals here
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
    report: dict[str, Any] = {
        "competition_dir": str(competition_dir),
        "n_genres": len(classes),
        "n_songs": int(len(songs_out)),
        "n_songs_without_usable_stem": int(len(songs_out) - len(usable)),
        "n_mashups": int(len(train_df)),
        "mashups_per_genre_per_fold": cfg.mashups_per_genre_per_fold,
        "n_folds": cfg.n_folds,
        "n_bad_files": int(len(bad_df)),
        "bad_file_reasons": {str(k): int(v) for k, v in reasons.items()},
        "n_noise_clips": int((index_df["kind"] == "background").sum()),
        "cache_gb": round(float(index_df["length"].sum()) * 2 / 1e9, 3),
        "seconds": round(time.time() - t0, 1),
    }
    figures_dir = out / "figures"
    figures = {
        "genre_fold_counts": save_figure(data_plots.genre_fold_counts(songs_out, train_df, classes),
                                         figures_dir / "genre_fold_counts.png"),
        "mashup_recipes": save_figure(data_plots.mashup_recipes(train_df),
                                      figures_dir / "mashup_recipes.png"),
        "bad_files": save_figure(data_plots.bad_file_reasons(bad_df),
                                 figures_dir / "bad_files.png"),
    }
    (out / "prep_report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_dataset_metadata(out, cfg.dataset_slug, "Messy mashup prep (mashups, folds, cache)",
                           cfg.kaggle_user)
    log.info("prep done: %s", report)
    return PrepResult(out, train_df, soundscape_df, species_df, rare_df, bad_df, summary_df,
                      report, figures)
