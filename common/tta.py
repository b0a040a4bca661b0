"""Test-time augmentation views: waveform transforms applied before the frontend.

A view is a name from ``VIEWS``: ``orig`` (unchanged), ``reverse`` (each 5-s window played
backwards), ``gain_up`` / ``gain_down`` (the waveform times ``10 ** (+-gain_db / 20)``). Every
view the ensemble keeps costs one forward pass per model, so views that provably (or, on the
first batch, numerically) give the same spectrogram as ``orig`` are folded into it:
``orig`` then counts with their weight, so the average is exactly the one the full set of views
would give, without the wasted passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from common.frontend import FrontendConfig, gain_invariant

__all__ = ["VIEWS", "apply_view", "check_views", "fold_duplicate_views", "spectra_equal"]

VIEWS = ("orig", "reverse", "gain_up", "gain_down")
_GAIN_VIEWS = ("gain_up", "gain_down")


def check_views(views: Sequence[str]) -> tuple[str, ...]:
    """Validate a TTA view list: known names, no repeats, ``orig`` first (it is never dropped)."""
    views = tuple(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown TTA views {unknown}; choose from {VIEWS}")
    if len(set(views)) != len(views):
        raise ValueError(f"TTA views repeat: {views}")
    if not views or views[0] != "orig":
        raise ValueError(f"TTA views must start with 'orig' (the view kept under any budget), "
                         f"got {views}")
    return views


def apply_view(wave: torch.Tensor, view: str, gain_db: float = 3.0) -> torch.Tensor:
    """Args: wave ``(windows, samples)``; returns the view, same shape and dtype.

    ``reverse`` flips each window in time; gains multiply by ``10 ** (+-gain_db / 20)``
    (3 dB: x1.41 / x0.71).
    """
    if view == "orig":
        return wave
    if view == "reverse":
        return torch.flip(wave, dims=(-1,))
    if view == "gain_up":
        return wave * (10.0 ** (gain_db / 20.0))
    if view == "gain_down":
        return wave * (10.0 ** (-gain_db / 20.0))
    raise ValueError(f"unknown TTA view {view!r}; choose from {VIEWS}")


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
