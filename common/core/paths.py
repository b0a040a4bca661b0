"""Where inputs live on Kaggle and locally.

A local input root mirrors ``/kaggle/input``: the competition folder at
``<input_root>/birdclef-2026`` and every earlier stage's output at ``<input_root>/<slug>``.
Kaggle mounts competitions at either ``/kaggle/input/<competition>`` or
``/kaggle/input/competitions/<competition>``, and attached datasets at
``/kaggle/input/<slug>`` or ``/kaggle/input/datasets/<owner>/<slug>``, and attached notebook
outputs at ``/kaggle/input/<slug>`` or ``/kaggle/input/notebooks/<owner>/<slug>``; all are
accepted.
"""

from __future__ import annotations

from pathlib import Path

KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")


def competition_candidates(input_root: str | Path, competition: str) -> list[Path]:
    """The folders a competition may be mounted at, in the order they are tried."""
    root = Path(input_root)
    return [root / competition, root / "competitions" / competition]


def find_competition_dir(input_root: str | Path, competition: str = "birdclef-2026") -> Path:
    """The competition folder under ``input_root``; raises naming every place it looked."""
    candidates = competition_candidates(input_root, competition)
    for candidate in candidates:
        if (candidate / "train.csv").is_file() or (candidate / "taxonomy.csv").is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"competition data {competition!r} not found (looked in {tried}). On Kaggle, add the "
        f"competition to the notebook; locally, pass --input-root DIR with DIR/{competition}/."
    )


def find_dataset_dir(input_root: str | Path, slug: str, must_contain: str | None = None) -> Path:
    """The folder of an attached dataset (an earlier stage's output) under ``input_root``.

    Args:
        input_root: ``/kaggle/input`` or its local mirror.
        slug: the dataset slug, e.g. ``birdclef-2026-prep``.
        must_contain: a file name the dataset must hold, checked so that the error says what is
            missing rather than failing later on a half-published dataset.
    """
    root = Path(input_root)
    candidates = [root / slug, *sorted(root.glob(f"datasets/*/{slug}")),
                  *sorted(root.glob(f"notebooks/*/{slug}"))]
    for candidate in candidates:
        if candidate.is_dir():
            if must_contain and not (candidate / must_contain).exists():
                raise FileNotFoundError(
                    f"dataset {slug!r} at {candidate} has no {must_contain}: was the stage that "
                    f"makes it run to the end, and its output published as this dataset?"
                )
            return candidate
    raise FileNotFoundError(
        f"dataset {slug!r} not found under {root} (looked for {root / slug} and "
        f"{root}/datasets/*/{slug}). Attach the earlier stage's output dataset, or run that "
        f"stage locally with --working-dir {root / slug}."
    )
