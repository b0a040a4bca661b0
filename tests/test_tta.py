"""Tests for common.tta: the views, their equivalences, folding views that cost no pass."""

import numpy as np
import pytest
import torch

from common.frontend import Frontend, FrontendConfig
from common.tta import apply_view, check_views, fold_duplicate_views, spectra_equal

CFG = FrontendConfig(n_mels=32, clip_seconds=1.0)


def noisy_chirp(n=32000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 32000
    x = 0.3 * np.sin(2 * np.pi * (1500 + 4000 * t) * t) + 0.02 * rng.standard_normal(n)
    return torch.from_numpy(x.astype(np.float32))[None]


def test_reverse_of_a_symmetric_signal_is_the_signal():
    half = noisy_chirp(16000)
    sym = torch.cat([half, torch.flip(half, dims=(-1,))], dim=-1)
    torch.testing.assert_close(apply_view(sym, "reverse"), sym)
    front = Frontend(CFG)
    assert spectra_equal(front(apply_view(sym, "reverse")), front(sym))
    wave = noisy_chirp()
    assert not spectra_equal(front(apply_view(wave, "reverse")), front(wave))


def test_gain_views_scale_by_3_db():
    wave = noisy_chirp()
    up, down = apply_view(wave, "gain_up"), apply_view(wave, "gain_down")
    ratio_db = 20 * torch.log10(up.abs().max() / wave.abs().max())
    assert ratio_db.item() == pytest.approx(3.0, abs=1e-4)
    torch.testing.assert_close(up * down, wave * wave)


def test_gain_is_a_no_op_under_per_window_normalisation_only():
    wave = noisy_chirp()
    norm = Frontend(CFG)
    assert spectra_equal(norm(apply_view(wave, "gain_up")), norm(wave))
    raw = Frontend(FrontendConfig(n_mels=32, clip_seconds=1.0, normalize="none"))
    assert not spectra_equal(raw(apply_view(wave, "gain_up")), raw(wave))


def test_folding_keeps_the_average_of_all_views():
    views = ("orig", "reverse", "gain_up", "gain_down")
    assert fold_duplicate_views(views, CFG) == {"orig": 3.0, "reverse": 1.0}
    raw = FrontendConfig(normalize="none")
    assert fold_duplicate_views(views, raw) == {v: 1.0 for v in views}
    # a numerical check can fold what the config alone cannot prove
    assert fold_duplicate_views(views, raw, lambda v: v == "gain_up") == {
        "orig": 2.0, "reverse": 1.0, "gain_down": 1.0}


def test_view_lists_are_checked():
    assert check_views(["orig", "reverse"]) == ("orig", "reverse")
    for bad in (("reverse",), ("orig", "flip"), ("orig", "orig"), ()):
        with pytest.raises(ValueError):
            check_views(bad)
