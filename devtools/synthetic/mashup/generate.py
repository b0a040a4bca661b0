"""``generate_mashup_competition``: plan the songs, render stems and noise, make the test set."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.core.parallel import parallel_map, process_pool
from common.core.runtime import cpu_count
from common.tasks.mashup import GENRES
from common.tasks.mashup import TASK as MASHUP
from common.tasks.mashup.generation import generate_mashups
from common.tasks.mashup.recipe import MashupConfig
from devtools.synthetic.mashup.config import (
    COMPETITION_DIRNAME,
    NOISE_CATEGORIES,
    SIZES,
    Stream,
    stream_rng,
)
from devtools.synthetic.mashup.songs import write_corrupt_stem, write_noise, write_song
from devtools.synthetic.mashup.styles import SongPlan, plan_song

logger = logging.getLogger(__name__)

__all__ = ["SyntheticMashupCompetition", "generate_mashup_competition", "plan_songs",
           "solution_frame"]

_SPLITS = {"train": 0, "test": 1}


@dataclass(frozen=True)
class SyntheticMashupCompetition:
    """Where a generated mashup competition and its hidden answers are."""

    root: Path
    competition_dir: Path  # root/messy-mashup: train/, noise/, test/, train.csv, sample_sub...
    answer_key_path: Path  # root/answer_key/solution.csv: id, genre of every test clip

    @property
    def answer_dir(self) -> Path:
        return self.answer_key_path.parent

    @property
    def manifest_path(self) -> Path:
        return self.answer_dir / "manifest.json"


def plan_songs(split: str, n_per_genre: int, song_seconds: tuple[float, float], seed: int
               ) -> list[SongPlan]:
    """Song plans of one split, genre by genre; ids like GTZAN's (``blues.00003``)."""
    plans = []
    for g, genre in enumerate(GENRES):
        for i in range(n_per_genre):
            rng = stream_rng(seed, Stream.SONG_PLAN, _SPLITS[split], g, i)
            song_id = f"{genre}.{i:05d}" if split == "train" else f"{genre}.test{i:03d}"
            plans.append(plan_song(genre, song_id, rng.uniform(*song_seconds), rng))
    return plans


