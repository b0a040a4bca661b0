"""Command line: ``python -m common.synthetic_mashup --out DIR [--size tiny|demo] [--seed 0]``.

Apart from ``__main__.py`` so that ``main`` can be imported (tests) without importing
``__main__``, which ``python -m`` would then run a second time.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.synthetic.mashup.config import COMPETITION_DIRNAME, SIZES
from devtools.synthetic.mashup.generate import (
    SyntheticMashupCompetition,
    generate_mashup_competition,
)


def main(argv: Sequence[str] | None = None) -> SyntheticMashupCompetition:
    """Parse the arguments, generate, and print where everything is."""
    parser = argparse.ArgumentParser(
        prog="python -m common.synthetic_mashup",
        description="Write a fake 'messy mashup' music-genre competition (DIR/messy-mashup: "
        "stems per song per genre, noise clips, 30-s test mashups) and its hidden answer key "
        "(DIR/answer_key), deterministically.")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder to write into")
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES),
                        help="tiny: tests, ~15 s; demo: README demo and baselines, ~2 min "
                        "(default tiny)")
    parser.add_argument("--seed", default=0, type=int, help="random seed (default 0)")
    parser.add_argument("--workers", default=None, type=int,
                        help="processes rendering audio (default: all CPU cores)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started = time.perf_counter()
    competition = generate_mashup_competition(args.out, args.size, args.seed, args.workers)
    size = SIZES[args.size]
    print(f"synthetic {COMPETITION_DIRNAME} (size={args.size}, seed={args.seed}) in "
          f"{time.perf_counter() - started:.1f} s")
    print(f"  competition folder: {competition.competition_dir}")
    print(f"  answer key:         {competition.answer_key_path}")
    print(f"  manifest:           {competition.manifest_path}")
    print(f"  10 genres x {size.n_train_songs_per_genre} train songs, "
          f"{10 * size.n_test_per_genre} test mashups, "
          f"{6 * size.n_noise_per_category} noise clips")
    return competition
