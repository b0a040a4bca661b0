"""``generate_competition``: plan, render the audio, write the tables."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from devtools.synthetic.birdclef.config import COMPETITION_DIRNAME, SIZES
from devtools.synthetic.birdclef.layout import SyntheticCompetition, write_tables
from devtools.synthetic.birdclef.plan import plan_competition
from devtools.synthetic.birdclef.render import audio_jobs, default_workers, run_jobs

logger = logging.getLogger(__name__)


def generate_competition(
    root: str | Path,
    size: str = "tiny",
    seed: int = 0,
    empty_test: bool = False,
    workers: int | None = None,
) -> SyntheticCompetition:
    """Write a fake ``birdclef-2026`` folder and its answer key under ``root``.

    Args:
        root: folder to write into; ``root/birdclef-2026`` must not exist yet or be empty.
        size: a key of ``SIZES`` ("tiny" for tests, "demo" for the README demo).
        seed: non-negative; the same seed gives byte-identical files on any worker count.
        empty_test: write ``test_soundscapes/readme.txt`` instead of test audio, like Kaggle's
            public download. The hidden test set is the one the same seed would render, so the
            sample submission and answer key are unchanged.
        workers: processes rendering audio; default: the CPU cores this process may use
            (``os.sched_getaffinity``, else ``os.cpu_count()``); 1 renders in-process.

    Returns:
        The paths of the competition folder and the answer key.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    started = time.perf_counter()
    root = Path(root)
    competition_dir = root / COMPETITION_DIRNAME
    answer_dir = root / "answer_key"
    for folder in (competition_dir, answer_dir):
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; delete it or choose another --out")

    plan = plan_competition(SIZES[size], seed)
    train_audio = competition_dir / "train_audio"
    for sp in plan.species:
        if not sp.soundscape_only:
            (train_audio / sp.label).mkdir(parents=True, exist_ok=True)
    for name in ("train_soundscapes", "test_soundscapes"):
        (competition_dir / name).mkdir(parents=True, exist_ok=True)
    answer_dir.mkdir(parents=True, exist_ok=True)

    jobs = audio_jobs(plan, competition_dir, seed, empty_test)
    run_jobs(jobs, plan.voices, default_workers() if workers is None else workers)
    competition = SyntheticCompetition(root, competition_dir, answer_dir / "solution.csv")
    write_tables(plan, competition, size, seed, empty_test)
    logger.info(
        "synthetic %s (size=%s, seed=%d): %d species, %d clips, %d soundscapes in %.1f s",
        COMPETITION_DIRNAME,
        size,
        seed,
        len(plan.species),
        len(plan.clips),
        len(plan.soundscapes),
        time.perf_counter() - started,
    )
    return competition
