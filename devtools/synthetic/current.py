"""Is a generated demo competition still what the generator makes today?

    python -m devtools.synthetic.current TASK DATA_DIR SIZE [--seed 0]

Exits 0 when ``DATA_DIR/answer_key/manifest.json`` records the same size parameters and seed
as the generator's current ``SIZES[SIZE]``, 1 otherwise (no manifest, another seed, or a size
whose parameters changed since, e.g. more labelled soundscapes), so ``scripts/demo.sh``
regenerates a stale demo instead of silently reusing it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

__all__ = ["is_current", "main"]


def _sizes(task: str) -> dict:
    if task == "birdclef-2026":
        from devtools.synthetic.birdclef.config import SIZES
    elif task == "messy-mashup":
        from devtools.synthetic.mashup.config import SIZES
    else:
        raise ValueError(f"no synthetic generator for task {task!r}")
    return SIZES


def is_current(task: str, data_dir: str | Path, size: str, seed: int = 0) -> bool:
    """True when ``data_dir`` was generated for ``task`` with today's ``size`` and ``seed``."""
    path = Path(data_dir) / "answer_key" / "manifest.json"
    if not path.is_file() or not (Path(data_dir) / "answer_key" / "solution.csv").is_file():
        return False
    manifest = json.loads(path.read_text())
    wanted = json.loads(json.dumps(dataclasses.asdict(_sizes(task)[size])))  # tuples as lists
    return (manifest.get("size") == size and manifest.get("seed") == seed
            and manifest.get("size_parameters") == wanted)


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 (current) or 1 (stale or missing); the reason on stderr."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task")
    parser.add_argument("data_dir")
    parser.add_argument("size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if is_current(args.task, args.data_dir, args.size, args.seed):
        return 0
    print(f"{args.data_dir}: missing or made by an older generator; generating it again",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
