"""The training augmentation modules: configs plus ``nn.Module`` wrappers WaveAugment, SpecAugment.

:class:`WaveAugment` and :class:`SpecAugment` are the two ``nn.Module`` wrappers driven by
:class:`WaveAugmentConfig` and :class:`SpecAugmentConfig`; both are the identity in ``.eval()``
mode, so the training pipeline is the inference pipeline with augmentation bypassed. The pure
waveform functions they chain live in :mod:`common.audio.wave_ops`, the in-batch soundscape
simulator in :mod:`common.audio.soundscape_sim`; everything runs batched on the batch's device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from common.audio.soundscape_sim import simulate_soundscape
from common.audio.wave_ops import (
    _bernoulli_rows,
    _check_batch,
    _randint,
    _uniform,
    _work_dtype,
    add_noise_at_snr,
    colored_noise,
    cyclic_roll,
    label_smoothing,
    mix_background,
    mixup,
    random_gain,
)
from common.core.config import apply_preset, config_from_dict, config_to_dict, param


@dataclass(frozen=True)
class WaveAugmentConfig:
    """Waveform augmentation recipe; every probability is per sample (a batch gets a mixture)."""

    p_simulate: float = param(
        0.3, "probability a clip is mixed with in-batch partners and background")
    max_sources: int = param(3, "most partner clips mixed into one clip")
    source_level_db: tuple[float, float] = param(
        (-12.0, 0.0), "partner level relative to the clip, dB (uniform)")
    simulate_snr_db: tuple[float, float] = param(
        (0.0, 20.0), "SNR of a simulated mixture over real background, dB (uniform)")
    p_mixup: float = param(0.0, "probability of mixup with a random batch row (off in the recipe)")
    mixup_alpha: float = param(0.4, "Beta(alpha, alpha) parameter of the mixup weight")
    p_background: float = param(
        0.5, "probability of mixing real soundscape background (skipped for simulated clips)")
    background_snr_db: tuple[float, float] = param(
        (3.0, 30.0), "SNR of the clip over real background, dB (uniform)")
    p_noise: float = param(0.5, "probability of adding coloured noise")
    noise_snr_db: tuple[float, float] = param((3.0, 30.0), "SNR over coloured noise, dB (uniform)")
    noise_beta: tuple[float, float] = param(
        (0.0, 2.0), "spectral exponent of the noise, 0 white .. 1 pink .. 2 brown (uniform)")
    p_gain: float = param(0.5, "probability of a random gain")
    gain_db: float = param(12.0, "largest gain change, dB (uniform in [-gain_db, +gain_db])")
    p_roll: float = param(0.5, "probability of a random circular shift")
    max_roll_seconds: float | None = param(None, "largest circular shift, s (None: any offset)")
    label_smoothing: float = param(0.0, "binary label smoothing eps (0: off)")
    max_peak: float | None = param(
        8.0, "rows whose |peak| exceeds this are scaled down linearly, never clipped (None: off)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # Noisy student: the student sees harder inputs than the teacher that labelled them.
        "strong": {
            "p_simulate": 0.5, "simulate_snr_db": (-3.0, 15.0),
            "p_background": 0.8, "background_snr_db": (0.0, 20.0),
            "p_noise": 0.8, "noise_snr_db": (0.0, 20.0),
            "p_gain": 0.8, "p_roll": 0.8,
        },
        # Identity: for checks that the pipeline runs with augmentation bypassed.
        "off": {"p_simulate": 0.0, "p_background": 0.0, "p_noise": 0.0, "p_gain": 0.0,
                "p_roll": 0.0},
    }

    @classmethod
    def strong(cls) -> WaveAugmentConfig:
        """The noisy-student preset: higher probabilities, lower SNRs."""
        return apply_preset(cls, "strong")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WaveAugmentConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``KeyError``."""
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class SpecAugmentConfig:
    """SpecAugment recipe: masks on (mel bin, frame) of the log-mel spectrogram."""

    p: float = param(0.5, "probability a sample gets masks at all")
    n_freq_masks: int = param(2, "frequency masks per sample")
    max_freq_width: int = param(12, "widest frequency mask, mel bins (width uniform in 0..max)")
    n_time_masks: int = param(2, "time masks per sample")
    max_time_width: int = param(24, "widest time mask, frames (width uniform in 0..max)")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "strong": {"p": 0.8, "n_freq_masks": 3, "max_freq_width": 16,
                   "n_time_masks": 3, "max_time_width": 32},
    }

    @classmethod
    def strong(cls) -> SpecAugmentConfig:
        """The noisy-student preset: more and wider masks, more often."""
        return apply_preset(cls, "strong")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpecAugmentConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``KeyError``."""
        return config_from_dict(cls, data)


class _SeededModule(nn.Module):
    """A module that draws a fresh, reproducible generator per call: (seed, call count)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed
        self.calls = 0  # forward calls so far; with the seed it fixes every draw of a run

    def next_generator(self, device: torch.device) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.calls]).generate_state(1, np.uint64)[0]
        self.calls += 1
        return torch.Generator(device=device).manual_seed(int(state))


