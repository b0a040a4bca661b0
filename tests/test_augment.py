"""Tests for common.audio.wave_ops, common.audio.soundscape_sim and common.audio.augment: every
augmentation measured against what its docstring promises (one file: the shape and dtype contract
below runs over the functions of all three)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from common.audio.augment import SpecAugment, SpecAugmentConfig, WaveAugment, WaveAugmentConfig
from common.audio.soundscape_sim import apply_soundscape, plan_soundscape, simulate_soundscape
from common.audio.wave_ops import (
    EPS_POWER,
    _rolled_rows,
    add_noise_at_snr,
    colored_noise,
    cyclic_roll,
    label_smoothing,
    mix_background,
    mixup,
    random_gain,
    roll_rows,
)

N = 4000  # samples per row: small, the functions do not depend on the rate


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(batch: int = 8, n: int = N, seed: int = 0,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random rows at levels spread over 30 dB."""
    g = _gen(seed)
    levels = 10.0 ** (-torch.rand(batch, 1, generator=g) * 1.5)
    return (0.3 * levels * torch.randn(batch, n, generator=g)).to(dtype)


def _one_hot(batch: int, n_classes: int, species: list[int] | None = None) -> torch.Tensor:
    species = species if species is not None else [i % n_classes for i in range(batch)]
    targets = torch.zeros(batch, n_classes)
    targets[torch.arange(batch), torch.tensor(species)] = 1.0
    return targets


