"""The prediction loop: decode ahead, batch windows across files, share spectrograms, keep time.

``EnsemblePredictor.predict(paths)`` decodes each file once in a thread that runs ahead of the
models (:func:`common.stages.infer.decode.decode_ahead`), cuts it into the task's windows (5 s),
batches windows across files, computes the frontend once per batch and waveform TTA view for all
members that share a ``FrontendConfig`` (SpecAugment views mask the ``orig`` spectrogram instead
of running the frontend again), and runs each member's compiled ``spec -> logits`` runner on that
spectrogram. It measures itself as it goes: after the first files it projects the rest of the
run and, when the ensemble would not fit the time budget, drops TTA views, then models
(:func:`common.stages.infer.ensemble.plan_within_budget`), logging each decision. Past the
deadline it stops; windows not predicted are left uncovered for the caller's fallback.

:func:`predict_files` is the engine's one entry point for a stage (nb04's test files, nb03's
unlabelled audio): the loop, then the combination of the members. Its settings are a
:class:`common.stages.infer.config.PredictConfig`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from common.core.runtime import cpu_count, resolve_workers
from common.model.frontend import Frontend
from common.stages.infer.backends.select import build_runner
from common.stages.infer.config import PredictConfig
from common.stages.infer.decode import DecodedFile, decode_ahead, windows_from_header
from common.stages.infer.ensemble import combine_models, plan_within_budget, score_space
from common.stages.infer.members import Member, group_by_frontend
from common.stages.infer.submission import file_row_ids
from common.stages.infer.tta import (
    apply_view,
    check_views,
    fold_duplicate_views,
    is_spec_view,
    mask_view,
    spectra_equal,
    window_key,
)

if TYPE_CHECKING:
    from common.tasks.base import Task

__all__ = ["EnsemblePredictor", "Predictions", "predict_files"]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The prediction loop.


@dataclass
class _Group:
    """Models sharing one frontend: one spectrogram per batch and view serves them all."""

    frontend: Frontend
    members: list[int]
    folded: set[str] = field(default_factory=set)  # gain views identical to orig here


@dataclass
class Predictions:
    """Raw output of ``EnsemblePredictor.predict``; rows are files in order, windows in time."""

    paths: list[Path]
    n_windows: list[int]  # per file
    scores: list[np.ndarray]  # per member (rows, classes), in score space, view-averaged
    covered: list[np.ndarray]  # per member (rows,) bool
    batch_log: list[dict[str, Any]]
    events: list[str]  # budget decisions and failures, in order, for the report
    member_seconds_per_window: list[float]
    failed_files: list[str]
    stopped_early: bool

    @property
    def file_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.paths)), self.n_windows)

    @property
    def row_ids(self) -> list[str]:
        return [r for p, n in zip(self.paths, self.n_windows) for r in file_row_ids(p.name, n)]


class EnsemblePredictor:
    """Runs an ensemble with TTA over test files, inside a time budget.

    Args:
        members: loaded checkpoints (``load_members``); runners are compiled on first use.
        cfg: the engine's settings (views, batch size, graph mode, budget).
        classes: submission columns; every member's outputs are permuted to this order.
        task: the competition (its window and clip lengths, its activation for ``prob_mean``);
            ``None``: the default task of :mod:`common.tasks`.
        clock: seconds, monotonic (``time.perf_counter``); tests inject a fake one.
        started_at: ``clock()`` when the notebook started; the deadline counts from it, so
            model loading and compiling are inside the budget.
        device: where frontends and models run (nb04: CPU; nb03 scores on the GPU when there
            is one). Members are moved there.
    """

    def __init__(self, members: Sequence[Member], cfg: PredictConfig, classes: Sequence[str],
                 task: Task | None = None, clock: Callable[[], float] = time.perf_counter,
                 started_at: float | None = None, device: str | torch.device = "cpu") -> None:
        if task is None:
            from common.tasks import DEFAULT_TASK, get_task

            task = get_task(DEFAULT_TASK)
        self.task = task
        self.device = torch.device(device)
        self.members = list(members)
        for m in self.members:
            m.model.to(self.device)
        self.cfg = cfg
        self.classes = list(classes)
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.deadline = self.started_at + 60.0 * cfg.time_budget_minutes
        self.views = check_views(cfg.views)
        self.groups = [_Group(Frontend(fc).to(self.device).eval(), idx)
                       for fc, idx in group_by_frontend(self.members).items()]
        self.model_keep = np.ones(len(self.members), bool)
        self.view_keep = np.ones(len(self.views), bool)
        n_m, n_v = len(self.members), len(self.views)
        self.pass_time = np.zeros((n_m, n_v))  # clock seconds spent in model m under view v
        self.pass_windows = np.zeros((n_m, n_v))
        self.front_time = np.zeros((len(self.groups), n_v))
        self.front_windows = np.zeros((len(self.groups), n_v))
        self.events: list[str] = []
        self._prepared = False

    # -- set-up on the first batch --------------------------------------------------------

    def _prepare(self, wave: torch.Tensor) -> None:
        """Fold duplicate views numerically and compile every member on a real batch."""
        for g in self.groups:
            spec = g.frontend(wave)
            same = {v for v in ("gain_up", "gain_down") if v in self.views and spectra_equal(
                g.frontend(apply_view(wave, v, self.cfg.gain_db)), spec)}
            weights = fold_duplicate_views(self.views, g.frontend.cfg, same.__contains__)
            g.folded = {v for v in self.views if v not in weights}
            if g.folded:
                self._event(f"frontend {g.frontend.cfg.mode}/{g.frontend.cfg.normalize}: views "
                            f"{sorted(g.folded)} give the orig spectrogram; folded into orig "
                            f"(no extra pass)")
            for i in g.members:
                m = self.members[i]
                if m.runner is not None:  # compiled by an earlier predictor
                    continue
                m.runner, m.runner_kind = build_runner(m, spec, self.cfg,
                                                       resolve_workers(self.cfg.threads))
                log.info("model %s: %s", m.name, m.runner_kind)
        self._prepared = True

    def _event(self, text: str) -> None:
        log.info(text)
        self.events.append(text)

    def view_weights(self, group: _Group) -> dict[str, float]:
        """``{view: weight}`` of the kept views for one frontend group (folded into orig)."""
        weights: dict[str, float] = {}
        for v, keep in zip(self.views, self.view_keep):
            if keep:
                key = "orig" if v in group.folded else v
                weights[key] = weights.get(key, 0.0) + 1.0
        return weights

    # -- one batch --------------------------------------------------------------------------

    def _run_batch(self, wave: torch.Tensor, n_real: int,
                   keys: Sequence[tuple[int, int] | None] = ()) -> dict[int, np.ndarray]:
        """``{member: (n_real, classes) view-averaged score}`` for the members kept.

        ``keys``: one ``common.stages.infer.tta.window_key`` per row of ``wave`` (``None`` for
        padding), which seeds the SpecAugment views' masks.
        """
        out: dict[int, np.ndarray] = {}
        task = self.task
        for gi, g in enumerate(self.groups):
            active = [i for i in g.members if self.model_keep[i]]
            if not active:
                continue
            weights = self.view_weights(g)
            total_w = sum(weights.values())
            orig_spec = None
            for view, w in weights.items():
                v = self.views.index(view)
                t0 = self.clock()
                if is_spec_view(view):
                    # The mask goes between the frontend and the backbone, as in training; the
                    # orig spectrogram (``orig`` is always kept) is computed once per batch.
                    if orig_spec is None:
                        orig_spec = g.frontend(wave)
                    spec = mask_view(orig_spec, view, keys or [None] * len(wave),
                                     self.cfg.tta_spec_augment, self.cfg.tta_seed)
                else:
                    spec = g.frontend(apply_view(wave, view, self.cfg.gain_db))
                    if view == "orig":
                        orig_spec = spec
                if self.cfg.channels_last:
                    spec = spec.contiguous(memory_format=torch.channels_last)
                self.front_time[gi, v] += self.clock() - t0
                self.front_windows[gi, v] += n_real
                for i in active:
                    m = self.members[i]
                    t0 = self.clock()
                    logits = m.runner(spec)[:n_real].float().cpu().numpy()[:, m.permutation]
                    self.pass_time[i, v] += self.clock() - t0
                    self.pass_windows[i, v] += n_real
                    score = score_space(logits, self.cfg.combine, task) * (w / total_w)
                    out[i] = out[i] + score if i in out else score
        return out

    # -- budget -----------------------------------------------------------------------------

    def _replan(self, files_done: int, files_left: int, windows_per_file: float,
                loop_seconds: float) -> None:
        """Project the rest of the run from measured speeds and shrink the plan if needed."""
        with np.errstate(invalid="ignore", divide="ignore"):
            per_window = np.nan_to_num(self.pass_time.sum(1) / self.pass_windows.sum(1))
            front = np.nan_to_num(self.front_time / self.front_windows)
        pass_seconds = np.zeros((len(self.members), len(self.views)))
        view_seconds = np.zeros(len(self.views))
        for gi, g in enumerate(self.groups):
            for v, view in enumerate(self.views):
                if view in g.folded:
                    continue
                view_seconds[v] += front[gi, v] * windows_per_file
                for i in g.members:
                    pass_seconds[i, v] = per_window[i] * windows_per_file
        measured = self.pass_time.sum() + self.front_time.sum()
        fixed = max(0.0, loop_seconds - measured) / max(1, files_done)
        reserve = min(60.0, 0.05 * 60.0 * self.cfg.time_budget_minutes)  # writing + plots
        seconds_left = self.deadline - self.clock() - reserve
        plan = plan_within_budget(pass_seconds, view_seconds, fixed, files_left, seconds_left,
                                  self.model_keep, self.view_keep)
        log.info("budget: %d files left, projected %.0f s for %.0f s left", files_left,
                 plan.projected_seconds, seconds_left)
        for item in plan.dropped:
            kind, k = item.split()
            name = self.views[int(k)] if kind == "view" else self.members[int(k)].name
            self._event(f"budget: dropped {kind} {name} after {files_done} file(s) "
                        f"(projected {plan.projected_seconds:.0f} s for {seconds_left:.0f} s left)")
        self.model_keep, self.view_keep = plan.model_keep, plan.view_keep

    # -- the loop ---------------------------------------------------------------------------

    def predict(self, paths: Sequence[Path],
                on_decoded: Callable[[DecodedFile], None] | None = None) -> Predictions:
        """Predict every window of every file; see the module docstring for the strategy.

        ``on_decoded`` is called with each file that decoded (nb03 caches the audio it scores
        this way, so students train from memory maps without decoding twice).
        """
        cfg, classes = self.cfg, self.classes
        paths = list(paths)
        rate = self.members[0].frontend_cfg.sample_rate
        task = self.task
        window_samples = int(task.window_seconds * rate)
        n_windows: list[int | None] = [None] * len(paths)
        acc: list[dict[int, np.ndarray]] = [{} for _ in paths]  # file -> member -> (n, K)
        done_windows = np.zeros(len(paths), int)
        buffer: list[tuple[int, int, np.ndarray]] = []  # (file, first window, windows)
        batch_log: list[dict[str, Any]] = []
        failed: list[str] = []
        files_done = 0
        next_plan = max(1, cfg.probe_files)
        loop_start = self.clock()
        stopped = False

        def run(take: int) -> None:
            segments, taken = [], 0
            while taken < take and buffer:
                f, start, w = buffer[0]
                n = min(len(w), take - taken)
                segments.append((f, start, w[:n]))
                taken += n
                if n == len(w):
                    buffer.pop(0)
                else:
                    buffer[0] = (f, start + n, w[n:])
            wave = np.concatenate([s[2] for s in segments])
            keys: list[tuple[int, int] | None] = [
                window_key(paths[f].name, start + j) for f, start, w in segments
                for j in range(len(w))]
            if len(wave) < cfg.batch_windows:  # fixed batch shape for traced graphs
                pad = np.zeros((cfg.batch_windows - len(wave), wave.shape[1]), np.float32)
                wave = np.concatenate([wave, pad])
                keys += [None] * len(pad)
            wave_t = torch.from_numpy(wave).to(self.device)
            if not self._prepared:
                self._prepare(wave_t)
            t0 = self.clock()
            out = self._run_batch(wave_t, taken, keys)
            offset = 0
            for f, start, w in segments:
                for i, score in out.items():
                    store = acc[f].setdefault(
                        i, np.full((n_windows[f], len(classes)), np.nan, np.float32))
                    store[start:start + len(w)] = score[offset:offset + len(w)]
                done_windows[f] += len(w)
                offset += len(w)
            batch_log.append({"batch": len(batch_log), "windows": taken,
                              "files": len({s[0] for s in segments}),
                              "seconds": round(self.clock() - t0, 4),
                              "elapsed_seconds": round(self.clock() - self.started_at, 2),
                              "models": int(self.model_keep.sum()),
                              "views": int(self.view_keep.sum())})

        workers = resolve_workers(cfg.decode_workers)
        prefetch = cfg.prefetch_files if cfg.prefetch_files > 0 else max(4, 2 * cpu_count())
        decoded = decode_ahead(paths, rate, window_samples, workers, prefetch)
        with torch.inference_mode():
            try:
                for item in tqdm(decoded, total=len(paths), desc="predict", unit="file"):
                    if item.windows is None:
                        log.warning("test file skipped, its windows get the fallback: %s",
                                    item.error)
                        failed.append(item.error)
                        n_windows[item.index] = windows_from_header(
                            item.path, window_samples, task.window_seconds, task.clip_seconds)
                        files_done += 1
                        continue
                    n_windows[item.index] = len(item.windows)
                    if on_decoded is not None:
                        on_decoded(item)
                    buffer.append((item.index, 0, item.windows))
                    while sum(len(b[2]) for b in buffer) >= cfg.batch_windows:
                        if self.clock() >= self.deadline:
                            stopped = True
                            break
                        run(cfg.batch_windows)
                    if stopped:
                        break
                    files_done = int(sum(done_windows[k] == n_windows[k]
                                         for k in range(item.index + 1)))
                    if files_done >= next_plan and files_done < len(paths):
                        next_plan = files_done + max(1, cfg.replan_every_files)
                        per_file = float(done_windows.sum()) / max(1, files_done)
                        self._replan(files_done, len(paths) - files_done, per_file,
                                     self.clock() - loop_start)
                while buffer and not stopped:
                    if self.clock() >= self.deadline:
                        stopped = True
                        break
                    run(cfg.batch_windows)
            finally:
                decoded.close()
        if stopped:
            self._event(f"deadline reached after {self.clock() - self.started_at:.0f} s: "
                        f"{int((done_windows == 0).sum())} files not predicted get the fallback")
        for k, n in enumerate(n_windows):
            if n is None:
                n_windows[k] = windows_from_header(paths[k], window_samples,
                                                    task.window_seconds, task.clip_seconds)
        counts = [int(n) for n in n_windows]
        rows = int(sum(counts))
        scores, covered = [], []
        for i in range(len(self.members)):
            s = np.full((rows, len(classes)), np.nan, np.float32)
            offset = 0
            for k, n in enumerate(counts):
                if i in acc[k]:
                    s[offset:offset + n] = acc[k][i]
                offset += n
            scores.append(s)
            covered.append(~np.isnan(s).any(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            speed = np.nan_to_num(self.pass_time.sum(1) / self.pass_windows.sum(1)).tolist()
        return Predictions(paths, counts, scores, covered, batch_log, self.events, speed, failed,
                           stopped)


def predict_files(members: list[Member], paths: list[Path], cfg: PredictConfig,
                  classes: list[str], task: Task, clock: Callable[[], float] = time.perf_counter,
                  started_at: float | None = None, device: str | torch.device = "cpu",
                  on_decoded: Callable[[DecodedFile], None] | None = None
                  ) -> tuple[Predictions, np.ndarray]:
    """Ensemble probabilities for every window of ``paths`` (nb04's test files, nb03's
    unlabelled audio): one loop, one frontend, one combination rule for both.

    Returns:
        ``(predictions, probs)``: the raw per-member output (``predictions.row_ids``,
        ``file_ids``, ``failed_files``...) and ``(windows, classes)`` float32 combined
        probabilities (the task's activation: sigmoid, or softmax for single-label tasks),
        files in order and windows in time; rows no member reached are NaN.
    """
    predictor = EnsemblePredictor(members, cfg, classes, task, clock=clock,
                                  started_at=started_at, device=device)
    predictions = predictor.predict(paths, on_decoded=on_decoded)
    probs = combine_models(predictions.scores, predictions.covered, [m.weight for m in members],
                           cfg.combine, task)
    return predictions, probs
