"""Batched waveform and spectrogram augmentations that move clean focal clips towards soundscapes.

Training clips are clean focal recordings; test windows are 5 s of a noisy field soundscape with
overlapping calls. The lesson of the "messy mashup" winners is to build the test domain out of
the training data: mix clean sources at random levels and offsets, put them over real background
at a random SNR, add coloured noise, change the gain. Every function here works on a whole batch
``(batch, samples)`` in torch on the batch's device (the GPU in training), so the loader only
crops (:mod:`common.audio.crops`) and never starves the GPU.

Conventions (OpenSoundscape style):

* Pure functions with documented ranges; randomness comes from an explicit ``torch.Generator``
  (draws are made on the generator's device, then moved to the batch's device), so a seed fixes
  the result on a given device (CPU and CUDA generators give different streams).
* SNR is ``10 * log10(P_signal / P_added)`` with powers as mean squares over the whole window.
* dtype and shape are preserved; arithmetic runs in float32 (float64 for float64 input), so a
  float16 batch from the cache is safe.
* Nothing is hard-clipped: clipping adds distortion that soundscapes do not have, and the log-mel
  frontend does not care about absolute scale. Instead :class:`WaveAugment` scales down (linearly)
  the rare row whose peak exceeds ``max_peak``, so gain on top of a mixture cannot blow up.

:class:`WaveAugment` and :class:`SpecAugment` are the two ``nn.Module`` wrappers driven by
:class:`WaveAugmentConfig` and :class:`SpecAugmentConfig`; both are the identity in ``.eval()``
mode, so the training pipeline is the inference pipeline with augmentation bypassed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from common.core.config import apply_preset, config_from_dict, config_to_dict, param

# Powers below this (-100 dBFS) are treated as silence: no division by ~0, no huge gains.
EPS_POWER = 1e-10


# ---------------------------------------------------------------------------------------------
# Random draws and small helpers.


def _work_dtype(tensor: Tensor) -> torch.dtype:
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def _check_batch(wave: Tensor, name: str = "wave") -> None:
    if wave.ndim != 2 or not torch.is_floating_point(wave):
        raise ValueError(
            f"{name} must be a floating (batch, samples) tensor, "
            f"got {wave.dtype} {tuple(wave.shape)}"
        )


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator,
             device: torch.device) -> Tensor:
    """Uniform draws in ``[low, high)``, float32, made on the generator's device."""
    values = torch.rand(shape, generator=generator, device=generator.device)
    return (low + (high - low) * values).to(device)


def _randint(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator,
             device: torch.device) -> Tensor:
    """Integer draws in ``[low, high)``, int64, made on the generator's device."""
    values = torch.randint(low, high, shape, generator=generator, device=generator.device)
    return values.to(device)


def _bernoulli_rows(batch: int, p: float, generator: torch.Generator,
                    device: torch.device) -> Tensor:
    """``(batch,)`` bool: which rows an augmentation with probability ``p`` applies to."""
    return _uniform((batch,), 0.0, 1.0, generator, device) < p


def _power(wave: Tensor) -> Tensor:
    """Mean square over the last axis (``(..., samples)`` -> ``(...)``)."""
    return torch.linalg.vector_norm(wave, dim=-1).square() / wave.shape[-1]


def _rolled_rows(wave: Tensor, rows: Tensor, shifts: Tensor, gather: bool | None = None) -> Tensor:
    """``out[i] = torch.roll(wave[rows[i]], shifts[i])``: ``(n,)`` rows, shifts -> ``(n, samples)``.

    Two implementations with identical results: on GPU one gather with a computed index (one
    kernel, bandwidth-bound); on CPU two slice copies per row (memcpy), measured 10-20x faster
    there than the gather, which builds and reads an int64 index. ``gather=None`` picks by device.
    """
    n_samples = wave.shape[-1]
    rows = rows.to(wave.device)
    shifts = shifts.to(wave.device) % n_samples
    if gather is None:
        gather = wave.device.type != "cpu"
    if gather:
        positions = torch.arange(n_samples, device=wave.device)
        index = (positions - shifts.unsqueeze(-1)) % n_samples
        return wave.reshape(-1)[rows.unsqueeze(-1) * n_samples + index]
    out = torch.empty((rows.numel(), n_samples), dtype=wave.dtype, device=wave.device)
    for i, (row, shift) in enumerate(zip(rows.tolist(), shifts.tolist())):
        out[i, shift:] = wave[row, :n_samples - shift]
        out[i, :shift] = wave[row, n_samples - shift:]
    return out