def _db(power_ratio: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(power_ratio)


def _pow(x: torch.Tensor) -> torch.Tensor:
    return x.double().square().mean(dim=-1)


# ---------------------------------------------------------------------------------------------
# Shapes, dtypes, no in-place changes.


WAVE_FUNCS = {
    "cyclic_roll": lambda w, t, b, g: (cyclic_roll(w, g), t),
    "add_noise_at_snr": lambda w, t, b, g: (add_noise_at_snr(w, b, 10.0), t),
    "mix_background": lambda w, t, b, g: (mix_background(w, b, torch.full((w.shape[0],), 5.0)), t),
    "random_gain": lambda w, t, b, g: (random_gain(w, g), t),
    "simulate_soundscape": lambda w, t, b, g: simulate_soundscape(w, t, b, g),
    "mixup": lambda w, t, b, g: mixup(w, t, g),
    "label_smoothing": lambda w, t, b, g: (w, label_smoothing(t, 0.1)),
    "WaveAugment": lambda w, t, b, g: WaveAugment(WaveAugmentConfig.strong())(w, t, b, g),
}


@pytest.mark.parametrize("name", list(WAVE_FUNCS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_shapes_and_dtypes_are_preserved(name: str, dtype: torch.dtype) -> None:
    wave = _batch(6, dtype=dtype)
    background = _batch(6, seed=1, dtype=dtype)
    targets = _one_hot(6, 5)
    wave_before, targets_before = wave.clone(), targets.clone()
    out_wave, out_targets = WAVE_FUNCS[name](wave, targets, background, _gen(3))
    assert out_wave.shape == wave.shape and out_wave.dtype == dtype
    assert out_targets.shape == targets.shape and out_targets.dtype == targets.dtype
    assert torch.isfinite(out_wave).all()
    # Pure functions: the inputs are not modified in place.
    assert torch.equal(wave, wave_before) and torch.equal(targets, targets_before)


def test_colored_noise_shape_dtype_device() -> None:
    noise = colored_noise((3, 1000), 1.0, _gen(), device="cpu", dtype=torch.float64)
    assert noise.shape == (3, 1000) and noise.dtype == torch.float64 and noise.device.type == "cpu"


def test_spec_augment_preserves_shape_and_dtype() -> None:
    module = SpecAugment(SpecAugmentConfig(p=1.0)).train()
    for shape in [(4, 1, 32, 50), (4, 32, 50)]:
        spec = torch.randn(shape, dtype=torch.float64)
        out = module(spec, _gen())
        assert out.shape == spec.shape and out.dtype == spec.dtype


# ---------------------------------------------------------------------------------------------
# SNR, noise colour, gain, roll.


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_add_noise_achieves_requested_snr(dtype: torch.dtype) -> None:
    wave = _batch(16, dtype=dtype)
    noise = colored_noise((16, N), torch.linspace(0, 2, 16), _gen(1), dtype=dtype) * 0.37
    snr_db = torch.linspace(3.0, 30.0, 16)
    out = add_noise_at_snr(wave, noise, snr_db)
    achieved = _db(_pow(wave) / _pow(out - wave))
    torch.testing.assert_close(achieved, snr_db.double(), atol=0.1, rtol=0)
    # The added part is the given noise, scaled (correlation 1), not some other noise.
    added = (out - wave).double()
    corr = (added * noise.double()).sum(-1) / (added.norm(dim=-1) * noise.double().norm(dim=-1))
    assert torch.all(corr > 0.9999)


def test_mix_background_achieves_requested_snr_and_checks_shape() -> None:
    wave, background = _batch(8), _batch(8, seed=5) * 3.0
    snr_db = torch.tensor([3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 25.0, 30.0])
    out = mix_background(wave, background, snr_db)
    torch.testing.assert_close(_db(_pow(wave) / _pow(out - wave)), snr_db.double(), atol=0.1,
                               rtol=0)
    with pytest.raises(ValueError, match="shape"):
        mix_background(wave, background[:, :100], 10.0)


def test_add_noise_guards_silent_rows() -> None:
    wave = _batch(3)
    wave[0] = 0.0  # silent signal: noise floored at -100 dBFS - SNR
    noise = _batch(3, seed=2)
    noise[1] = 1e-7 * noise[1]  # silent noise (-140 dB): nothing added, not amplified to SNR
    out = add_noise_at_snr(wave, noise, 10.0)
    assert torch.isfinite(out).all()
    assert _pow(out[0]) < 10 * EPS_POWER
    assert torch.equal(out[1], wave[1])


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_colored_noise_spectral_slope_and_unit_rms(beta: float) -> None:
    n = 8192
    noise = colored_noise((16, n), beta, _gen(4), dtype=torch.float64)
    torch.testing.assert_close(_pow(noise).sqrt(), torch.ones(16, dtype=torch.float64), atol=1e-5,
                               rtol=0)  # generated in float32
    assert noise.mean(dim=-1).abs().max() < 1e-6  # DC removed
    power = torch.fft.rfft(noise, dim=-1).abs().square().mean(dim=0)[1:].numpy()
    freqs = np.fft.rfftfreq(n)[1:]
    # Fit on log-spaced frequency bands so low frequencies weigh as much as high ones.
    edges = np.unique(np.geomspace(1, freqs.size, 40).astype(int))
    band_f = [freqs[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]
    band_p = [power[a:b].mean() for a, b in zip(edges[:-1], edges[1:])]
    slope = np.polyfit(np.log10(band_f), np.log10(band_p), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.1)


def test_colored_noise_per_row_beta() -> None:
    noise = colored_noise((2, 8192), torch.tensor([0.0, 2.0]), _gen(), dtype=torch.float64)
    power = torch.fft.rfft(noise, dim=-1).abs().square()
    low, high = power[:, 1:50].mean(dim=-1), power[:, 2000:].mean(dim=-1)
    assert low[0] / high[0] < 3.0  # white: flat
    assert low[1] / high[1] > 1e3  # brown: steep


def test_random_gain_range_and_both_signs() -> None:
    wave = _batch(256)
    out = random_gain(wave, _gen(5))
    gain_db = 10.0 * torch.log10(_pow(out) / _pow(wave))
    assert gain_db.abs().max() <= 12.0 + 1e-4
    assert gain_db.min() < -9.0 and gain_db.max() > 9.0  # uniform over the whole range
    small = 10.0 * torch.log10(_pow(random_gain(wave, _gen(6), max_db=3.0)) / _pow(wave))
    assert small.abs().max() <= 3.0 + 1e-4
    # A gain scales the row; it does not change the waveform's shape.
    ratio = out / wave
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))


def test_cyclic_roll_permutes_each_row() -> None:
    wave = _batch(8)
    out = cyclic_roll(wave, _gen(7))
    torch.testing.assert_close(out.sort(dim=-1).values, wave.sort(dim=-1).values, atol=0, rtol=0)
    assert not torch.equal(out, wave)
    # Each row is a rotation: the shift read off the first sample reproduces the row.
    for row in range(8):
        shift = int(torch.nonzero(wave[row] == out[row, 0])[0])
        assert torch.equal(out[row], torch.roll(wave[row], -shift))


def test_cyclic_roll_max_shift_and_roll_rows() -> None:
    n = 1000
    ramp = torch.arange(n, dtype=torch.float64).repeat(200, 1)
    out = cyclic_roll(ramp, _gen(8), max_shift_seconds=0.01, sample_rate=8000)  # 80 samples
    shifts = (-out[:, 0].long()) % n
    shifts = torch.where(shifts > n // 2, shifts - n, shifts)
    assert shifts.abs().max() <= 80 and shifts.min() < -40 and shifts.max() > 40
    assert torch.equal(roll_rows(ramp[:2], torch.tensor([3, -5])),
                       torch.stack([torch.roll(ramp[0], 3), torch.roll(ramp[1], -5)]))


def test_roll_implementations_agree() -> None:
    # The GPU path (one gather) and the CPU path (slice copies) must give identical rows.
    wave = _batch(6)
    rows = torch.tensor([0, 5, 5, 2, 1])
    shifts = torch.tensor([0, 1, -7, N - 1, 3 * N + 11])
    expected = torch.stack([torch.roll(wave[r], int(s)) for r, s in zip(rows, shifts)])
    assert torch.equal(_rolled_rows(wave, rows, shifts, gather=True), expected)
    assert torch.equal(_rolled_rows(wave, rows, shifts, gather=False), expected)


# ---------------------------------------------------------------------------------------------
# The soundscape simulator.


def _expected_mixture(wave: torch.Tensor, targets: torch.Tensor, background: torch.Tensor | None,
                      plan) -> tuple[torch.Tensor, torch.Tensor]:
    """The simulator rebuilt from its plan with loops in float64, independent of the code."""
    w = wave.double()
    out_w, out_t = w.clone(), targets.clone()
    for r, row in enumerate(plan.rows.tolist()):
        mixture = w[row].clone()
        for slot in range(plan.partners.shape[1]):
            if not plan.valid[r, slot]:
                continue
            j = int(plan.partners[r, slot])
            source = torch.roll(w[j], int(plan.shifts[r, slot]))
            level_db = float(plan.level_db[r, slot])
            gain = torch.sqrt(_pow(w[row]) / _pow(w[j]) * 10 ** (level_db / 10))
            mixture = mixture + gain * source
            out_t[row] = torch.maximum(out_t[row], targets[j])
        if background is not None:
            bg = background[row].double()
            scale = torch.sqrt(_pow(mixture) / (_pow(bg) * 10 ** (float(plan.snr_db[r]) / 10)))
            mixture = mixture + scale * bg
        out_w[row] = mixture
    return out_w, out_t


def _multi_label_targets(batch: int, n_classes: int, seed: int) -> torch.Tensor:
    """Two or so species per row, with soft secondary labels, so unions are non-trivial."""
    g = _gen(seed)
    targets = (torch.rand(batch, n_classes, generator=g) < 0.15).float()
    targets[torch.arange(batch), torch.randint(0, n_classes, (batch,), generator=g)] = 1.0
    soft = torch.rand(batch, n_classes, generator=g) < 0.1
    return torch.where(soft & (targets == 0), torch.full_like(targets, 0.3), targets)


def test_simulator_output_is_the_sum_of_scaled_components() -> None:
    wave, background = _batch(12), _batch(12, seed=9)
    targets = _multi_label_targets(12, 20, seed=1)
    plan = plan_soundscape(targets, N, _gen(10), max_sources=3)
    out_w, out_t = apply_soundscape(wave, targets, background, plan)
    exp_w, exp_t = _expected_mixture(wave, targets, background, plan)
    torch.testing.assert_close(out_w.double(), exp_w, atol=1e-5, rtol=1e-4)
    assert torch.equal(out_t, exp_t)  # label union = elementwise max, exactly
    assert plan.valid.any(dim=1).float().mean() > 0.5  # most rows did get partners
    # simulate_soundscape is plan + apply with the same draws.
    sim_w, sim_t = simulate_soundscape(wave, targets, background, _gen(10), max_sources=3)
    assert torch.equal(sim_w, out_w) and torch.equal(sim_t, out_t)


def test_simulator_partners_are_other_rows_of_other_species() -> None:
    batch, n_classes = 16, 6
    targets = _one_hot(batch, n_classes)  # species i % 6: rows i and i + 6 share a species
    plan = plan_soundscape(targets, N, _gen(11), max_sources=3)
    counts = []
    for r, row in enumerate(plan.rows.tolist()):
        partners = plan.partners[r][plan.valid[r]].tolist()
        assert row not in partners and len(set(partners)) == len(partners)
        assert all(targets[p].argmax() != targets[row].argmax() for p in partners)
        counts.append(len(partners))
    assert set(counts) == {1, 2, 3}  # the count is drawn uniformly in 1..max_sources
    levels = plan.level_db[plan.valid]
    assert levels.min() >= -12.0 and levels.max() <= 0.0
    assert plan.snr_db.min() >= 0.0 and plan.snr_db.max() <= 20.0


def test_simulator_never_pairs_a_row_with_itself() -> None:
    # Unlabelled rows (no species present) overlap nobody, themselves included.
    targets = torch.zeros(4, 3)
    plan = plan_soundscape(targets, N, _gen(17), max_sources=3)
    for r, row in enumerate(plan.rows.tolist()):
        assert row not in plan.partners[r][plan.valid[r]].tolist()
    assert plan.valid.sum() > 0


def test_simulator_partner_levels_are_relative_to_the_row() -> None:
    wave, targets = _batch(6), _one_hot(6, 6)
    plan = plan_soundscape(targets, N, _gen(12), max_sources=1)
    out, _ = apply_soundscape(wave, targets, None, plan)
    for r, row in enumerate(plan.rows.tolist()):
        added = out[row].double() - wave[row].double()
        level = _db(_pow(added) / _pow(wave[row]))
        assert float(level) == pytest.approx(float(plan.level_db[r, 0]), abs=0.01)


def test_simulator_only_touches_selected_rows_and_single_species_batches() -> None:
    wave, background, targets = _batch(8), _batch(8, seed=3), _one_hot(8, 8)
    rows = torch.tensor([True, False, True, False, False, False, False, True])
    out_w, out_t = simulate_soundscape(wave, targets, background, _gen(13), rows=rows)
    assert torch.equal(out_w[~rows], wave[~rows]) and torch.equal(out_t[~rows], targets[~rows])
    assert not torch.equal(out_w[rows], wave[rows]) and (out_t[rows].sum(-1) > 1).all()
    same = _one_hot(8, 8, species=[2] * 8)  # no eligible partner anywhere
    out_w, out_t = simulate_soundscape(wave, same, None, _gen(13))
    assert torch.equal(out_w, wave) and torch.equal(out_t, same)


# ---------------------------------------------------------------------------------------------
# mixup and label smoothing.


def test_mixup_is_a_convex_combination_of_two_rows() -> None:
    batch = 10
    wave, targets = _batch(batch), _one_hot(batch, batch)  # row i is species i alone
    out_w, out_t = mixup(wave, targets, _gen(14), alpha=0.4)
    torch.testing.assert_close(out_t.sum(-1), torch.ones(batch))
    for i in range(batch):
        nonzero = torch.nonzero(out_t[i]).reshape(-1).tolist()
        assert i in nonzero and len(nonzero) <= 2
        lam = float(out_t[i, i])
        j = next((k for k in nonzero if k != i), i)
        expected = lam * wave[i] + (1 - lam) * wave[j] if j != i else wave[i]
        torch.testing.assert_close(out_w[i], expected, atol=1e-6, rtol=1e-5)
    again = mixup(wave, targets, _gen(14), alpha=0.4)
    assert torch.equal(again[0], out_w) and torch.equal(again[1], out_t)


def test_label_smoothing_values_and_range_check() -> None:
    targets = torch.tensor([[0.0, 1.0, 0.5]])
    torch.testing.assert_close(label_smoothing(targets, 0.1), torch.tensor([[0.05, 0.95, 0.5]]))
    assert torch.equal(label_smoothing(targets, 0.0), targets)
    with pytest.raises(ValueError):
        label_smoothing(targets, 1.0)


# ---------------------------------------------------------------------------------------------
# SpecAugment.


def test_spec_augment_only_in_train_mode() -> None:
    spec = torch.randn(4, 1, 32, 60)
    module = SpecAugment(SpecAugmentConfig(p=1.0))
    assert module.eval()(spec) is spec
    assert not torch.equal(module.train()(spec), spec)
    assert torch.equal(SpecAugment(SpecAugmentConfig(p=0.0)).train()(spec), spec)


def test_spec_augment_masks_full_bands_with_the_sample_mean() -> None:
    config = SpecAugmentConfig(p=1.0, n_freq_masks=2, max_freq_width=6, n_time_masks=2,
                               max_time_width=10)
    spec = torch.randn(32, 1, 40, 80, dtype=torch.float64) + torch.arange(32.0).view(32, 1, 1, 1)
    out = SpecAugment(config).train()(spec, _gen(15))
    changed = (out != spec)[:, 0]
    means = spec.mean(dim=(1, 2, 3))
    n_masked = 0
    for b in range(32):
        mask = changed[b]
        assert torch.all(out[b, 0][mask] == means[b])  # the sample's own mean
        rows = mask.all(dim=1)  # masked mel bins span every frame
        cols = mask.all(dim=0)  # masked frames span every mel bin
        assert torch.equal(mask, rows[:, None] | cols[None, :])  # nothing but full bands
        assert rows.sum() <= 2 * 6 and cols.sum() <= 2 * 10
        n_masked += int(mask.any())
    assert n_masked >= 28  # widths may be 0, but most samples get masks


def test_spec_augment_probability_is_per_sample() -> None:
    spec = torch.randn(64, 1, 32, 60)
    config = SpecAugmentConfig(p=0.5, max_freq_width=8, max_time_width=12)
    out = SpecAugment(config).train()(spec, _gen(16))
    touched = (out != spec).flatten(1).any(dim=1).float().mean()
    assert 0.2 < touched < 0.7


def test_spec_augment_seeded_calls_are_reproducible_and_differ() -> None:
    spec = torch.randn(8, 1, 32, 60)
    a, b = SpecAugment(seed=1).train(), SpecAugment(seed=1).train()
    first_a, first_b = a(spec), b(spec)
    assert torch.equal(first_a, first_b)
    assert not torch.equal(a(spec), first_a)  # the next call draws new masks


# ---------------------------------------------------------------------------------------------
# WaveAugment and configs.


def test_wave_augment_is_identity_in_eval_and_when_off() -> None:
    wave, targets, background = _batch(8), _one_hot(8, 8), _batch(8, seed=1)
    module = WaveAugment().eval()
    out_w, out_t = module(wave, targets, background)
    assert out_w is wave and out_t is targets
    off = WaveAugment(WaveAugmentConfig.from_dict({**WaveAugmentConfig().to_dict(),
                                                   "p_simulate": 0.0, "p_background": 0.0,
                                                   "p_noise": 0.0, "p_gain": 0.0, "p_roll": 0.0}))
    out_w, out_t = off.train()(wave, targets, background)
    assert torch.equal(out_w, wave) and torch.equal(out_t, targets)


def test_wave_augment_is_deterministic_per_seed_and_call() -> None:
    wave, targets, background = _batch(8), _one_hot(8, 8), _batch(8, seed=1)
    a, b = WaveAugment(seed=3), WaveAugment(seed=3)
    out_a, out_b = a(wave, targets, background), b(wave, targets, background)
    assert torch.equal(out_a[0], out_b[0]) and torch.equal(out_a[1], out_b[1])
    assert not torch.equal(a(wave, targets, background)[0], out_a[0])  # next call, new draws
    assert not torch.equal(WaveAugment(seed=4)(wave, targets, background)[0], out_a[0])
    explicit = WaveAugment(seed=99)(wave, targets, background, generator=_gen(5))
    again = WaveAugment(seed=0)(wave, targets, background, generator=_gen(5))
    assert torch.equal(explicit[0], again[0])


def test_wave_augment_probabilities_are_per_sample() -> None:
    wave, targets = _batch(64), _one_hot(64, 8)
    config = WaveAugmentConfig.from_dict({"p_simulate": 0.0, "p_noise": 0.0, "p_roll": 0.0,
                                          "p_gain": 0.5})
    out, _ = WaveAugment(config)(wave, targets)
    changed = (out != wave).any(dim=-1).float().mean()
    assert 0.3 < changed < 0.7


def test_wave_augment_simulated_rows_skip_the_second_background() -> None:
    # One species: no partners, so a simulated row is exactly "row over background at 10 dB".
    # If the background step also ran on it, the added power would not read 10 dB.
    wave, targets, background = _batch(16), _one_hot(16, 4, species=[0] * 16), _batch(16, seed=2)
    config = WaveAugmentConfig.from_dict({
        "p_simulate": 1.0, "simulate_snr_db": [10.0, 10.0],
        "p_background": 1.0, "background_snr_db": [30.0, 30.0],
        "p_noise": 0.0, "p_gain": 0.0, "p_roll": 0.0})
    out, _ = WaveAugment(config)(wave, targets, background)
    achieved = _db(_pow(wave) / _pow(out - wave))
    torch.testing.assert_close(achieved, torch.full((16,), 10.0, dtype=torch.float64), atol=0.1,
                               rtol=0)


def test_wave_augment_without_background_keeps_outputs_finite() -> None:
    wave, targets = _batch(16), _one_hot(16, 8)
    wave[0] = 0.0  # a silent crop
    wave[1] *= 40.0  # a very loud one
    config = WaveAugmentConfig.from_dict({"p_simulate": 1.0, "p_noise": 1.0, "p_gain": 1.0,
                                          "p_roll": 1.0, "label_smoothing": 0.1})
    out, out_t = WaveAugment(config)(wave, targets, None)
    assert torch.isfinite(out).all()
    assert out.abs().max() <= config.max_peak + 1e-5
    assert out_t.min() >= 0.05 - 1e-6 and out_t.max() <= 0.95 + 1e-6  # smoothing applied last
    assert ((out_t > 0.5).sum(-1) >= 1).all()


def test_wave_augment_peak_guard_scales_loud_rows_linearly() -> None:
    wave, targets = _batch(4), _one_hot(4, 4)
    wave[1] = wave[1] / wave[1].abs().max() * 12.0  # peak 12 > max_peak 8
    off = {"p_simulate": 0.0, "p_noise": 0.0, "p_gain": 0.0, "p_roll": 0.0}
    out, _ = WaveAugment(WaveAugmentConfig.from_dict(off))(wave, targets)
    torch.testing.assert_close(out[1], wave[1] * (8.0 / 12.0))  # scaled, not clipped
    assert torch.equal(out[[0, 2, 3]], wave[[0, 2, 3]])
    unguarded, _ = WaveAugment(WaveAugmentConfig.from_dict({**off, "max_peak": None}))(
        wave, targets)
    assert torch.equal(unguarded, wave)


def test_wave_augment_mixup_is_per_sample() -> None:
    wave, targets = _batch(64), _one_hot(64, 64)
    config = WaveAugmentConfig.from_dict({"p_simulate": 0.0, "p_noise": 0.0, "p_gain": 0.0,
                                          "p_roll": 0.0, "p_mixup": 0.5})
    out, out_t = WaveAugment(config)(wave, targets)
    mixed = (out_t != targets).any(dim=-1)
    assert 0.3 < mixed.float().mean() < 0.7
    assert torch.equal(out[~mixed], wave[~mixed])


def test_wave_augment_config_round_trip_and_presets() -> None:
    config = WaveAugmentConfig()
    assert (config.p_roll, config.p_noise, config.p_background, config.p_gain) == (0.5,) * 4
    assert (config.p_simulate, config.max_sources, config.p_mixup) == (0.3, 3, 0.0)
    assert config.noise_snr_db == (3.0, 30.0) and config.noise_beta == (0.0, 2.0)
    data = json.loads(json.dumps(config.to_dict()))
    assert WaveAugmentConfig.from_dict(data) == config
    strong = WaveAugmentConfig.strong()
    assert strong.p_noise > config.p_noise and strong.p_simulate > config.p_simulate
    assert strong.noise_snr_db[0] < config.noise_snr_db[0]
    with pytest.raises(KeyError, match="p_nosie"):
        WaveAugmentConfig.from_dict({"p_nosie": 0.5})
    spec = SpecAugmentConfig()
    assert (spec.p, spec.n_freq_masks, spec.max_freq_width, spec.n_time_masks,
            spec.max_time_width) == (0.5, 2, 12, 2, 24)
    assert SpecAugmentConfig.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert SpecAugmentConfig.strong().p > spec.p


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augment_runs_on_the_batch_device() -> None:
    device = torch.device("cuda")
    wave, targets = _batch(8).to(device), _one_hot(8, 8).to(device)
    background = _batch(8, seed=1).to(device)
    a = WaveAugment(WaveAugmentConfig.strong(), seed=1)(wave, targets, background)
    b = WaveAugment(WaveAugmentConfig.strong(), seed=1)(wave, targets, background)
    assert a[0].device.type == "cuda" and torch.equal(a[0], b[0])
    spec = torch.randn(8, 1, 32, 60, device=device)
    assert SpecAugment(SpecAugmentConfig(p=1.0)).train()(spec).device.type == "cuda"
