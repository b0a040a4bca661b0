"""Shared fixtures: one tiny synthetic competition per test session, and nb01 run on it once.

Everything is generated into pytest's temporary folders; nothing is written into tests/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_input_root(root: Path, competition_dir: Path) -> Path:
    """A folder laid out like /kaggle/input with the competition linked in as birdclef-2026."""
    input_root = root / "input"
    input_root.mkdir(parents=True, exist_ok=True)
    link = input_root / "birdclef-2026"
    if not link.exists():
        link.symlink_to(competition_dir.resolve(), target_is_directory=True)
    return input_root


@pytest.fixture(scope="session")
def tiny_competition(tmp_path_factory):
    """The tiny synthetic competition (``SyntheticCompetition``), generated once per session."""
    from common.synthetic import generate_competition

    return generate_competition(tmp_path_factory.mktemp("tiny"), size="tiny", seed=0)


@pytest.fixture(scope="session")
def prepped_input_root(tmp_path_factory, tiny_competition) -> Path:
    """An input root where nb01 (smoke preset) has already run: ``<root>/birdclef-2026-prep``.

    Read-only for tests: a test that writes must use its own working dir.
    """
    from common.config import apply_preset, replace_dotted
    from common.prep import PrepConfig, run_prep

    competition_dir = tiny_competition.competition_dir
    input_root = make_input_root(tmp_path_factory.mktemp("prepped"), competition_dir)
    cfg = replace_dotted(apply_preset(PrepConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(input_root / "birdclef-2026-prep")})
    run_prep(cfg)
    return input_root