def generate_mashup_competition(root: str | Path, size: str = "tiny", seed: int = 0,
                                workers: int | None = None) -> SyntheticMashupCompetition:
    """Write a fake ``messy-mashup`` competition and its answer key under ``root``.

    Args:
        root: folder to write into; ``root/messy-mashup`` and ``root/answer_key`` must not exist
            or be empty.
        size: a key of ``SIZES``.
        seed: non-negative; the same seed gives the same files on any worker count.
        workers: processes (default: every CPU this process may use; 1 = in-process).

    Layout (see the package docstring): the competition folder holds ``train/<genre>/<song>/``
    stems, ``noise/`` clips, ``test/<id>.wav`` mashups, ``train.csv`` and
    ``sample_submission.csv``; ``answer_key/`` holds ``solution.csv``, ``test_mashups.csv``
    (how each test clip was made) and ``manifest.json``. The test songs' stems and noise clips
    are rendered into ``answer_key/hidden/`` and deleted once the test clips are made (the
    recipe in ``test_mashups.csv`` and the plans in the manifest remain): they are not needed
    again and would triple the size of a tiny competition.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    started = time.perf_counter()
    sz = SIZES[size]
    root = Path(root)
    competition_dir, answer_dir = root / COMPETITION_DIRNAME, root / "answer_key"
    for folder in (competition_dir, answer_dir):
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; delete it or choose another --out")
    workers = cpu_count() if workers is None else workers
    hidden_dir = answer_dir / "hidden"

    train_plans = plan_songs("train", sz.n_train_songs_per_genre, sz.song_seconds, seed)
    test_plans = plan_songs("test", sz.n_test_songs_per_genre, sz.song_seconds, seed)
    song_jobs = [(p, str(competition_dir / "train" / p.genre / p.song_id),
                  (seed, int(Stream.SONG_AUDIO), 0, n)) for n, p in enumerate(train_plans)]
    song_jobs += [(p, str(hidden_dir / "stems" / p.genre / p.song_id),
                   (seed, int(Stream.SONG_AUDIO), 1, n)) for n, p in enumerate(test_plans)]
    noise_jobs = []
    for hidden, count, folder in ((0, sz.n_noise_per_category, competition_dir / "noise"),
                                  (1, sz.n_hidden_noise_per_category, hidden_dir / "noise")):
        for c, category in enumerate(NOISE_CATEGORIES):
            for k in range(count):
                # Hidden clips get their own names: the test set's noise is not in noise/.
                name = f"{category}_{'h' if hidden else ''}{k:02d}.wav"
                noise_jobs.append((category, sz.noise_seconds, str(folder / name),
                                   (seed, int(Stream.NOISE), hidden, c, k)))
    pool = process_pool(workers)
    try:
        # Long songs first: keeps both workers busy to the end.
        order = sorted(range(len(song_jobs)), key=lambda i: -song_jobs[i][0].seconds)
        parallel_map(write_song, [song_jobs[i] for i in order], workers, "synthetic stems",
                     "song", pool, star=True)
        parallel_map(write_noise, noise_jobs, workers, "synthetic noise", "clip", pool,
                     star=True)
        corrupt = _plant_corrupt_stems(train_plans, competition_dir, sz.n_corrupt_stems, seed)
        # The hidden test set: the competition's recipe on songs and noise clips not in train.
        test_folds = pd.DataFrame({"genre": [p.genre for p in test_plans],
                                   "song_id": [p.song_id for p in test_plans], "fold": 0})
        made = generate_mashups(hidden_dir / "stems", hidden_dir / "noise",
                                hidden_dir / "mashups", test_folds, sz.n_test_per_genre,
                                MashupConfig(), seed, workers, pool=pool)
    finally:
        if pool is not None:
            pool.shutdown()
    rng = stream_rng(seed, Stream.TEST_IDS)
    made = made.iloc[rng.permutation(len(made))].reset_index(drop=True)
    made.insert(0, "id", [f"mashup_{k:04d}" for k in range(len(made))])
    (competition_dir / "test").mkdir(parents=True, exist_ok=True)
    for clip_id, filename in zip(made["id"], made["filename"]):
        shutil.move(str(hidden_dir / "mashups" / filename), competition_dir / "test" /
                    f"{clip_id}.wav")
    made = made.sort_values("id").reset_index(drop=True)
    shutil.rmtree(hidden_dir)

    label = MASHUP.label_column
    pd.DataFrame({"song_id": [p.song_id for p in train_plans],
                  "genre": [p.genre for p in train_plans]}).to_csv(
        competition_dir / "train.csv", index=False)
    pd.DataFrame({"id": made["id"], label: GENRES[0]}).to_csv(
        competition_dir / "sample_submission.csv", index=False)
    answer_dir.mkdir(parents=True, exist_ok=True)
    made[["id", "genre"]].rename(columns={"genre": label}).to_csv(
        answer_dir / "solution.csv", index=False)
    made.to_csv(answer_dir / "test_mashups.csv", index=False)
    competition = SyntheticMashupCompetition(root, competition_dir, answer_dir / "solution.csv")
    manifest = {
        "size": size, "seed": seed, "size_parameters": dataclasses.asdict(sz),
        "corrupt_stems": corrupt,
        "silent_vocal_stems": [f"train/{p.genre}/{p.song_id}/vocals.wav" for p in train_plans
                               if p.vocals == "none"],
        "train_songs": [_plan_summary(p) for p in train_plans],
        "test_songs": [_plan_summary(p) for p in test_plans],
    }
    competition.manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    (answer_dir / "README.txt").write_text(
        "Hidden answers of the synthetic messy-mashup competition. solution.csv: id, genre of\n"
        "every test/<id>.wav; test_mashups.csv: the songs, stems, stretch rates, gains, noise\n"
        "clip and SNR behind each (test songs and noise clips are not in the competition\n"
        "folder); manifest.json: planted bad files and every song's musical plan.\n")
    logger.info("synthetic %s (size=%s, seed=%d): %d train songs, %d test mashups in %.1f s",
                COMPETITION_DIRNAME, size, seed, len(train_plans), len(made),
                time.perf_counter() - started)
    return competition


def _plant_corrupt_stems(plans: list[SongPlan], competition_dir: Path, n: int, seed: int
                         ) -> list[dict[str, str]]:
    """Replace ``n`` train stems (of different songs) by < 4 KB junk; returns what was planted."""
    rng = stream_rng(seed, Stream.CORRUPT)
    planted = []
    songs = rng.choice(len(plans), size=min(n, len(plans)), replace=False)
    for k, index in enumerate(sorted(int(i) for i in songs)):
        plan = plans[index]
        stem = str(rng.choice(["drums", "vocals", "bass", "other"]))
        kind = ("garbage", "truncated")[k % 2]
        path = competition_dir / "train" / plan.genre / plan.song_id / f"{stem}.wav"
        write_corrupt_stem(path, kind, rng)
        planted.append({"path": str(path.relative_to(competition_dir)), "kind": kind})
    return planted


def _plan_summary(plan: SongPlan) -> dict[str, object]:
    keys = ("genre", "song_id", "seconds", "tempo_bpm", "drum_pattern", "bass_style",
            "chord_style", "rolloff", "drive", "vocals", "borrowed", "borrowed_from")
    return {k: (round(v, 3) if isinstance(v, float) else v)
            for k, v in ((k, getattr(plan, k)) for k in keys)}


def solution_frame(competition: SyntheticMashupCompetition) -> pd.DataFrame:
    """The answer key (``id, genre``) with labels as strings."""
    return pd.read_csv(competition.answer_key_path, dtype=str)

