"""Waveform to spectrogram frontend, run inside the model.

The model takes raw audio and this module turns it into the image the backbone sees, on whatever
device the model lives on. Training and inference therefore share one frontend, built from one
``FrontendConfig`` that is saved in every checkpoint, so the two can never drift apart.

Pipeline for a batch of waveforms ``(batch, samples)``:

1. STFT in torch (Hann window, ``center=True``, reflect padding), always in float32, even
   under fp16 autocast: small spectral magnitudes underflow in half precision.
2. Mel filterbank from ``librosa.filters.mel`` (Slaney scale and norm), kept as a
   non-persistent buffer: it is rebuilt from the config, identical on CPU and GPU, and not
   stored in checkpoints.
3. ``mode="logmel"``: power mel in dB (``librosa.power_to_db`` with ``ref=1``, ``amin=1e-10``
   and an optional ``top_db`` floor per window). ``mode="pcen"``: per-channel energy
   normalisation of the magnitude mel (``librosa.pcen``).
4. ``normalize="per_window"``: standardise each window over (mels, frames).

Output: ``(batch, 1, n_mels, frames)`` float32, ``frames = 1 + samples // hop_length``
(313 for 5 s at 32 kHz with hop 512).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import librosa
import torch
import torch.nn as nn

from common.core.config import dataclass_from_dict, param

__all__ = [
    "FrontendConfig",
    "Frontend",
    "frames_for",
    "gain_invariant",
    "pcen",
    "pcen_smoothing_matrix",
]

_MODES = ("logmel", "pcen")
_NORMALIZE = ("per_window", "none")
_AMIN = 1e-10  # power floor before the log, as librosa.power_to_db
_STD_EPS = 1e-6  # keeps a silent (constant) window finite after standardisation


@dataclass(frozen=True)
class FrontendConfig:
    """Everything needed to rebuild the frontend; saved as JSON inside every checkpoint."""

    sample_rate: int = param(32000, "Hz; competition audio is 32 kHz")
    clip_seconds: float = param(5.0, "length of one scored window in seconds")
    n_fft: int = param(2048, "STFT size in samples (64 ms), also the Hann window length")
    hop_length: int = param(512, "STFT hop in samples (16 ms): 313 frames per 5 s")
    n_mels: int = param(128, "mel bands, the image height")
    f_min: float = param(40.0, "Hz; below this is wind and handling noise")
    f_max: float = param(15000.0, "Hz; most bird and insect energy sits below 15 kHz")
    mode: str = param(
        "logmel", "'logmel' (power mel in dB) or 'pcen' (librosa.pcen of magnitude mel)")
    top_db: float | None = param(80.0, "logmel: floor at (window max - top_db) dB; None disables")
    normalize: str = param("per_window", "'per_window': zero mean, unit std per window; 'none'")
    # PCEN parameters, librosa.pcen defaults. PCEN works on magnitudes of int32-scaled audio
    # (librosa's documented recipe), hence the input scale for [-1, 1] float waveforms.
    pcen_time_constant: float = param(0.4, "seconds; smoother time constant")
    pcen_gain: float = param(0.98, "alpha, strength of the automatic gain control")
    pcen_bias: float = param(2.0, "delta, offset before root compression")
    pcen_power: float = param(0.5, "r, root compression exponent")
    pcen_eps: float = param(1e-6, "keeps the gain control finite on silence")
    pcen_input_scale: float = param(2.0**31, "multiply the magnitude mel by this before PCEN")

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"FrontendConfig.mode must be one of {_MODES}, got {self.mode!r}")
        if self.normalize not in _NORMALIZE:
            raise ValueError(
                f"FrontendConfig.normalize must be one of {_NORMALIZE}, got {self.normalize!r}"
            )
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={self.f_min}, "
                f"f_max={self.f_max}, sample_rate={self.sample_rate}"
            )
        if self.hop_length <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")

    @property
    def clip_samples(self) -> int:
        """Samples in one window (160000 for 5 s at 32 kHz)."""
        return int(round(self.clip_seconds * self.sample_rate))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontendConfig:
        """Inverse of ``to_dict``. Missing fields take defaults; unknown fields are an error."""
        return dataclass_from_dict(cls, d)


def frames_for(cfg: FrontendConfig, num_samples: int | None = None) -> int:
    """Spectrogram frames for ``num_samples`` (default: one window) with ``center=True``."""
    n = cfg.clip_samples if num_samples is None else num_samples
    return 1 + n // cfg.hop_length


def gain_invariant(cfg: FrontendConfig) -> bool:
    """True when multiplying the waveform by a constant leaves the output unchanged.

    A gain ``g`` adds ``20 log10 g`` dB to every log-mel bin (the ``top_db`` floor moves with
    the window maximum), and per-window standardisation removes that offset. Only the
    ``amin`` floor on near-silent bins breaks this, which we ignore. PCEN is only approximately
    gain invariant (bias and eps), so it reports False. Inference TTA uses this to skip
    gain-shifted views that would be exact copies.
    """
    return cfg.mode == "logmel" and cfg.normalize == "per_window"


def pcen_smoothing_matrix(num_frames: int, b: float, device=None) -> torch.Tensor:
    """Lower-triangular ``(frames, frames)`` matrix ``W[n, k] = b (1 - b)^(n - k)`` for k <= n.

    The first-order IIR smoother ``M[n] = b E[n] + (1 - b) M[n - 1]`` unrolled into one
    matmul: exact (no truncation of the impulse response) and a single kernel on the GPU
    instead of a Python loop over frames. Memory is O(frames^2), 0.4 MB for 313 frames; feed
    windows, not whole files.
    """
    n = torch.arange(num_frames, device=device, dtype=torch.float64)
    lag = n[:, None] - n[None, :]
    w = b * torch.pow(1.0 - b, lag.clamp(min=0))
    return torch.where(lag >= 0, w, torch.zeros_like(w)).float()


def pcen(
    mel: torch.Tensor,
    *,
    sample_rate: int,
    hop_length: int,
    time_constant: float = 0.4,
    gain: float = 0.98,
    bias: float = 2.0,
    power: float = 0.5,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Per-channel energy normalisation, a torch port of ``librosa.pcen`` (max_size=1).

    Args:
        mel: non-negative magnitudes ``(..., n_mels, frames)``, float32.
        sample_rate, hop_length: give the frame rate that turns ``time_constant`` (seconds)
            into the smoother coefficient ``b`` exactly as librosa does.

    Returns:
        ``(..., n_mels, frames)``, same dtype.

    The smoother starts from librosa's default state (``lfilter_zi``: the steady state for a
    constant input of 1), so outputs match librosa from the first frame.
    """
    t_frames = time_constant * sample_rate / float(hop_length)
    b = (math.sqrt(1 + 4 * t_frames**2) - 1) / (2 * t_frames**2)
    num_frames = mel.shape[-1]
    w = pcen_smoothing_matrix(num_frames, b, device=mel.device)
    # (1 - b)^(n + 1) carries the initial state M[-1] = 1 into frame n.
    init = torch.pow(
        torch.tensor(1.0 - b, dtype=torch.float64, device=mel.device),
        torch.arange(1, num_frames + 1, device=mel.device, dtype=torch.float64),
    ).float()
    smooth = mel @ w.T + init
    # Same log-space form as librosa for stability: (eps + M)^-gain.
    agc = torch.exp(-gain * (math.log(eps) + torch.log1p(smooth / eps)))
    if power == 0:
        return torch.log1p(mel * agc)
    if bias == 0:
        return torch.exp(power * (torch.log(mel) + torch.log(agc)))
    return (bias**power) * torch.expm1(power * torch.log1p(mel * agc / bias))


