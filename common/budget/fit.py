"""How a stage turns its knobs to fit its budget, before the work starts.

- nb01: :func:`fit_cache_seconds`, the longest ``cache_seconds`` (not above the one asked, not
  below a floor) whose cache fits ``max_cache_gb``;
- nb03: :func:`fit_pseudo`, the windows per round, student epochs and rounds that fit one
  session: windows first (down to a floor), then epochs (down to a floor), then rounds;
  :class:`PseudoWork` holds the counts and speeds that its hours come from
  (:func:`common.budget.model.pseudo_round_hours`);
- nb04: :func:`fit_ensemble`, the views, then models, its loop keeps within its budget.

Both return the choice with the reason, for the stage's log and report; both are pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.budget.model import StageSpeeds, pseudo_round_hours

__all__ = ["PUBLISH_RESERVE_HOURS", "CacheChoice", "EnsembleChoice", "PseudoChoice",
           "PseudoWork", "fit_cache_seconds", "fit_ensemble", "fit_pseudo"]


@dataclass(frozen=True)
class CacheChoice:
    """nb01's cache length: ``seconds`` (``0``: whole clips), its projected GB, and why."""

    seconds: float
    gb: float
    fits: bool
    reason: str


def fit_cache_seconds(cache_gb: Callable[[float | None], float], asked: float, floor: float,
                      budget_gb: float, longest: float) -> CacheChoice:
    """The longest cache length in ``[floor, asked]`` whose cache fits ``budget_gb``.

    Args:
        cache_gb: projected cache GB (clips and soundscapes) when each clip keeps that many
            seconds (``None``: whole clips); non-decreasing in its argument.
        asked: the configured ``cache_seconds`` (``<= 0``: whole clips).
        floor: never shorter than this (a training crop needs one window).
        budget_gb: ``max_cache_gb``.
        longest: the longest clip, s (the search's top when whole clips are asked).

    Returns the asked length when it fits; else the longest fitting length rounded down to
    0.1 s; else ``floor`` with ``fits=False`` (the caller's hard guard then stops the run).
    """
    asked_gb = cache_gb(None if asked <= 0 else asked)
    asked_text = "whole clips" if asked <= 0 else f"{asked:g} s"
    if asked_gb <= budget_gb:
        return CacheChoice(asked if asked > 0 else 0.0, asked_gb, True,
                           f"{asked_text} asked: {asked_gb:.2f} GB fits max_cache_gb={budget_gb:g}")
    top = asked if asked > 0 else longest
    low = min(floor, top)
    if cache_gb(low) > budget_gb:
        return CacheChoice(low, cache_gb(low), False,
                           f"even {low:g} s per clip takes {cache_gb(low):.2f} GB > "
                           f"max_cache_gb={budget_gb:g}")
    lo, hi = low, top  # cache_gb(lo) fits, cache_gb(hi) does not
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cache_gb(mid) <= budget_gb else (lo, mid)
    chosen = max(low, int(lo * 10) / 10)
    gb = cache_gb(chosen)
    return CacheChoice(chosen, gb, True,
                       f"{asked_text} asked would take {asked_gb:.2f} GB > max_cache_gb="
                       f"{budget_gb:g}: keeping {chosen:g} s per clip ({gb:.2f} GB)")


@dataclass(frozen=True)
class PseudoWork:
    """The counts and speeds behind nb03's hours (see :func:`pseudo_round_hours`)."""

    pool_windows: int  # unlabelled windows scored each round (the pseudo-label pool)
    n_members: int  # teacher models per round
    n_passes: int  # model passes per window (views that cost a pass)
    score_rate: float  # window passes/s of one model on the scoring GPU
    decode_seconds: float  # audio decoded per round, s
    decode_rate: float  # audio s/s per CPU core
    cores: int
    base_train_rows: int  # a student fold's rows besides the pseudo windows
    val_rows: int  # validation windows per fold
    n_folds: int
    n_gpus: int
    speeds: StageSpeeds
    repeats: int = 1  # pseudo_repeats: times each pseudo window appears per epoch

    def round_hours(self, windows: int, epochs: int) -> tuple[float, float]:
        """``(scoring, students)`` hours of one round training on ``windows`` pseudo windows."""
        return pseudo_round_hours(
            self.pool_windows, self.n_members, self.n_passes, self.score_rate,
            self.decode_seconds, self.decode_rate, self.cores,
            self.base_train_rows + self.repeats * windows, self.val_rows, epochs,
            self.n_folds, self.n_gpus, self.speeds)

    def hours(self, windows: int, epochs: int, rounds: int, train_student: bool = True
              ) -> float:
        """The whole stage: ``rounds`` rounds (at least one scoring pass)."""
        score_h, student_h = self.round_hours(windows, epochs)
        n = max(1, rounds)
        return n * score_h + (n * student_h if train_student and rounds else 0.0)


