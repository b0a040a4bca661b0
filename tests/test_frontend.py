"""Tests for common.model.frontend: shapes, librosa parity, normalisation, gain invariance,
autocast."""

import json

import librosa
import numpy as np
import pytest
import torch

from common.model.frontend import Frontend, FrontendConfig, frames_for, gain_invariant, pcen

SR = 32000


def chirp_with_noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A gated rising chirp over low noise: energy that moves in time and frequency."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    chirp = 0.3 * np.sin(2 * np.pi * (2000 + 3000 * t) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return (chirp + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def librosa_mel(y: np.ndarray, cfg: FrontendConfig, power: float) -> np.ndarray:
    # librosa >= 0.10 pads with zeros by default; our frontend reflects, like torch defaults.
    return librosa.feature.melspectrogram(
        y=y,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        power=power,
        pad_mode="reflect",
    )


def test_default_window_has_313_frames():
    cfg = FrontendConfig()
    assert cfg.clip_samples == 160000
    assert frames_for(cfg) == 313
    out = Frontend(cfg)(torch.randn(2, cfg.clip_samples))
    assert out.shape == (2, 1, 128, 313)
    assert out.dtype == torch.float32


def test_frames_for_other_lengths():
    cfg = FrontendConfig(clip_seconds=1.0)
    assert frames_for(cfg) == 1 + 32000 // 512
    assert Frontend(cfg)(torch.randn(1, 32000)).shape[-1] == frames_for(cfg)
    assert frames_for(cfg, num_samples=1000) == 2


def test_logmel_matches_librosa():
    cfg = FrontendConfig(normalize="none")
    y = chirp_with_noise()
    ours = Frontend(cfg)(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa.power_to_db(librosa_mel(y, cfg, power=2.0), ref=1.0, amin=1e-10, top_db=80.0)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-3)  # dB


def test_pcen_matches_librosa():
    cfg = FrontendConfig(mode="pcen", normalize="none")
    y = chirp_with_noise()
    ours = Frontend(cfg)(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa.pcen(librosa_mel(y, cfg, power=1.0) * 2**31, sr=SR, hop_length=cfg.hop_length)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_pcen_matches_librosa_with_other_params():
    cfg = FrontendConfig(
        mode="pcen",
        normalize="none",
        pcen_time_constant=0.06,
        pcen_gain=0.8,
        pcen_bias=10.0,
        pcen_power=0.25,
    )
    y = chirp_with_noise(seed=1)
    ours = Frontend(cfg)(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa.pcen(
        librosa_mel(y, cfg, power=1.0) * 2**31,
        sr=SR,
        hop_length=cfg.hop_length,
        time_constant=0.06,
        gain=0.8,
        bias=10.0,
        power=0.25,
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_pcen_function_matches_librosa_including_initial_state():
    # Small magnitudes, no 2**31 scaling: here the smoother's initial state dominates the
    # first frames, so this checks that it starts where librosa's lfilter_zi starts.
    rng = np.random.default_rng(2)
    mel = rng.random((6, 40)) * 1e-3
    ours = pcen(torch.from_numpy(mel).float(), sample_rate=SR, hop_length=512).numpy()
    ref = librosa.pcen(mel, sr=SR, hop_length=512)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-7)


def test_top_db_floors_each_window_separately():
    cfg = FrontendConfig(normalize="none", clip_seconds=1.0)
    y = torch.from_numpy(chirp_with_noise())
    y[16000:] = 0.0  # digital silence: more than 80 dB below the chirp, so the floor is hit
    out = Frontend(cfg)(torch.stack([y, 0.01 * y]))[:, 0]
    for window in out:
        assert window.min() >= window.max() - 80.0 - 1e-4
        assert window.min() == pytest.approx(window.max().item() - 80.0, abs=1e-3)  # floor hit
    # The second window is 40 dB quieter, so its floor is 40 dB lower too.
    assert out[0].max() - out[1].max() == pytest.approx(40.0, abs=1e-3)


def test_per_window_normalisation():
    torch.manual_seed(0)
    cfg = FrontendConfig(clip_seconds=1.0)
    wave = torch.randn(3, 32000) * torch.tensor([[1.0], [0.1], [3.0]])
    out = Frontend(cfg)(wave)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-4)


def test_silent_window_stays_finite():
    out = Frontend(FrontendConfig(clip_seconds=1.0))(torch.zeros(1, 32000))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("gain_db", [-3.0, 3.0, 12.0])
def test_gain_invariance_claim_holds(gain_db):
    cfg = FrontendConfig(clip_seconds=1.0)
    assert gain_invariant(cfg)
    fe = Frontend(cfg)
    wave = torch.from_numpy(chirp_with_noise())[None]
    a = fe(wave)
    b = fe(wave * 10 ** (gain_db / 20))
    assert torch.allclose(a, b, atol=1e-4)


def test_gain_changes_output_when_not_invariant():
    wave = torch.from_numpy(chirp_with_noise())[None]
    gain = 10 ** (3 / 20)

    cfg = FrontendConfig(clip_seconds=1.0, normalize="none")
    assert not gain_invariant(cfg)
    fe = Frontend(cfg)
    diff = fe(wave * gain) - fe(wave)
    assert torch.allclose(diff, torch.full_like(diff, 3.0), atol=1e-3)  # a +3 dB shift

    # PCEN's gain control removes most of a gain change, but not all of it (gain < 1, bias).
    cfg = FrontendConfig(clip_seconds=1.0, mode="pcen", normalize="none")
    assert not gain_invariant(cfg)
    fe = Frontend(cfg)
    assert (fe(wave * gain) - fe(wave)).abs().max() > 1e-2


def test_config_round_trip_and_validation():
    cfg = FrontendConfig(mode="pcen", top_db=None, n_mels=64)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert FrontendConfig.from_dict(d) == cfg
    assert FrontendConfig.from_dict({}) == FrontendConfig()  # missing fields take defaults
    with pytest.raises(ValueError, match="unknown FrontendConfig fields"):
        FrontendConfig.from_dict({"n_mel": 64})
    with pytest.raises(ValueError, match="mode"):
        FrontendConfig(mode="mfcc")
    with pytest.raises(ValueError, match="f_max"):
        FrontendConfig(f_max=20000.0)


def test_buffers_rebuilt_not_saved():
    fe = Frontend(FrontendConfig(n_mels=64))
    assert fe.state_dict() == {}  # nothing to drift: buffers come from the config
    assert fe.mel_fb.shape == (64, 2048 // 2 + 1)
    np.testing.assert_array_equal(
        fe.mel_fb.numpy(),
        librosa.filters.mel(sr=SR, n_fft=2048, n_mels=64, fmin=40.0, fmax=15000.0),
    )


def test_rejects_wrong_input_rank():
    with pytest.raises(ValueError, match="batch, samples"):
        Frontend(FrontendConfig(clip_seconds=1.0))(torch.randn(1, 1, 32000))


@pytest.mark.parametrize("mode", ["logmel", "pcen"])
def test_cuda_fp16_autocast_matches_float32(mode):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    fe = Frontend(FrontendConfig(mode=mode)).cuda()
    wave = torch.from_numpy(chirp_with_noise(seconds=5.0))[None].cuda()
    ref = fe(wave)
    with torch.autocast("cuda", dtype=torch.float16):
        out = fe(wave.half())
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # The only difference is the fp16 rounding of the input samples.
    assert torch.allclose(out, ref, atol=5e-2)
