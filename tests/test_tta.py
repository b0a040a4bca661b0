"""Tests for common.stages.infer.tta: the views, their equivalences, folding views that cost no
pass."""

import numpy as np
import pytest
import torch

from common.audio.augment import SpecAugmentConfig
from common.model.frontend import Frontend, FrontendConfig
from common.stages.infer.tta import (
    apply_view,
    check_views,
    fold_duplicate_views,
    is_spec_view,
    mask_view,
    spectra_equal,
    window_key,
)

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
    assert check_views(["orig", "specaug1", "specaug12"]) == ("orig", "specaug1", "specaug12")
    for bad in (("reverse",), ("orig", "flip"), ("orig", "orig"), (), ("orig", "specaug0"),
                ("orig", "specaug"), ("orig", "specaug1", "specaug1"), ("specaug1",)):
        with pytest.raises(ValueError):
            check_views(bad)
    assert is_spec_view("specaug3") and not is_spec_view("orig")


SPEC_CFG = SpecAugmentConfig(p=1.0)


def spectrogram_batch(n=3):
    front = Frontend(CFG)
    return front(torch.cat([noisy_chirp(seed=k) for k in range(n)]))  # (n, 1, 32, frames)


def test_specaug_views_mask_deterministically_per_window():
    spec = spectrogram_batch()
    keys = [window_key("a.wav", 0), window_key("a.wav", 1), window_key("b.wav", 0)]
    one = mask_view(spec, "specaug1", keys, SPEC_CFG)
    assert one.shape == spec.shape and not torch.equal(one, spec)
    torch.testing.assert_close(mask_view(spec, "specaug1", keys, SPEC_CFG), one, rtol=0, atol=0)
    for i in range(3):  # every window is masked: whole mel rows or frames at its mean
        changed = one[i, 0] != spec[i, 0]
        assert changed.any()
        torch.testing.assert_close(one[i, 0][changed], spec[i].mean().expand(
            int(changed.sum())), rtol=0, atol=1e-6)
        assert (changed.all(dim=1).any() or changed.all(dim=0).any())  # a band, not noise
    # a window's masks depend on the window only, not on the batch around it
    alone = mask_view(spec[2:3], "specaug1", keys[2:], SPEC_CFG)
    torch.testing.assert_close(alone[0], one[2], rtol=0, atol=0)
    # other view numbers, seeds and windows draw other masks; orig and padding rows stay as is
    two = mask_view(spec, "specaug2", keys, SPEC_CFG)
    assert not torch.equal(two, one)
    assert not torch.equal(mask_view(spec, "specaug1", keys, SPEC_CFG, seed=1), one)
    assert not torch.equal(one[0] != spec[0], one[1] != spec[1])
    assert mask_view(spec, "orig", keys, SPEC_CFG) is spec
    padded = mask_view(spec, "specaug1", [*keys[:2], None], SPEC_CFG)
    torch.testing.assert_close(padded[2], spec[2], rtol=0, atol=0)
    with pytest.raises(ValueError, match="window keys"):
        mask_view(spec, "specaug1", keys[:2], SPEC_CFG)


def test_specaug_views_keep_their_own_pass_and_leave_the_waveform():
    wave = noisy_chirp()
    assert apply_view(wave, "specaug1") is wave
    views = ("orig", "specaug1", "gain_up", "specaug2")
    assert fold_duplicate_views(views, CFG) == {"orig": 2.0, "specaug1": 1.0, "specaug2": 1.0}
    assert fold_duplicate_views(views, CFG, lambda v: True) == {
        "orig": 2.0, "specaug1": 1.0, "specaug2": 1.0}