# nb03 keeps this much of its session for what follows the last round: the published tables,
# students, figures and report (minutes of copying and writing).
PUBLISH_RESERVE_HOURS = 0.25


@dataclass(frozen=True)
class PseudoChoice:
    """nb03's sizing: pseudo windows per round (``max_windows``), student epochs, rounds."""

    windows: int
    epochs: int
    rounds: int
    hours: float
    fits: bool
    reason: str


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """The largest ``n`` in ``[lo, hi]`` with ``ok(n)`` (``ok`` monotone: true then false)."""
    if hi < lo or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


def fit_pseudo(work: PseudoWork, windows: int, epochs: int, rounds: int, budget_hours: float,
               min_windows: int, min_epochs: int) -> PseudoChoice:
    """The largest setting that fits ``budget_hours``, cutting in this order: pseudo windows
    per round (most confident first, down to ``min_windows``), then student epochs (down to
    ``min_epochs``), then rounds (down to 1).

    ``windows``: the asked ``max_windows`` (``0``: the whole pool). The cuts keep the most of
    what helps most: noisy-student gains come from the teacher's confident windows and from a
    second round, long tails of low-confidence windows and late epochs add least.
    """
    asked_w = work.pool_windows if windows <= 0 else min(windows, work.pool_windows)
    asked = work.hours(asked_w, epochs, rounds)
    if asked <= budget_hours or rounds <= 0:
        return PseudoChoice(asked_w, epochs, rounds, asked, asked <= budget_hours,
                            f"{asked_w} windows x {epochs} epochs x {rounds} round(s): "
                            f"{asked:.1f} h fits {budget_hours:g} h")
    floor_w = min(min_windows, asked_w)
    floor_e = min(min_epochs, epochs)
    for r in range(rounds, 0, -1):
        w = _largest(floor_w, asked_w, lambda n, r=r: work.hours(n, epochs, r) <= budget_hours)
        if w is not None:
            e = epochs
        else:
            w = floor_w
            e = _largest(floor_e, epochs,
                         lambda n, r=r, w=w: work.hours(w, n, r) <= budget_hours)
        if e is not None:
            hours = work.hours(w, e, r)
            return PseudoChoice(w, e, r, hours, True,
                                f"{asked_w} windows x {epochs} epochs x {rounds} round(s) "
                                f"would take {asked:.1f} h > {budget_hours:g} h: {w} windows "
                                f"x {e} epochs x {r} round(s), {hours:.1f} h")
    hours = work.hours(floor_w, floor_e, 1)
    return PseudoChoice(floor_w, floor_e, 1, hours, False,
                        f"even {floor_w} windows x {floor_e} epochs x 1 round take {hours:.1f} h "
                        f"> {budget_hours:g} h")


@dataclass(frozen=True)
class EnsembleChoice:
    """nb04's ensemble that fits: ``models`` of the asked and the first ``views`` views."""

    models: int
    views: int
    seconds: float
    fits: bool
    reason: str


def fit_ensemble(seconds: Callable[[int, int], float], n_models: int, n_views: int,
                 budget_seconds: float) -> EnsembleChoice:
    """What nb04's loop keeps (:func:`common.stages.infer.ensemble.plan_within_budget`'s
    order): drop TTA views from the last (``orig`` stays), then models, until
    ``seconds(models, views)`` fits ``budget_seconds``; at least one model on one view."""
    models, views = n_models, n_views
    while seconds(models, views) > budget_seconds and views > 1:
        views -= 1
    while seconds(models, views) > budget_seconds and models > 1:
        models -= 1
    used = seconds(models, views)
    asked = seconds(n_models, n_views)
    reason = (f"{n_models} models x {n_views} views: {asked / 60:.0f} min fits" if
              (models, views) == (n_models, n_views) else
              f"{n_models} models x {n_views} views would take {asked / 60:.0f} min: nb04 keeps "
              f"{models} models x {views} view(s), {used / 60:.0f} min")
    return EnsembleChoice(models, views, used, used <= budget_seconds, reason)
