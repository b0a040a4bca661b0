"""Pure batched waveform augmentations: circular roll, coloured noise, SNR mixing, gain, mixup.

Training clips are clean focal recordings; test windows are 5 s of a noisy field soundscape with
overlapping calls. The lesson of competitions won by simulating the test domain is to build it
out of the training data: mix clean sources at random levels and offsets, put them over real
background at a random SNR, add coloured noise, change the gain. Every function here works on a
whole batch ``(batch, samples)`` in torch on the batch's device (the GPU in training), so the
loader only crops (:mod:`common.audio.crops`) and never starves the GPU. The in-batch soundscape
simulator built on them is :mod:`common.audio.soundscape_sim`; the ``nn.Module`` chain that
applies them in training is :mod:`common.audio.augment`.

Conventions (OpenSoundscape style):

* Pure functions with documented ranges; randomness comes from an explicit ``torch.Generator``
  (draws are made on the generator's device, then moved to the batch's device), so a seed fixes
  the result on a given device (CPU and CUDA generators give different streams).
* SNR is ``10 * log10(P_signal / P_added)`` with powers as mean squares over the whole window.
* dtype and shape are preserved; arithmetic runs in float32 (float64 for float64 input), so a
  float16 batch from the cache is safe.
* Nothing is hard-clipped: clipping adds distortion that soundscapes do not have, and the log-mel
  frontend does not care about absolute scale. Instead :class:`common.audio.augment.WaveAugment`
  scales down (linearly) the rare row whose peak exceeds ``max_peak``, so gain on top of a mixture
  cannot blow up.

The small private helpers (random draws on the generator's device, batch checks, row powers and
per-row rolls) are shared with the simulator and the modules of :mod:`common.audio.augment`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

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