def _rows_where(rows: Tensor) -> Tensor:
    return torch.nonzero(rows, as_tuple=False).reshape(-1)


class WaveAugment(_SeededModule):
    """The waveform augmentation chain of :class:`WaveAugmentConfig`, batched, identity in eval.

    Order: simulate (in-batch sources + background) -> mixup -> background -> coloured noise ->
    gain -> roll -> peak guard -> label smoothing. Sources are mixed first so that noise and gain
    act on the whole scene as they would in the field; the roll comes last so the wrap point is
    not always at a source boundary. Rows that were simulated already sit on background and skip
    the separate background step. Without ``background`` both background steps are skipped (the
    simulator still mixes sources).
    """

    def __init__(self, config: WaveAugmentConfig | None = None, sample_rate: int = 32000,
                 seed: int = 0) -> None:
        super().__init__(seed)
        self.config = config if config is not None else WaveAugmentConfig()
        self.sample_rate = sample_rate

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, seed={self.seed}, config={self.config}"

    @torch.no_grad()
    def forward(self, wave: Tensor, targets: Tensor, background: Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Augment a batch.

        Args:
            wave: ``(batch, samples)`` float (float16 from the cache is fine).
            targets: ``(batch, n_classes)`` in [0, 1].
            background: ``(batch, samples)`` real background windows, or ``None``.
            generator: random source; ``None``: one seeded from ``(seed, call count)`` on the
                batch's device.

        Returns:
            ``(wave, targets)`` same shapes, dtypes and device.
        """
        _check_batch(wave)
        if not self.training:
            return wave, targets
        cfg = self.config
        g = generator if generator is not None else self.next_generator(wave.device)
        batch, n_samples = wave.shape
        device = wave.device
        out_dtype = wave.dtype
        # One float32 work buffer (a copy: the caller's batch is never modified); the steps below
        # update the rows they touch in place.
        wave = wave.to(_work_dtype(wave), copy=True)

        simulated = torch.zeros(batch, dtype=torch.bool, device=device)
        if cfg.p_simulate > 0 and cfg.max_sources > 0:
            simulated = _bernoulli_rows(batch, cfg.p_simulate, g, device)
            wave, targets = simulate_soundscape(
                wave, targets, background, g, cfg.max_sources, cfg.source_level_db,
                cfg.simulate_snr_db, rows=simulated)

        if cfg.p_mixup > 0:
            mixed = _bernoulli_rows(batch, cfg.p_mixup, g, device)
            mixed_wave, mixed_targets = mixup(wave, targets, g, cfg.mixup_alpha)
            wave = torch.where(mixed.unsqueeze(-1), mixed_wave, wave)
            targets = torch.where(mixed.to(targets.device).unsqueeze(-1), mixed_targets, targets)

        if background is not None and cfg.p_background > 0:
            idx = _rows_where(_bernoulli_rows(batch, cfg.p_background, g, device) & ~simulated)
            if idx.numel():
                snr = _uniform((idx.numel(),), *cfg.background_snr_db, g, device)
                wave.index_copy_(0, idx, mix_background(wave[idx], background[idx], snr))

        if cfg.p_noise > 0:
            idx = _rows_where(_bernoulli_rows(batch, cfg.p_noise, g, device))
            if idx.numel():
                beta = _uniform((idx.numel(),), *cfg.noise_beta, g, device)
                snr = _uniform((idx.numel(),), *cfg.noise_snr_db, g, device)
                noise = colored_noise((idx.numel(), n_samples), beta, g, device)
                wave.index_copy_(0, idx, add_noise_at_snr(wave[idx], noise, snr))

        if cfg.p_gain > 0:
            idx = _rows_where(_bernoulli_rows(batch, cfg.p_gain, g, device))
            if idx.numel():
                wave.index_copy_(0, idx, random_gain(wave[idx], g, cfg.gain_db))

        if cfg.p_roll > 0:
            idx = _rows_where(_bernoulli_rows(batch, cfg.p_roll, g, device))
            if idx.numel():
                rolled = cyclic_roll(wave[idx], g, cfg.max_roll_seconds, self.sample_rate)
                wave.index_copy_(0, idx, rolled)

        if cfg.max_peak is not None:
            low, high = torch.aminmax(wave, dim=-1, keepdim=True)  # no |wave| temporary
            peak = torch.maximum(-low, high)
            wave.mul_(cfg.max_peak / peak.clamp_min(cfg.max_peak))

        if cfg.label_smoothing > 0:
            targets = label_smoothing(targets, cfg.label_smoothing)
        return wave.to(out_dtype), targets


def _band_masks(batch: int, size: int, n_masks: int, max_width: int,
                generator: torch.Generator, device: torch.device) -> Tensor:
    """``(batch, size)`` bool: the union of ``n_masks`` random bands per row."""
    if n_masks <= 0 or max_width <= 0 or size <= 0:
        return torch.zeros(batch, size, dtype=torch.bool, device=device)
    max_width = min(max_width, size)
    widths = _randint(0, max_width + 1, (batch, n_masks), generator, device)
    # Start uniform in [0, size - width], so a band never runs off the edge.
    starts = (_uniform((batch, n_masks), 0.0, 1.0, generator, device)
              * (size - widths + 1)).floor().long()
    positions = torch.arange(size, device=device)
    inside = ((positions >= starts.unsqueeze(-1))
              & (positions < (starts + widths).unsqueeze(-1)))
    return inside.any(dim=1)


class SpecAugment(_SeededModule):
    """Frequency and time masking of a spectrogram, per sample, only in ``.train()`` mode.

    Masked cells take the sample's own mean rather than 0: after log-mel and dB a 0 is not
    "nothing", it is a loud value, and the sample mean keeps the masks from being a tell-tale
    constant across samples.
    """

    def __init__(self, config: SpecAugmentConfig | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        self.config = config if config is not None else SpecAugmentConfig()

    def extra_repr(self) -> str:
        return f"seed={self.seed}, config={self.config}"

    def forward(self, spec: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Mask a batch of spectrograms.

        Args:
            spec: ``(batch, channels, n_mels, frames)`` or ``(batch, n_mels, frames)``.
            generator: random source; ``None``: one seeded from ``(seed, call count)``.

        Returns:
            Same shape and dtype; the input itself in eval mode.
        """
        cfg = self.config
        if not self.training or cfg.p <= 0:
            return spec
        if spec.ndim not in (3, 4):
            raise ValueError(f"expected (batch, [channels,] mels, frames), got {tuple(spec.shape)}")
        g = generator if generator is not None else self.next_generator(spec.device)
        batch, n_mels, n_frames = spec.shape[0], spec.shape[-2], spec.shape[-1]
        device = spec.device
        applied = _bernoulli_rows(batch, cfg.p, g, device)
        freq = _band_masks(batch, n_mels, cfg.n_freq_masks, cfg.max_freq_width, g, device)
        time = _band_masks(batch, n_frames, cfg.n_time_masks, cfg.max_time_width, g, device)
        mask = (freq.unsqueeze(-1) | time.unsqueeze(-2)) & applied.view(batch, 1, 1)
        if spec.ndim == 4:
            mask = mask.unsqueeze(1)
        mean = spec.mean(dim=tuple(range(1, spec.ndim)), keepdim=True)
        return torch.where(mask, mean, spec)