class Frontend(nn.Module):
    """Waveform ``(batch, samples)`` -> spectrogram image ``(batch, 1, n_mels, frames)``.

    Has no trainable parameters. The window and mel filterbank are non-persistent buffers,
    rebuilt from ``cfg``, so checkpoints hold only the config.
    """

    def __init__(self, cfg: FrontendConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or FrontendConfig()
        c = self.cfg
        mel_fb = librosa.filters.mel(
            sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.f_min, fmax=c.f_max
        )  # (n_mels, n_fft // 2 + 1), Slaney scale and norm (librosa defaults)
        self.register_buffer("mel_fb", torch.from_numpy(mel_fb).float(), persistent=False)
        # Periodic Hann, as librosa's get_window("hann", fftbins=True).
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Args: wave ``(batch, samples)`` float. Returns ``(batch, 1, n_mels, frames)`` float32."""
        if wave.ndim != 2:
            raise ValueError(f"Frontend expects (batch, samples), got shape {tuple(wave.shape)}")
        c = self.cfg
        # fp16 autocast would run the STFT and mel matmul in half precision; quiet bins
        # underflow and the dB values turn to -inf. Everything here runs in float32.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = torch.stft(
                wave.float(),
                n_fft=c.n_fft,
                hop_length=c.hop_length,
                win_length=c.n_fft,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            )  # (batch, n_fft // 2 + 1, frames)
            power = spec.real.square() + spec.imag.square()
            if c.mode == "logmel":
                mel = torch.matmul(self.mel_fb, power)  # (batch, n_mels, frames)
                x = 10.0 * torch.log10(mel.clamp(min=_AMIN))
                if c.top_db is not None:
                    peak = x.amax(dim=(-2, -1), keepdim=True)
                    x = torch.maximum(x, peak - c.top_db)
            else:
                mel = torch.matmul(self.mel_fb, power.sqrt())  # magnitude mel, as librosa's recipe
                x = pcen(
                    mel * c.pcen_input_scale,
                    sample_rate=c.sample_rate,
                    hop_length=c.hop_length,
                    time_constant=c.pcen_time_constant,
                    gain=c.pcen_gain,
                    bias=c.pcen_bias,
                    power=c.pcen_power,
                    eps=c.pcen_eps,
                )
            if c.normalize == "per_window":
                mean = x.mean(dim=(-2, -1), keepdim=True)
                std = x.std(dim=(-2, -1), keepdim=True)
                x = (x - mean) / (std + _STD_EPS)
        return x.unsqueeze(1)

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"mode={c.mode}, n_mels={c.n_mels}, n_fft={c.n_fft}, hop_length={c.hop_length}, "
            f"f_min={c.f_min}, f_max={c.f_max}, normalize={c.normalize}"
        )
