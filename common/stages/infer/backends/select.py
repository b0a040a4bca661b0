"""One member, one runner: the configured backend, or the fastest one measured (``auto``).

:func:`build_runner` is what the prediction loop calls on its first batch, for each member. A
backend that is not installed falls back to torch with a logged reason; an export whose logits
differ from PyTorch's by more than ``backend_tolerance`` is a hard error when the backend was
asked for by name, and leaves the race (logged) under ``auto``. Every runner built is timed on
that first batch, and :func:`measured_speeds` hands those figures to whoever plans the time
budget (nb04's own budget measures every pass as it goes and so follows the backend anyway).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from common.stages.infer.backends.base import (
    BACKENDS,
    CHOICES,
    ExportMismatch,
    Runner,
    check_outputs,
    missing_reason,
    seconds_per_call,
)
from common.stages.infer.backends.export import export_onnx, export_path
from common.stages.infer.members import ClipLogits, Member, compile_runner

if TYPE_CHECKING:
    from common.stages.infer.config import PredictConfig

__all__ = ["build_runner", "export_runner", "measured_speeds"]

log = logging.getLogger(__name__)

EXPORT_DIR = "exported_models"  # under the working dir when a checkpoint's folder is read-only


def export_runner(member: Member, backend: str, spec: torch.Tensor, threads: int,
                  tolerance: float, export_dir: str | Path) -> tuple[Runner, float]:
    """Export ``member`` (cached), open it in ``backend`` and check it against PyTorch on
    ``spec`` (``(batch, 1, n_mels, frames)``, real windows). Returns ``(runner, max abs logit
    difference)``; raises :class:`ExportMismatch` above ``tolerance``."""
    from common.stages.infer.backends.onnx_backend import OrtRunner
    from common.stages.infer.backends.openvino_backend import OvRunner

    if member.path is None:
        raise ValueError(f"{member.name}: no checkpoint path to cache its export next to; load "
                         f"members with load_members")
    path = export_onnx(member.model, spec, export_path(member.path, tuple(spec.shape[1:]),
                                                       export_dir))
    runner: Runner = (OrtRunner if backend == "onnxruntime" else OvRunner)(path, threads)
    with torch.inference_mode():
        reference = ClipLogits(member.model).eval()(spec)
        got = runner(spec)
    return runner, check_outputs(reference, got, tolerance, f"{member.name} ({backend})")


def _build(member: Member, backend: str, spec: torch.Tensor, cfg: PredictConfig, threads: int
           ) -> tuple[Runner, str]:
    if backend == "torch":
        return compile_runner(member.model, spec, cfg.graph, cfg.channels_last, member.name)
    export_dir = cfg.export_dir or Path.cwd() / EXPORT_DIR
    runner, diff = export_runner(member, backend, spec, threads, cfg.backend_tolerance,
                                 export_dir)
    return runner, f"{backend} fp32, {threads} threads (max |logit diff| {diff:.1e})"


def build_runner(member: Member, spec: torch.Tensor, cfg: PredictConfig, threads: int
                 ) -> tuple[Runner, str]:
    """The runner of ``member`` under ``cfg.backend``, built and timed on ``spec`` (the first
    batch's spectrograms, ``(batch, 1, n_mels, frames)``). Sets ``member.backend`` and
    ``member.speeds`` (windows/s per backend tried). Returns ``(runner, description)``."""
    if cfg.backend not in CHOICES:
        raise ValueError(f"backend must be one of {CHOICES}, got {cfg.backend!r}")
    wanted = BACKENDS if cfg.backend == "auto" else (cfg.backend,)
    built: dict[str, tuple[Runner, str]] = {}
    for backend in wanted:
        reason = missing_reason(backend)
        if reason is not None:
            log.warning("%s: %s; %s", member.name, reason,
                        "left out of auto" if cfg.backend == "auto" else "running torch")
            continue
        try:
            built[backend] = _build(member, backend, spec, cfg, threads)
        except ExportMismatch as err:
            if cfg.backend != "auto":
                raise
            log.warning("auto: %s left out: %s", backend, err)
            continue
        member.speeds[backend] = len(spec) / seconds_per_call(built[backend][0], spec)
    if not built:
        built["torch"] = _build(member, "torch", spec, cfg, threads)
        member.speeds["torch"] = len(spec) / seconds_per_call(built["torch"][0], spec)
    backend = max(built, key=lambda b: member.speeds[b])
    if cfg.backend == "auto":
        speeds = ", ".join(f"{b} {member.speeds[b]:.0f}" for b in built)
        log.info("%s: auto picked %s, the fastest measured on the first batch (windows/s: %s)",
                 member.name, backend, speeds)
    member.backend = backend
    return built[backend]


def measured_speeds(members: list[Member]) -> dict[str, float]:
    """``{backend: windows/s}`` per model pass, averaged over the members that measured it on
    their first batch (model only, frontend excluded). The budget planner's input: empty until
    the predictor has prepared its members."""
    speeds: dict[str, list[float]] = {}
    for m in members:
        for backend, rate in m.speeds.items():
            speeds.setdefault(backend, []).append(rate)
    return {b: sum(r) / len(r) for b, r in speeds.items()}
