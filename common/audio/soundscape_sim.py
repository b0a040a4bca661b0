"""The in-batch soundscape simulator: clean focal clips mixed into noisy multi-species scenes.

Each selected row of a training batch gets partner clips of other species from the same batch, at
random circular offsets and relative levels, over real background at a random SNR, and its
targets become the union of the mixed clips' targets. :func:`plan_soundscape` draws every random
choice (a :class:`SoundscapePlan`), :func:`apply_soundscape` mixes by a plan and
:func:`simulate_soundscape` does both; the waveform primitives are :mod:`common.audio.wave_ops`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from common.audio.wave_ops import (
    EPS_POWER,
    _check_batch,
    _power,
    _randint,
    _rolled_rows,
    _uniform,
    _work_dtype,
    add_noise_at_snr,
)


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

