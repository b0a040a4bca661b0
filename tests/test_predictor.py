"""Tests for common.stages.infer.predictor: decoding ahead, the loop's coverage, the budget with a
fake clock."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch

from common.core.config import apply_preset
from common.model.checkpoint import save_checkpoint
from common.model.frontend import FrontendConfig
from common.model.sed import ModelConfig, build_model
from common.stages.infer.config import InferConfig
from common.stages.infer.decode import decode_ahead
from common.stages.infer.members import load_members
from common.stages.infer.predictor import EnsemblePredictor

CLASSES = ["65448", "grekis", "litjas"]
FRONT = FrontendConfig(n_mels=16, n_fft=1024, hop_length=2048)
MODEL = ModelConfig(backbone="test_efficientnet", head_hidden=16, pretrained=False)
SR = 32000


class FakeClock:
    """Every call advances ``step`` seconds: time is spent by doing things, deterministically."""

    def __init__(self, step: float = 1.0) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predictor")
    rng = np.random.default_rng(0)
    paths = []
    for k, seconds in enumerate((20, 20, 13, 20)):
        path = root / f"file{k}.ogg"
        sf.write(path, (0.05 * rng.standard_normal(seconds * SR)).astype(np.float32), SR)
        paths.append(path)
    (root / "broken.ogg").write_bytes(b"not audio")
    ckpts = []
    for seed in range(2):
        torch.manual_seed(seed)
        model = build_model(MODEL, FRONT, len(CLASSES))
        ckpts.append(save_checkpoint(root / f"m{seed}.pt", model, classes=CLASSES,
                                     model_cfg=MODEL, frontend_cfg=FRONT, fold=seed,
                                     metrics={}, config={}))
    return paths, root / "broken.ogg", ckpts


def config(**changes):
    base = apply_preset(InferConfig, "smoke").predict
    return dataclasses.replace(base, **{"tta": ("orig", "reverse", "gain_up"), **changes})


def test_decode_ahead_keeps_order_and_reports_bad_files(setup):
    paths, broken, _ = setup
    items = list(decode_ahead([paths[2], broken, paths[0]], SR, 5 * SR, workers=2, prefetch=2))
    assert [i.index for i in items] == [0, 1, 2]
    assert items[0].windows.shape == (3, 5 * SR)  # 13 s: two windows + a padded third
    assert items[1].windows is None and "broken.ogg" in items[1].error
    assert items[2].windows.shape == (4, 5 * SR)


def test_every_window_predicted_with_batches_across_files(setup):
    paths, broken, ckpts = setup
    members = load_members(ckpts, CLASSES)
    predictor = EnsemblePredictor(members, config(batch_windows=7), CLASSES)
    pred = predictor.predict([*paths, broken])
    assert pred.n_windows == [4, 4, 3, 4, 12]  # the broken file: 60 s assumed
    assert pred.row_ids[:2] == ["file0_5", "file0_10"] and pred.row_ids[10] == "file2_15"
    for cov in pred.covered:
        assert cov[:15].all() and not cov[15:].any()
    assert len(pred.failed_files) == 1 and not pred.stopped_early
    assert any("folded into orig" in e for e in pred.events)
    # the gain view is folded into orig: no pass was spent on it
    assert predictor.pass_windows[:, 2].sum() == 0 and (predictor.pass_windows[:, :2] == 15).all()
    batched = np.concatenate([s[:15] for s in pred.scores])
    assert np.isfinite(batched).all()


def test_batching_does_not_change_predictions(setup):
    paths, _, ckpts = setup
    members = load_members(ckpts, CLASSES)
    a = EnsemblePredictor(members, config(batch_windows=12), CLASSES).predict(paths[:3])
    members = load_members(ckpts, CLASSES)
    b = EnsemblePredictor(members, config(batch_windows=5), CLASSES).predict(paths[:3])
    for sa, sb in zip(a.scores, b.scores):
        np.testing.assert_allclose(sa, sb, atol=1e-4)


def test_budget_drops_views_then_models_and_stops_at_the_deadline(setup):
    paths, _, ckpts = setup
    files = [paths[0], paths[1], paths[3]] * 3  # 9 files of 4 windows, one file per batch

    def run(minutes):
        predictor = EnsemblePredictor(load_members(ckpts, CLASSES),
                                      config(time_budget_minutes=minutes, batch_windows=4),
                                      CLASSES, clock=FakeClock())
        pred = predictor.predict(files)
        return pred, [e for e in pred.events if "dropped" in e]

    # Each clock call costs a fake second, so a run costs about 150 s with everything.
    pred, dropped = run(60)
    assert dropped == [] and all(c.all() for c in pred.covered)
    pred, dropped = run(2.5)  # drop the reverse view only
    assert len(dropped) == 1 and dropped[0].startswith("budget: dropped view reverse")
    assert all(c.all() for c in pred.covered) and not pred.stopped_early
    pred, dropped = run(2.0)  # then the later of two equally expensive models
    assert dropped[1].startswith("budget: dropped model m1.pt")
    assert pred.covered[0].all() and not pred.stopped_early
    assert pred.covered[1].sum() == 4  # the dropped model predicted the probe file only
    pred, _ = run(0.5)  # hopeless: the deadline stops the loop, the rest gets the fallback
    assert pred.stopped_early and any("deadline" in e for e in pred.events)
    assert 0 < pred.covered[0].sum() < 36
    assert len(pred.row_ids) == 36


def test_specaug_views_run_their_own_passes_whatever_the_batching(setup):
    paths, _, ckpts = setup
    views = ("orig", "specaug1", "gain_up", "specaug2")

    def predict(batch_windows):
        predictor = EnsemblePredictor(load_members(ckpts, CLASSES),
                                      config(tta=views, batch_windows=batch_windows), CLASSES)
        return predictor, predictor.predict(paths[:2])

    first, a = predict(12)
    # gain_up folds into orig; each SpecAugment'd view costs a pass over every window
    assert (first.pass_windows[:, [0, 1, 3]] == 8).all() and (first.pass_windows[:, 2] == 0).all()
    _, b = predict(5)  # masks are keyed by window, so other batches give the same predictions
    plain = EnsemblePredictor(load_members(ckpts, CLASSES), config(tta=("orig",)),
                              CLASSES).predict(paths[:2])
    # Random-init models barely react to their input: compare the masks' effect with the
    # float noise of another batching rather than with a fixed tolerance.
    batching = max(np.abs(sa - sb).max() for sa, sb in zip(a.scores, b.scores))
    masking = max(np.abs(sa - sp).max() for sa, sp in zip(a.scores, plain.scores))
    assert masking > max(20 * batching, 1e-6)


def test_budget_drops_specaug_views_like_any_view(setup):
    paths, _, ckpts = setup
    predictor = EnsemblePredictor(load_members(ckpts, CLASSES),
                                  config(tta=("orig", "specaug1", "gain_up"),
                                         time_budget_minutes=2.5, batch_windows=4),
                                  CLASSES, clock=FakeClock())
    pred = predictor.predict([paths[0], paths[1], paths[3]] * 3)
    dropped = [e for e in pred.events if "dropped" in e]
    assert len(dropped) == 1 and dropped[0].startswith("budget: dropped view specaug1")
    assert all(c.all() for c in pred.covered) and not pred.stopped_early
