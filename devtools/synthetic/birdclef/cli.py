"""Command line: ``python -m common.synthetic --out DIR [--size tiny|demo] [--seed 0]``.

Lives apart from ``__main__.py`` so that ``devtools.synthetic.birdclef.main`` can be imported
(tests) without
importing ``__main__``, which ``python -m`` would then run a second time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.synthetic.birdclef.config import COMPETITION_DIRNAME, SIZES
from devtools.synthetic.birdclef.generate import generate_competition
from devtools.synthetic.birdclef.layout import SyntheticCompetition


def main(argv: Sequence[str] | None = None) -> SyntheticCompetition:
    """Command line: ``python -m common.synthetic --out DIR [--size demo] [--seed 0]``."""
    parser = argparse.ArgumentParser(
        prog="python -m common.synthetic",
        description="Write a fake BirdCLEF+ 2026 competition folder (DIR/birdclef-2026, laid "
        "out like Kaggle's) and its hidden answer key (DIR/answer_key), deterministically.",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder to write into"
    )
    parser.add_argument(
        "--size",
        default="tiny",
        choices=sorted(SIZES),
        help="tiny: tests, ~10 s; demo: README demo, ~1-2 min (default tiny)",
    )
    parser.add_argument("--seed", default=0, type=int, help="random seed (default 0)")
    parser.add_argument(
        "--empty-test",
        action="store_true",
        help="leave test_soundscapes empty but for readme.txt, like Kaggle's public data",
    )
    parser.add_argument(
        "--workers",
        default=None,
        type=int,
        help="processes rendering audio (default: all CPU cores)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    competition = generate_competition(
        args.out, args.size, args.seed, args.empty_test, args.workers
    )
    size = SIZES[args.size]
    print(
        f"synthetic {COMPETITION_DIRNAME} (size={args.size}, seed={args.seed}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    print(f"  competition folder: {competition.competition_dir}")
    print(f"  answer key:         {competition.answer_key_path}")
    print(f"  manifest:           {competition.manifest_path}")
    print(
        f"  {size.n_species} species, {size.n_focal_clips} focal clips, "
        f"{size.n_train_soundscapes} train soundscapes ({size.n_labelled_soundscapes} "
        f"labelled), {size.n_test_soundscapes} test soundscapes"
        + (" (not written: --empty-test)" if args.empty_test else "")
    )
    return competition