def roll_rows(wave: Tensor, shifts: Tensor) -> Tensor:
    """Circularly shift each row by its own number of samples (``torch.roll`` per row).

    Args:
        wave: ``(batch, samples)``.
        shifts: ``(batch,)`` integer shifts in samples; positive moves content later in time.

    Returns:
        ``(batch, samples)`` with ``out[b, t] = wave[b, (t - shifts[b]) % samples]``.
    """
    _check_batch(wave)
    return _rolled_rows(wave, torch.arange(wave.shape[0], device=wave.device), shifts)


# ---------------------------------------------------------------------------------------------
# Pure waveform augmentations, (batch, samples) in, (batch, samples) out.


def cyclic_roll(wave: Tensor, generator: torch.Generator, max_shift_seconds: float | None = None,
                sample_rate: int = 32000) -> Tensor:
    """Shift each row circularly by a random offset.

    A call at the start of a focal crop is moved anywhere in the window (the test windows cut
    calls at arbitrary points). The wrap point is a discontinuity; at 5 s windows of noisy audio
    it is one click among many.

    Args:
        wave: ``(batch, samples)``.
        generator: random source.
        max_shift_seconds: shifts are uniform in ``[-max, +max]`` seconds; ``None``: any offset.
        sample_rate: Hz, to convert ``max_shift_seconds``.

    Returns:
        ``(batch, samples)``, each row a permutation of the input row.
    """
    _check_batch(wave)
    batch, n_samples = wave.shape
    if max_shift_seconds is None:
        shifts = _randint(0, n_samples, (batch,), generator, wave.device)
    else:
        max_shift = min(n_samples - 1, int(round(max_shift_seconds * sample_rate)))
        shifts = _randint(-max_shift, max_shift + 1, (batch,), generator, wave.device)
    return roll_rows(wave, shifts)


