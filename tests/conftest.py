"""Shared fixtures: one tiny synthetic competition per task and test session, nb01 run on each once.

Everything is generated into pytest's temporary folders; nothing is written into tests/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.model.frontend import FrontendConfig
from common.model.sed import ModelConfig

# Tests never download: a model config that asks timm for pretrained weights fails at once
# (the hub client reads this when first imported, which is after this file).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
# A frontend and backbone small enough that nb04's tests run in seconds.
TINY_FRONT = FrontendConfig(n_mels=16, n_fft=1024, hop_length=2048)
TINY_MODEL = ModelConfig(backbone="test_efficientnet", head_hidden=16, pretrained=False)


def write_tiny_checkpoints(folder: Path, classes: list[str], n: int = 2) -> list[Path]:
    """``n`` self-describing checkpoints of timm's tiny test backbone (random weights, seeded
    by fold, no download), named like nb02's ``test_efficientnet_fold<k>_best.pt``."""
    import torch

    from common.model.checkpoint import save_checkpoint
    from common.model.sed import build_model

    paths = []
    for fold in range(n):
        torch.manual_seed(fold)
        model = build_model(TINY_MODEL, TINY_FRONT, len(classes))
        paths.append(save_checkpoint(folder / f"test_efficientnet_fold{fold}_best.pt", model,
                                     classes=classes, model_cfg=TINY_MODEL,
                                     frontend_cfg=TINY_FRONT, fold=fold, metrics={}, config={}))
    return paths


def tiny_spec(seed: int = 0):
    """Spectrograms ``(4, 1, n_mels, frames)`` of 4 noise windows through ``TINY_FRONT``."""
    import numpy as np
    import torch

    from common.model.frontend import Frontend

    wave = torch.from_numpy(np.random.default_rng(seed).standard_normal(
        (4, TINY_FRONT.clip_samples)).astype(np.float32) * 0.05)
    return Frontend(TINY_FRONT).eval()(wave)


def smoke_predict_cfg(**changes):
    """nb04's smoke-preset :class:`PredictConfig` with ``changes``."""
    import dataclasses

    from common.core.config import apply_preset
    from common.stages.infer.config import InferConfig

    return dataclasses.replace(apply_preset(InferConfig, "smoke").predict, **changes)


def smoke_infer_cfg(input_root, working_dir, **changes):
    """nb04's smoke-preset config on ``input_root`` with two views and ``changes`` (dotted or
    unique leaf names)."""
    from common.core.config import apply_preset, replace_dotted
    from common.stages.infer.config import InferConfig

    return replace_dotted(apply_preset(InferConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(working_dir), "tta": ("orig", "reverse"),
        **changes})


def make_input_root(root: Path, competition_dir: Path, name: str = "birdclef-2026") -> Path:
    """A folder laid out like /kaggle/input with the competition linked in as ``name``."""
    input_root = root / "input"
    input_root.mkdir(parents=True, exist_ok=True)
    link = input_root / name
    if not link.exists():
        link.symlink_to(competition_dir.resolve(), target_is_directory=True)
    return input_root


@pytest.fixture(scope="module")
def nb04_input_root(tmp_path_factory, tiny_competition) -> Path:
    """An input root with the tiny competition linked in as ``birdclef-2026`` and two tiny
    checkpoints as nb02's models dataset (one per test module: tests may add to it)."""
    from common.data import competition as comp

    root = tmp_path_factory.mktemp("nb04") / "input"
    root.mkdir()
    (root / "birdclef-2026").symlink_to(tiny_competition.competition_dir.resolve())
    classes = comp.species_columns(comp.read_sample_submission(tiny_competition.competition_dir))
    write_tiny_checkpoints(root / "birdclef-2026-models", classes)
    return root


@pytest.fixture(scope="session")
def tiny_competition(tmp_path_factory):
    """The tiny synthetic competition (``SyntheticCompetition``), generated once per session."""
    from devtools.synthetic.birdclef import generate_competition

    return generate_competition(tmp_path_factory.mktemp("tiny"), size="tiny", seed=0)


@pytest.fixture(scope="session")
def prepped_input_root(tmp_path_factory, tiny_competition) -> Path:
    """An input root where nb01 (smoke preset) has already run: ``<root>/birdclef-2026-prep``.

    Read-only for tests: a test that writes must use its own working dir.
    """
    from common.core.config import apply_preset, replace_dotted
    from common.stages.prep.config import PrepConfig
    from common.stages.prep.run import run_prep

    competition_dir = tiny_competition.competition_dir
    input_root = make_input_root(tmp_path_factory.mktemp("prepped"), competition_dir)
    cfg = replace_dotted(apply_preset(PrepConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(input_root / "birdclef-2026-prep")})
    run_prep(cfg)
    return input_root


@pytest.fixture(scope="session")
def tiny_mashup_competition(tmp_path_factory):
    """The tiny synthetic messy-mashup competition (``SyntheticMashupCompetition``: 3 songs per
    genre, 6 noise clips, 10 test clips), generated once per session."""
    from devtools.synthetic.mashup import generate_mashup_competition

    return generate_mashup_competition(tmp_path_factory.mktemp("tiny_mashup"), size="tiny",
                                       seed=0)


@pytest.fixture(scope="session")
def mashup_prepped_input_root(tmp_path_factory, tiny_mashup_competition) -> Path:
    """An input root with the competition linked as ``messy-mashup`` where nb01 (smoke preset,
    task messy-mashup: 2 folds, 1 mashup per genre and fold) has already run into
    ``<root>/messy-mashup-prep``.

    Read-only for tests: a test that writes must use its own working dir.
    """
    from common.core.config import apply_preset, replace_dotted
    from common.stages.prep.config import PrepConfig
    from common.stages.prep.run import run_prep

    input_root = make_input_root(tmp_path_factory.mktemp("mashup_prepped"),
                                 tiny_mashup_competition.competition_dir, name="messy-mashup")
    cfg = replace_dotted(apply_preset(PrepConfig, "smoke", "messy-mashup"), {
        "input_root": str(input_root), "working_dir": str(input_root / "messy-mashup-prep")})
    run_prep(cfg)
    return input_root
