"""Checkpoints to fast, checked ensemble members.

``load_members`` reads every checkpoint, checks it against the submission (the same species,
a single-channel frontend on the task's windows, one sample rate for the ensemble) and says
what differs when it does not fit. ``compile_runner`` turns a model into a
``spec -> clip logits`` callable: a ``torch.jit.trace`` + ``freeze`` graph in channels-last
where that measures faster than eager. ``group_by_frontend`` groups members that can share one
spectrogram.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.data import competition as comp
from common.model.checkpoint import model_from_checkpoint
from common.model.frontend import FrontendConfig
from common.model.sed import BirdModel

__all__ = ["GRAPHS", "ClipLogits", "Member", "find_checkpoints", "published_students",
           "class_permutation", "check_frontend", "compile_runner", "load_members",
           "group_by_frontend"]

log = logging.getLogger(__name__)

GRAPHS = ("auto", "trace", "eager")


def find_checkpoints(models_dir: str | Path, pattern: str = "*.pt") -> list[Path]:
    """Every checkpoint under ``models_dir`` (recursive) whose file name matches ``pattern``."""
    models_dir = Path(models_dir)
    found = sorted(p for p in models_dir.rglob("*.pt") if fnmatch.fnmatch(p.name, pattern))
    if not found:
        raise FileNotFoundError(
            f"no checkpoint matching {pattern!r} under {models_dir}: attach the nb02 models "
            f"dataset, or change --checkpoint-glob")
    return found


def published_students(pseudo_dir: str | Path, found: Sequence[Path]) -> list[Path]:
    """The student checkpoints of nb03's dataset that its gate published.

    nb03 publishes a student only when it beats its teacher out of fold
    (:mod:`common.stages.pseudo.gate`) and records the decision in ``pseudo_report.json``
    (``student_gate.published_round``); when that says none, no student file is trusted, even
    a stale one left in the folder. A report without the record (older nb03 output) keeps
    every student found.
    """
    report_path = Path(pseudo_dir) / "pseudo_report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    gate = report.get("student_gate")
    if isinstance(gate, dict) and gate.get("published_round") is None and found:
        log.info("nb03 published no student (%s): the ensemble is nb02's models only",
                 gate.get("reason", "no reason recorded"))
        return []
    return list(found)


def class_permutation(model_classes: Sequence[str], classes: Sequence[str], source: str
                      ) -> np.ndarray:
    """Indices taking a model's output columns to the submission's order.

    Raises ``ValueError`` naming the missing and extra species when the sets differ.
    """
    model_classes = [str(c) for c in model_classes]
    missing = [c for c in classes if c not in set(model_classes)]
    extra = [c for c in model_classes if c not in set(classes)]
    if missing or extra or len(model_classes) != len(classes):
        raise ValueError(
            f"{source}: its classes do not match the sample submission's columns: "
            f"{len(missing)} missing (e.g. {missing[:5]}), {len(extra)} extra (e.g. {extra[:5]}); "
            f"the model was trained for another species list: retrain it or leave it out "
            f"with --checkpoint-glob")
    index = {c: i for i, c in enumerate(model_classes)}
    return np.array([index[c] for c in classes], dtype=np.int64)


def check_frontend(cfg: FrontendConfig, in_chans: int, source: str,
                   window_seconds: float = comp.WINDOW_SECONDS) -> None:
    """Raise ``ValueError`` unless a model's frontend scores ``window_seconds`` windows of one
    channel (the task's window, ``Task.window_seconds``: 5 s for both competitions)."""
    if abs(cfg.clip_seconds - window_seconds) > 1e-6:
        raise ValueError(f"{source}: frontend clip_seconds={cfg.clip_seconds}, but the "
                         f"task predicts {window_seconds:g}-s windows")
    if in_chans != 1:
        raise ValueError(f"{source}: model expects {in_chans} input channels; the frontend "
                         "makes 1")


class ClipLogits(torch.nn.Module):
    """``spec -> clip_logits``: a single-tensor forward that traces cleanly."""

    def __init__(self, model: BirdModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.model.forward_spec(spec)["clip_logits"]


def _time_calls(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, n: int = 2
                ) -> float:
    with torch.inference_mode():
        fn(x)  # warm-up: allocations, oneDNN primitive creation
        start = time.perf_counter()
        for _ in range(n):
            fn(x)
    return (time.perf_counter() - start) / n


def compile_runner(model: BirdModel, example_spec: torch.Tensor, graph: str = "auto",
                   channels_last: bool = True, source: str = "model"
                   ) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """A fast ``spec (B, 1, n_mels, frames) -> clip logits (B, classes)`` callable.

    ``trace``: ``torch.jit.trace`` + ``torch.jit.freeze`` of ``forward_spec`` (folds batch
    norms, drops Python overhead); checked against eager on ``example_spec``, and any failure
    falls back to eager with a log line. ``auto`` times both and keeps the faster. Returns
    ``(runner, description)``.
    """
    model = model.eval()
    wrapper = ClipLogits(model).eval()
    if channels_last:
        wrapper = wrapper.to(memory_format=torch.channels_last)
        example_spec = example_spec.contiguous(memory_format=torch.channels_last)
    eager = wrapper
    tag = "channels-last" if channels_last else "contiguous"
    if graph == "eager":
        return eager, f"eager {tag}"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # torch 2.x marks jit as deprecated in favour of torch.compile, which needs a C++
            # toolchain and minutes of compiling; jit trace + freeze still works and helps.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.freeze(torch.jit.trace(wrapper, example_spec, check_trace=False))
            reference = eager(example_spec)
            for _ in range(2):  # the profiling executor optimises on the second call
                got = traced(example_spec)
        if not torch.allclose(got, reference, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"traced output differs by "
                               f"{(got - reference).abs().max().item():.2e}")
    except Exception as err:  # tracing fails in many ways per backbone; eager always works
        log.warning("%s: tracing failed (%s); running eager", source, err)
        return eager, f"eager {tag} (trace failed)"
    if graph == "trace":
        return traced, f"traced+frozen {tag}"
    t_eager, t_traced = _time_calls(eager, example_spec), _time_calls(traced, example_spec)
    log.info("%s: eager %.1f ms, traced+frozen %.1f ms per batch of %d", source,
             1e3 * t_eager, 1e3 * t_traced, example_spec.shape[0])
    if t_traced < t_eager:
        return traced, f"traced+frozen {tag}"
    return eager, f"eager {tag} (faster than traced)"


@dataclass
class Member:
    """One checkpoint of the ensemble, ready to run on shared spectrograms."""

    name: str  # checkpoint path relative to the models dir
    frontend_cfg: FrontendConfig
    weight: float
    permutation: np.ndarray  # (classes,) model column -> submission column
    model: BirdModel
    runner: Callable[[torch.Tensor], torch.Tensor] | None = None
    runner_kind: str = ""
    path: Path | None = None  # the checkpoint file; exports are cached beside it
    backend: str = ""  # where ``runner`` runs (``common.stages.infer.backends``)
    int8: bool = False  # ``runner`` is ``backend``'s int8 model (``backends.int8.apply_int8``)
    speeds: dict[str, float] = field(default_factory=dict)  # windows/s per backend measured


def load_members(paths: Sequence[Path], classes: Sequence[str], weights: Sequence[float] = (),
                 root: Path | None = None, window_seconds: float = comp.WINDOW_SECONDS
                 ) -> list[Member]:
    """Load and check every checkpoint: classes, frontend (``window_seconds`` windows), one
    sample rate for all."""
    if weights and len(weights) != len(paths):
        names = [str(p.relative_to(root) if root else p) for p in paths]
        raise ValueError(f"model_weights has {len(weights)} values for {len(paths)} checkpoints "
                         f"(in this order: {names})")
    members = []
    for i, path in enumerate(paths):
        name = str(path.relative_to(root)) if root else path.name
        model, meta = model_from_checkpoint(path)
        frontend_cfg = FrontendConfig.from_dict(meta["frontend"])
        check_frontend(frontend_cfg, int(meta["model"].get("in_chans", 1)), str(path),
                       window_seconds)
        perm = class_permutation(meta["classes"], classes, str(path))
        members.append(Member(name, frontend_cfg, float(weights[i]) if weights else 1.0, perm,
                              model, path=Path(path)))
    rates = {m.frontend_cfg.sample_rate for m in members}
    if len(rates) > 1:
        detail = ", ".join(f"{m.name}: {m.frontend_cfg.sample_rate} Hz" for m in members)
        raise ValueError(f"checkpoints use different sample rates ({detail}); one decode rate "
                         "serves the ensemble: leave the odd ones out with --checkpoint-glob")
    return members


def group_by_frontend(members: Sequence[Member]) -> dict[FrontendConfig, list[int]]:
    """Member indices per distinct frontend, in first-seen order (one spectrogram each)."""
    groups: dict[FrontendConfig, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault(m.frontend_cfg, []).append(i)
    return groups


