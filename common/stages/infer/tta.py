"""Test-time augmentation views: waveform transforms before the frontend, masks after it.

A view is a name. Waveform views (``WAVE_VIEWS``, the BirdCLEF default ``VIEWS``): ``orig``
(unchanged), ``reverse`` (each 5-s window played backwards), ``gain_up`` / ``gain_down`` (the
waveform times ``10 ** (+-gain_db / 20)``). Spectrogram views ``specaug1``, ``specaug2``, ...
(``specaug<k>``, k >= 1): the ``orig`` spectrogram with SpecAugment's time and frequency masks
(:class:`common.audio.augment.SpecAugment`, the module training uses), drawn from a seed fixed by
the
view number and the window's identity, so a window gets the same masks in every run, whatever
batch it lands in, and ``specaug2`` is the same pass whether or not ``specaug1`` is configured.
They are applied between the frontend and the backbone (``BirdModel.forward_spec``'s input),
cost no extra frontend pass, and are never duplicates of ``orig`` or of each other.

Every view the ensemble keeps costs one forward pass per model, so views that provably (or, on
the first batch, numerically) give the same spectrogram as ``orig`` are folded into it: ``orig``
then counts with their weight, so the average is exactly the one the full set of views would
give, without the wasted passes. Only gain views can fold.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import torch

from common.audio.augment import SpecAugment, SpecAugmentConfig
from common.model.frontend import FrontendConfig, gain_invariant

__all__ = ["VIEWS", "WAVE_VIEWS", "SPEC_VIEW_PREFIX", "apply_view", "check_views",
           "fold_duplicate_views", "is_spec_view", "mask_view", "spectra_equal", "window_key"]

WAVE_VIEWS = ("orig", "reverse", "gain_up", "gain_down")
VIEWS = WAVE_VIEWS  # the default view list (BirdCLEF's recipe)
SPEC_VIEW_PREFIX = "specaug"
_SPEC_VIEW = re.compile(rf"{SPEC_VIEW_PREFIX}([1-9][0-9]*)")
_GAIN_VIEWS = ("gain_up", "gain_down")
_KNOWN = f"{WAVE_VIEWS} or {SPEC_VIEW_PREFIX}1, {SPEC_VIEW_PREFIX}2, ..."


def is_spec_view(view: str) -> bool:
    """True for ``specaug<k>`` (k >= 1): a masked copy of the ``orig`` spectrogram."""
    return _SPEC_VIEW.fullmatch(view) is not None


def check_views(views: Sequence[str]) -> tuple[str, ...]:
    """Validate a TTA view list: known names, no repeats, ``orig`` first (it is never dropped)."""
    views = tuple(views)
    unknown = [v for v in views if v not in WAVE_VIEWS and not is_spec_view(v)]
    if unknown:
        raise ValueError(f"unknown TTA views {unknown}; choose from {_KNOWN}")
    if len(set(views)) != len(views):
        raise ValueError(f"TTA views repeat: {views}")
    if not views or views[0] != "orig":
        raise ValueError(f"TTA views must start with 'orig' (the view kept under any budget), "
                         f"got {views}")
    return views


def apply_view(wave: torch.Tensor, view: str, gain_db: float = 3.0) -> torch.Tensor:
    """Args: wave ``(windows, samples)``; returns the view, same shape and dtype.

    ``reverse`` flips each window in time; gains multiply by ``10 ** (+-gain_db / 20)``
    (3 dB: x1.41 / x0.71). Spectrogram views leave the waveform as it is (see ``mask_view``).
    """
    if view == "orig" or is_spec_view(view):
        return wave
    if view == "reverse":
        return torch.flip(wave, dims=(-1,))
    if view == "gain_up":
        return wave * (10.0 ** (gain_db / 20.0))
    if view == "gain_down":
        return wave * (10.0 ** (-gain_db / 20.0))
    raise ValueError(f"unknown TTA view {view!r}; choose from {_KNOWN}")


def window_key(name: str, window: int) -> tuple[int, int]:
    """The identity of one window (file name, index in the file) as two seed integers.

    A stable hash of the name (CRC-32, not Python's per-process ``hash``), so masks do not
    depend on the order or the number of files predicted.
    """
    return zlib.crc32(str(name).encode("utf-8")), int(window)


def mask_view(spec: torch.Tensor, view: str, keys: Sequence[tuple[int, int] | None],
              config: SpecAugmentConfig, seed: int = 0) -> torch.Tensor:
    """The ``view`` of a batch of ``orig`` spectrograms: masked for ``specaug<k>``, else as is.

    Args:
        spec: ``(batch, 1, n_mels, frames)`` frontend output of the ``orig`` waveforms.
        keys: one ``window_key`` per row (``None`` for padding rows: left unmasked).
        config: mask counts and widths (``p`` is the chance a window is masked at all).
        seed: TTA seed; row ``i`` of view ``specaug<k>`` draws from ``(seed, k, *keys[i])``.

    Returns:
        A new tensor, same shape, dtype and device. Masked cells take the window's mean
        (SpecAugment's fill), exactly as in training.
    """
    match = _SPEC_VIEW.fullmatch(view)
    if match is None:
        return spec
    if len(keys) != spec.shape[0]:
        raise ValueError(f"{len(keys)} window keys for a batch of {spec.shape[0]}")
    k = int(match.group(1))
    masker = SpecAugment(config).train()
    rows = []
    for i, key in enumerate(keys):
        row = spec[i:i + 1]
        if key is not None:
            # One CPU generator per window: the same masks on CPU and GPU and for any batching.
            state = np.random.SeedSequence([seed, k, *key]).generate_state(1, np.uint64)[0]
            row = masker(row, generator=torch.Generator().manual_seed(int(state)))
        rows.append(row)
    return torch.cat(rows)


def spectra_equal(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-3) -> bool:
    """True when two frontend outputs are the same up to ``atol`` (normalised units)."""
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=0.0))


def fold_duplicate_views(
    views: Sequence[str],
    frontend_cfg: FrontendConfig,
    same_as_orig: Callable[[str], bool] | None = None,
) -> dict[str, float]:
    """``{view: weight}`` of the views that need a forward pass, weights summing to ``len(views)``.

    Gain views are folded into ``orig`` when ``gain_invariant(frontend_cfg)`` says the frontend
    removes a constant gain, or when ``same_as_orig(view)`` (a numerical check on real audio)
    says so. Example: ``("orig", "reverse", "gain_up", "gain_down")`` under per-window
    normalisation gives ``{"orig": 3.0, "reverse": 1.0}``: two passes instead of four, same mean.
    SpecAugment views always keep their own pass (random masks are never a copy of anything).
    """
    views = check_views(views)
    weights: dict[str, float] = {}
    invariant = gain_invariant(frontend_cfg)
    for view in views:
        folded = view in _GAIN_VIEWS and (
            invariant or (same_as_orig is not None and same_as_orig(view)))
        key = "orig" if folded else view
        weights[key] = weights.get(key, 0.0) + 1.0
    return weights

