"""nb01's inputs for the mashup task: the songs, their folds and the training mashups.

The ``train/<genre>/<song_id>/`` folders are read and cross-checked with ``train.csv``
(:func:`read_songs`); the training mashups are rendered by
:func:`common.tasks.mashup.generation.generate_mashups` into ``<working_dir>/mashups/``, or read
back when an earlier run finished exactly the set asked for (:func:`make_mashups`); what the
generator left out becomes ``bad_files`` rows (:func:`skipped_to_bad_rows`). The flow that uses
them is :mod:`common.tasks.mashup.prep`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from common.core.config import config_to_dict
from common.core.paths import find_competition_dir
from common.stages.prep.scan import SCAN_NAME
from common.tasks.mashup.generation import (
    CONFIG_JSON,
    MASHUPS_CSV,
    SKIPPED_CSV,
    SONGS_CSV,
    generate_mashups,
)
from common.tasks.mashup.prep_config import MashupPrepConfig
from common.tasks.mashup.recipe import AUDIO_SUFFIXES, STEM_TYPES
from common.tasks.mashup.stems import list_songs

log = logging.getLogger(__name__)

__all__ = ["MASHUP_DIRNAME", "NOISE_DIRNAME", "SONG_FOLDS_CSV", "check_same_folds",
           "find_mashup_competition", "make_mashups", "noise_names", "read_mashups_table",
           "read_songs", "skipped_to_bad_rows"]

MASHUP_DIRNAME = "mashups"  # inside the prep folder; also the cache-key prefix of mashups
NOISE_DIRNAME = "noise"  # inside the competition folder; also the cache-key prefix of noise
SONG_FOLDS_CSV = "songs_folds.csv"
_MASHUP_STRING_COLUMNS = ["filename", "genre", "songs", "stretch_rates", "gains_db",
                          "noise_file", *(f"{t}_song" for t in STEM_TYPES)]


# ---------------------------------------------------------------------------------------------
# Reading the competition.


def find_mashup_competition(cfg: MashupPrepConfig) -> Path:
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


def check_same_folds(out: Path, folds_df: pd.DataFrame) -> None:
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


def _finished_mashups(mashup_dir: Path, folds_df: pd.DataFrame, cfg: MashupPrepConfig
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


def make_mashups(cfg: MashupPrepConfig, competition_dir: Path, folds_df: pd.DataFrame,
                 workers: int) -> pd.DataFrame:
    """The ``mashups.csv`` table of ``cfg.mashups_per_genre_per_fold`` mashups per genre-fold.

    Written to ``<working_dir>/mashups/`` by :func:`common.tasks.mashup.generation.generate_mashups`
    (in a process pool of ``workers``), or read back when an earlier run finished them.
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


def noise_names(competition_dir: Path) -> list[str]:
    """Audio files of ``noise/``, relative to it (POSIX), sorted: what generate_mashups uses."""
    noise_dir = competition_dir / NOISE_DIRNAME
    if not noise_dir.is_dir():
        return []
    return sorted(p.relative_to(noise_dir).as_posix() for p in noise_dir.rglob("*")
                  if p.suffix.lower() in AUDIO_SUFFIXES)