def colored_noise(shape: tuple[int, int], beta: float | Tensor, generator: torch.Generator,
                  device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Noise with power spectral density proportional to ``1 / f**beta``, unit RMS per row.

    The spectrum of white Gaussian noise (independent complex Gaussian bins, drawn directly,
    which saves a forward FFT) is shaped by ``f**(-beta / 2)`` in amplitude, so the power falls as
    ``f**-beta``, and brought back with one inverse FFT. The DC bin is zeroed: audio has no DC.

    Args:
        shape: ``(batch, samples)``.
        beta: spectral exponent, a float or ``(batch,)`` tensor: 0 white, 1 pink, 2 brown.
        generator: random source.
        device: device of the result (default: the generator's).
        dtype: dtype of the result (the noise is generated in float32).

    Returns:
        ``(batch, samples)`` zero-mean noise with RMS 1 in every row.
    """
    batch, n_samples = shape
    gen_device = generator.device
    n_bins = n_samples // 2 + 1
    # (real, imaginary) parts of each bin; real arithmetic below, complex only for the FFT.
    parts = torch.randn((batch, n_bins, 2), generator=generator, device=gen_device)
    log_freqs = torch.log(torch.fft.rfftfreq(n_samples, device=gen_device)[1:])
    beta_t = torch.as_tensor(beta, dtype=torch.float32, device=gen_device).reshape(-1, 1)
    amplitude = torch.zeros((batch, n_bins), device=gen_device)
    amplitude[:, 1:] = torch.exp(log_freqs.unsqueeze(0) * (-beta_t / 2.0))  # f ** (-beta / 2)
    spectrum = torch.view_as_complex(parts * amplitude.unsqueeze(-1))
    noise = torch.fft.irfft(spectrum, n=n_samples, dim=-1)
    noise = noise / _power(noise).sqrt().clamp_min(EPS_POWER).unsqueeze(-1)
    return noise.to(device=device if device is not None else gen_device, dtype=dtype)


def add_noise_at_snr(wave: Tensor, noise: Tensor, snr_db: float | Tensor) -> Tensor:
    """Add ``noise`` scaled so that each row's signal-to-noise ratio is exactly ``snr_db``.

    ``10 * log10(mean(wave**2) / mean((scale * noise)**2)) == snr_db`` per row. A silent signal
    row has its power floored at ``EPS_POWER`` (noise about -100 - snr dBFS, i.e. nothing); a
    silent noise row adds nothing rather than being amplified without bound.

    Args:
        wave: ``(batch, samples)``.
        noise: ``(batch, samples)``, any level.
        snr_db: a float or ``(batch,)`` tensor, dB (3 to 30 dB for coloured noise in the recipe).

    Returns:
        ``(batch, samples)`` same dtype as ``wave``.
    """
    _check_batch(wave)
    if noise.shape != wave.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} != wave shape {tuple(wave.shape)}")
    work = _work_dtype(wave)
    signal = wave.to(work)
    noise = noise.to(device=wave.device, dtype=work)
    snr = torch.as_tensor(snr_db, dtype=work, device=wave.device).reshape(-1)
    signal_power = _power(signal).clamp_min(EPS_POWER)
    noise_power = _power(noise)
    scale = torch.sqrt(signal_power / (noise_power.clamp_min(EPS_POWER) * 10.0 ** (snr / 10.0)))
    scale = torch.where(noise_power > EPS_POWER, scale, torch.zeros_like(scale))
    return (signal + scale.unsqueeze(-1) * noise).to(wave.dtype)


def mix_background(wave: Tensor, background: Tensor, snr_db: float | Tensor) -> Tensor:
    """Put each clip over a window of real soundscape background at ``snr_db``.

    The loader supplies ``background`` as a second tensor of real field audio: windows of the
    labelled soundscapes with no call, and windows of the unlabelled ones. It carries the rain,
    wind, insects, rivers and microphone colour of the test sites, which synthetic noise lacks.
    (Unlabelled windows may hold faint calls; at 3 dB SNR and above they stay well below the clip.)

    Args:
        wave: ``(batch, samples)``.
        background: ``(batch, samples)`` real background, one window per row.
        snr_db: a float or ``(batch,)`` tensor, dB (3 to 30 dB in the recipe).

    Returns:
        ``(batch, samples)`` same dtype as ``wave``.
    """
    _check_batch(background, "background")
    return add_noise_at_snr(wave, background, snr_db)


def random_gain(wave: Tensor, generator: torch.Generator, max_db: float = 12.0) -> Tensor:
    """Multiply each row by a gain uniform in ``[-max_db, +max_db]`` dB.

    Recorders, distances and xeno-canto uploaders' normalisation spread clip levels over tens of
    dB; the model must not use absolute level as a cue.

    Args:
        wave: ``(batch, samples)``.
        generator: random source.
        max_db: largest gain change in dB (12 dB = x3.98 in amplitude).

    Returns:
        ``(batch, samples)`` same dtype.
    """
    _check_batch(wave)
    gain_db = _uniform((wave.shape[0],), -max_db, max_db, generator, wave.device)
    factor = (10.0 ** (gain_db.to(_work_dtype(wave)) / 20.0)).unsqueeze(-1)
    return (wave.to(factor.dtype) * factor).to(wave.dtype)


# ---------------------------------------------------------------------------------------------
# The soundscape simulator ("messy mashup").


@dataclass(frozen=True)
class SoundscapePlan:
    """Every random choice of one :func:`simulate_soundscape` call, so tests can rebuild it.

    ``n_rows`` is the number of mixed batch rows, ``k`` the number of partner slots per row.
    """

    rows: Tensor  # (n_rows,) int64: batch rows that receive partners
    partners: Tensor  # (n_rows, k) int64: batch row providing each partner slot
    valid: Tensor  # (n_rows, k) bool: whether the slot is used
    shifts: Tensor  # (n_rows, k) int64: circular offset applied to the partner, samples
    level_db: Tensor  # (n_rows, k): partner power relative to the row's own power, dB
    snr_db: Tensor  # (n_rows,): mixture power over added background power, dB


def plan_soundscape(
    targets: Tensor,
    n_samples: int,
    generator: torch.Generator,
    rows: Tensor | None = None,
    max_sources: int = 3,
    level_db_range: tuple[float, float] = (-12.0, 0.0),
    snr_db_range: tuple[float, float] = (0.0, 20.0),
) -> SoundscapePlan:
    """Draw partners, offsets, levels and background SNRs for :func:`apply_soundscape`.

    Each mixed row gets a uniform number of partners in ``1..max_sources``, drawn without
    replacement among the OTHER rows of the batch whose species do not overlap its own (present =
    target >= 0.5, so label smoothing or soft secondary labels do not block partners). A row with
    fewer eligible partners gets fewer; in a batch of one species it gets none.

    Args:
        targets: ``(batch, n_classes)`` in [0, 1].
        n_samples: window length in samples (offsets are drawn in ``[0, n_samples)``).
        generator: random source.
        rows: ``(batch,)`` bool, the rows to mix; ``None``: all rows.
        max_sources: most partners added to one row.
        level_db_range: partner power relative to the row's power, dB (uniform).
        snr_db_range: mixture-to-background SNR, dB (uniform).
    """
    batch = targets.shape[0]
    device = targets.device
    if rows is None:
        row_index = torch.arange(batch, device=device)
    else:
        row_index = torch.nonzero(rows.to(device), as_tuple=False).reshape(-1)
    n_rows = row_index.numel()
    k = max(0, min(max_sources, batch - 1))
    present = (targets >= 0.5).to(torch.float32)
    overlap = (present @ present.T) > 0  # (batch, batch): share at least one species
    allowed = ~overlap[row_index]
    allowed[torch.arange(n_rows, device=device), row_index] = False  # never the row itself
    # Random scores, -1 for ineligible rows: the top k are k distinct random eligible partners.
    scores = _uniform((n_rows, batch), 0.0, 1.0, generator, device)
    scores = torch.where(allowed, scores, torch.full_like(scores, -1.0))
    top_scores, partners = scores.topk(k, dim=1)
    n_partners = _randint(1, max(1, max_sources) + 1, (n_rows,), generator, device)
    slots = torch.arange(k, device=device)
    valid = (top_scores >= 0) & (slots.unsqueeze(0) < n_partners.unsqueeze(1))
    return SoundscapePlan(
        rows=row_index,
        partners=partners,
        valid=valid,
        shifts=_randint(0, n_samples, (n_rows, k), generator, device),
        level_db=_uniform((n_rows, k), *level_db_range, generator, device),
        snr_db=_uniform((n_rows,), *snr_db_range, generator, device),
    )


def apply_soundscape(wave: Tensor, targets: Tensor, background: Tensor | None,
                     plan: SoundscapePlan) -> tuple[Tensor, Tensor]:
    """Mix a batch according to ``plan`` (see :func:`simulate_soundscape`).

    For a planned row ``i`` with used partners ``j``::

        mixture_i = wave_i + sum_j g_j * roll(wave_j, shift_j)
        g_j       = sqrt(P(wave_i) / P(wave_j) * 10 ** (level_db_j / 10))
        out_i     = add_noise_at_snr(mixture_i, background_i, snr_db_i)   # if background given
        targets_i = max(targets_i, max_j targets_j)

    Partners are taken from the input batch (clean clips), never from other mixtures. A silent
    partner adds nothing.

    Returns:
        ``(wave, targets)``: ``(batch, samples)`` and ``(batch, n_classes)``, dtypes preserved.
    """
    _check_batch(wave)
    if plan.rows.numel() == 0:
        return wave, targets
    work = _work_dtype(wave)
    signal = wave.to(work)
    k = plan.partners.shape[1]
    mixture = signal[plan.rows]
    if k > 0:
        power = _power(signal)
        source_power = power[plan.partners]
        gain = torch.sqrt(power[plan.rows].clamp_min(EPS_POWER).unsqueeze(1)
                          * 10.0 ** (plan.level_db.to(work) / 10.0)
                          / source_power.clamp_min(EPS_POWER))
        # Only used, non-silent slots are materialised: (n_used, samples), not (n_rows, k, ...).
        slot_row, slot = torch.nonzero(plan.valid & (source_power > EPS_POWER), as_tuple=True)
        sources = _rolled_rows(signal, plan.partners[slot_row, slot], plan.shifts[slot_row, slot])
        mixture.index_add_(0, slot_row, sources.mul_(gain[slot_row, slot].unsqueeze(-1)))
    if background is not None:
        _check_batch(background, "background")
        mixture = add_noise_at_snr(mixture, background[plan.rows].to(work), plan.snr_db)
    out_wave = signal.index_copy(0, plan.rows, mixture).to(wave.dtype)
    out_targets = targets
    if k > 0:
        partner_targets = targets[plan.partners]  # (n_rows, k, n_classes)
        partner_targets = torch.where(plan.valid.unsqueeze(-1), partner_targets,
                                      torch.zeros_like(partner_targets))
        union = torch.maximum(targets[plan.rows], partner_targets.amax(dim=1))
        out_targets = targets.index_copy(0, plan.rows, union)
    return out_wave, out_targets


def simulate_soundscape(
    wave: Tensor,
    targets: Tensor,
    background: Tensor | None,
    generator: torch.Generator,
    max_sources: int = 3,
    level_db_range: tuple[float, float] = (-12.0, 0.0),
    snr_db_range: tuple[float, float] = (0.0, 20.0),
    rows: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Turn clean focal clips into soundscape-like windows with overlapping calls.

    Each row gets 1..``max_sources`` partner clips taken from the SAME batch (other rows, other
    species), each at a random circular offset and a random level ``level_db_range`` dB relative
    to the row; the sum is put over real background at ``snr_db_range`` dB; the targets become the
    union (elementwise max) of the summed clips' targets. In-batch partners cost no extra I/O and
    no extra loader work, and over an epoch every clip is a partner as often as a primary.
    ``level_db_range`` tops out at 0 dB so the row's own species stays audible.

    Args:
        wave: ``(batch, samples)`` clean crops.
        targets: ``(batch, n_classes)`` in [0, 1].
        background: ``(batch, samples)`` real background or ``None`` (no background added).
        generator: random source.
        max_sources: most partners per row.
        level_db_range: partner level relative to the row, dB.
        snr_db_range: mixture-to-background SNR, dB.
        rows: ``(batch,)`` bool, the rows to mix; ``None``: all.

    Returns:
        ``(wave, targets)`` same shapes and dtypes; unmixed rows are unchanged.
        :func:`plan_soundscape` + :func:`apply_soundscape` give the same result with the plan.
    """
    plan = plan_soundscape(targets, wave.shape[1], generator, rows, max_sources,
                           level_db_range, snr_db_range)
    return apply_soundscape(wave, targets, background, plan)


# ---------------------------------------------------------------------------------------------
# Label-side augmentations.


def mixup(wave: Tensor, targets: Tensor, generator: torch.Generator,
          alpha: float = 0.4) -> tuple[Tensor, Tensor]:
    """Mixup: each row becomes ``lam * row + (1 - lam) * other_row``, targets likewise.

    ``lam ~ Beta(alpha, alpha)`` per row, partners a random permutation of the batch. Off in the
    recipe: :func:`simulate_soundscape` mixes sources the way soundscapes do (union labels).
    torch's Beta sampler takes no generator, so ``lam`` comes from a numpy generator seeded from
    ``generator`` (deterministic all the same).

    Returns:
        ``(wave, targets)`` same shapes and dtypes.
    """
    _check_batch(wave)
    batch = wave.shape[0]
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    lam_np = np.random.default_rng(seed).beta(alpha, alpha, size=batch)
    perm = torch.randperm(batch, generator=generator, device=generator.device).to(wave.device)
    lam = torch.as_tensor(lam_np, dtype=_work_dtype(wave), device=wave.device).unsqueeze(-1)
    mixed_wave = lam * wave.to(lam.dtype) + (1.0 - lam) * wave[perm].to(lam.dtype)
    lam_t = lam.to(device=targets.device, dtype=_work_dtype(targets))
    mixed_targets = lam_t * targets + (1.0 - lam_t) * targets[perm]
    return mixed_wave.to(wave.dtype), mixed_targets.to(targets.dtype)


def label_smoothing(targets: Tensor, eps: float) -> Tensor:
    """Binary label smoothing: ``targets * (1 - eps) + eps / 2`` (1 -> 1 - eps/2, 0 -> eps/2).

    Each class is a binary problem under BCE, so this is cross-entropy smoothing with two classes.
    """
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label smoothing eps must be in [0, 1), got {eps}")
    return targets * (1.0 - eps) + eps / 2.0


# ---------------------------------------------------------------------------------------------
# Configs and modules.


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

