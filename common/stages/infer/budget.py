"""nb04's first projection, before any file is predicted, from the budget's throughput facts.

The prediction loop measures itself after its first files and drops views, then models, when
the rest would not fit (:func:`common.stages.infer.ensemble.plan_within_budget`). Before that
it knows nothing; :func:`initial_plan` gives it the planner's projection (the same figures as
``python -m common.budget``: :meth:`common.budget.facts.Throughputs.infer_rate`, by backend)
and, when even that says the ensemble cannot fit, starts with fewer TTA views
(``max_views``) rather than learning it after minutes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from common.budget.facts import DEFAULT_BACKEND, Throughputs, load_throughputs
from common.stages.infer.config import PredictConfig
from common.stages.infer.members import Member
from common.stages.infer.tta import fold_duplicate_views

log = logging.getLogger(__name__)

__all__ = ["initial_plan", "projected_minutes", "speed_key"]


def _backbone(member: Member) -> str:
    """The timm name of a member's backbone ('' when timm does not say)."""
    cfg = getattr(member.model.backbone, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture", ""))


def projected_minutes(members: Sequence[Member], views: Sequence[str], n_files: int,
                      windows_per_file: int, thr: Throughputs,
                      backend: str = DEFAULT_BACKEND) -> float:
    """Minutes to predict ``n_files`` files of ``windows_per_file`` windows with every member
    under ``views`` on Kaggle's CPU, loading and compiling included. Decoding and the
    frontend run once per window and view pass for each group of members sharing a frontend
    (:meth:`Throughputs.infer_shared_rate`), the model pass once per member."""
    seconds = len(members) * thr.rate("infer_compile", "kaggle_cpu")
    shared = thr.infer_shared_rate()
    for frontend_cfg in dict.fromkeys(m.frontend_cfg for m in members):
        passes = len(fold_duplicate_views(views, frontend_cfg))
        seconds += n_files * windows_per_file * passes / shared
    for m in members:
        passes = len(fold_duplicate_views(views, m.frontend_cfg))
        seconds += n_files * windows_per_file * passes / thr.infer_rate(_backbone(m), backend)
    return seconds / 60


def speed_key(members: Sequence[Member], backend: str) -> str:
    """The backend whose figure projects this run: ``<backend>_int8`` when every member runs
    the int8 model of one backend (:func:`common.stages.infer.backends.int8.apply_int8`),
    else ``backend``."""
    kinds = {(m.backend, m.int8) for m in members}
    if len(kinds) == 1 and (kind := kinds.pop())[1]:
        return f"{kind[0]}_int8"
    return backend


def _on_record(thr: Throughputs, backbone: str, backend: str) -> bool:
    try:
        thr.infer_rate(backbone, backend)
    except KeyError:
        return False
    return True


def initial_plan(cfg: PredictConfig, members: Sequence[Member], n_files: int,
                 windows_per_file: int, thr: Throughputs | None = None,
                 backend: str = DEFAULT_BACKEND) -> tuple[PredictConfig, float]:
    """``(cfg, projected minutes)``: ``cfg`` with the most views whose projection fits its
    ``time_budget_minutes`` (at least ``orig``; unchanged when all fit). The loop's measured
    replanning still follows; this only spares it the first minutes of a plan that cannot fit.
    """
    thr = thr or load_throughputs()
    views = cfg.views
    backbone = _backbone(members[0]) if members else ""
    asked = backend
    # int8 with no figure of its own: its fp32 backend's; auto, or a backend never measured:
    # torch's figure, which the backends beat or match
    for fallback in (backend.removesuffix("_int8"), DEFAULT_BACKEND):
        if _on_record(thr, backbone, backend):
            break
        backend = fallback
    if backend != asked:
        log.info("budget: no speed on record for backend %r; projecting with %s's", asked,
                 backend)
    minutes = projected_minutes(members, views, n_files, windows_per_file, thr, backend)
    log.info("budget: projected %.1f min for %d files x %d models x views %s on Kaggle's CPU "
             "(%s; budget %.0f min)", minutes, n_files, len(members), ",".join(views),
             thr.infer_source(backbone, backend),
             cfg.time_budget_minutes)
    keep = len(views)
    while keep > 1 and minutes > cfg.time_budget_minutes:
        keep -= 1
        minutes = projected_minutes(members, views[:keep], n_files, windows_per_file, thr,
                                    backend)
    if keep < len(views):
        log.warning("budget: starting with %d of %d views (%s), projected %.1f min", keep,
                    len(views), ",".join(views[:keep]), minutes)
        cfg = dataclasses.replace(cfg, max_views=keep)
    return cfg, minutes
