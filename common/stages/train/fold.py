"""One fold of nb02: build its tables and model, run the epochs, keep the best and last weights.

:func:`train_fold` reads top to bottom as the fold runs:

1. skip a fold that is done (its ``done.json``), split nb01's tables for it (the task's
   :meth:`~common.tasks.base.Task.fold_data`) and pick its validation
   (:meth:`~common.tasks.base.Task.make_validation`) and checkpoint rule
   (:func:`common.stages.train.config.checkpoint_rule`);
2. build the model and its optimiser, schedule, EMA and augmenters (:func:`_build_parts`),
   or reload them from the resume file (:mod:`common.stages.train.resume`);
3. per epoch: stop first if the session is out of epochs or hours (:func:`_session_stop`),
   train (:func:`_train_epoch`), validate, then write the checkpoints, the history and the
   resume state (:func:`_end_epoch`);
4. write the fold's summary (``done.json``, :func:`_finish_fold`).

Files: ``<backbone-short>_fold<k>_best.pt`` / ``_last.pt`` in the working dir, the fold's
``history.csv`` and OOF files under ``folds/``, its resume state under ``resume/``
(:mod:`common.stages.train.layout`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import pandas as pd
import torch
from timm.utils import ModelEmaV3
from tqdm.auto import tqdm

from common.audio.augment import SpecAugment, WaveAugment
from common.core.config import config_to_dict
from common.core.runtime import seed_everything
from common.data.loaders import WindowDataset, loader_workers, make_loader
from common.data.prep_data import PrepData
from common.model.checkpoint import save_checkpoint
from common.model.sed import build_model
from common.stages.train.config import TrainConfig, check_config, checkpoint_rule
from common.stages.train.items import (
    FoldData,
    audio_source,
    check_sample_rate,
    class_balance_weights,
    fold_data,
)
from common.stages.train.layout import (
    checkpoint_path,
    extra_windows_path,
    fold_dir,
    json_default,
    resume_path,
)
from common.stages.train.optim import (
    amp_enabled,
    build_criterion,
    build_optimizer,
    build_scheduler,
    initial_model_config,
    warm_start,
)
from common.stages.train.resume import (
    FoldParts,
    FoldProgress,
    load_resume_state,
    save_resume_state,
)
from common.stages.train.validation import Validation, format_scores, make_validation

log = logging.getLogger(__name__)

__all__ = ["train_fold", "steps_per_epoch"]


def train_fold(cfg: TrainConfig, prep: PrepData, fold: int, device: torch.device | None = None,
               n_processes: int = 1, session_start: float | None = None) -> dict[str, Any]:
    """Train (or resume, or skip if done) one fold; returns its summary row.

    Writes the fold's checkpoints, history and OOF files (see the module docstring). Returns
    ``{"status": "interrupted", ...}`` when ``session_epochs`` or ``session_hours`` (counted from
    ``session_start``, a ``time.time()`` value; default now) stopped it early.
    """
    check_config(cfg)
    t_session = time.time() if session_start is None else session_start
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    done_path = fold_dir(cfg, fold) / "done.json"
    if done_path.is_file():
        log.info("fold %d: already done (%s), skipped", fold, done_path)
        return json.loads(done_path.read_text())
    fold_dir(cfg, fold).mkdir(parents=True, exist_ok=True)
    check_sample_rate(cfg, prep)
    data = fold_data(cfg, prep, fold)
    source = audio_source(cfg, prep)
    workers = loader_workers(cfg.session.workers, n_processes)
    validation = make_validation(
        cfg.task_spec, source, soundscapes=data.val_soundscapes, focal=data.val_focal,
        clips=data.val_clips, clip_samples=cfg.frontend.clip_samples,
        batch_size=cfg.optim.eval_batch_size, fold=fold, classes=prep.classes)
    rule, why = checkpoint_rule(cfg.optim, validation.n_scored)
    _log_fold_start(fold, data, validation, device, workers)
    log.info("fold %d: checkpoint rule %r (%s)", fold, rule, why)
    validation.warn_if_unscorable()
    if not len(data.train):
        raise ValueError(f"fold {fold} has no training rows: check nb01's train_folds.csv")

    train_ds = WindowDataset(data.train, source, cfg.frontend.clip_samples, train=True,
                             crop_mode=cfg.data.crop_mode, background_df=data.background_df,
                             seed=cfg.seed + 1000 * fold)
    n_steps = steps_per_epoch(cfg, len(data.train))
    parts = _build_parts(cfg, prep.classes, fold, device, n_steps)
    sample_weights = class_balance_weights(data.train) if cfg.data.class_balance else None
    progress = load_resume_state(resume_path(cfg, fold), cfg, parts, device)
    if progress is None:
        progress = FoldProgress()
    else:
        log.info("fold %d: resumed from %s after epoch %d (best %.4f at epoch %d)", fold,
                 resume_path(cfg, fold), progress.epoch, progress.best_score,
                 progress.best_epoch)

    epochs_this_session, last_epoch_seconds = 0, 0.0
    for epoch in range(progress.epoch, cfg.optim.epochs):
        if _session_stop(cfg, fold, epoch, epochs_this_session, t_session, last_epoch_seconds):
            return {"fold": fold, "status": "interrupted", "epoch": epoch}
        t0 = time.time()
        loader = make_loader(train_ds, min(cfg.optim.batch_size, len(data.train)), shuffle=True,
                             epoch=epoch, seed=cfg.seed + fold, workers=workers, drop_last=True,
                             max_batches=n_steps, pin_memory=device.type == "cuda",
                             sample_weights=sample_weights)
        train_loss = _train_epoch(cfg, parts, progress, loader, device,
                                  any_masked=bool((data.train.mask < 1).any()),
                                  desc=f"fold {fold} epoch {epoch + 1}/{cfg.optim.epochs}")
        lr = max(g["lr"] for g in parts.optimizer.param_groups)
        scores = validation.evaluate(parts.eval_model, device, amp_enabled(cfg.optim, device),
                                     workers)
        row = {"fold": fold, "epoch": epoch + 1, "lr": lr, "train_loss": train_loss, **scores,
               "selection": validation.selection}
        is_best = _end_epoch(cfg, prep.classes, fold, parts, progress, validation, rule, row,
                             seconds=time.time() - t0, device=device)
        epochs_this_session += 1
        last_epoch_seconds = row["seconds"]
        # Say what the checkpoint rule did: under "last" every epoch replaces the kept one,
        # which is no claim that it scored best.
        kept = ("  (kept: rule 'last')" if rule == "last" else
                "  (best so far: kept)" if is_best else "")
        log.info("fold %d epoch %d/%d  lr %.2e  loss %.4f  %s%s  %.0f s", fold, epoch + 1,
                 cfg.optim.epochs, lr, train_loss, format_scores(scores), kept, row["seconds"])
    return _finish_fold(cfg, fold, progress, validation, rule, n_train_rows=len(data.train))


def steps_per_epoch(cfg: TrainConfig, n_rows: int) -> int:
    """Optimiser steps per epoch: full batches over ``n_rows`` (at least one), capped by
    ``optim.max_steps_per_epoch``."""
    batch = min(cfg.optim.batch_size, n_rows)
    steps = max(1, n_rows // max(1, batch))
    if cfg.optim.max_steps_per_epoch > 0:
        steps = min(steps, cfg.optim.max_steps_per_epoch)
    return steps


def _log_fold_start(fold: int, data: FoldData, validation: Validation, device: torch.device,
                    workers: int) -> None:
    sources = data.train.table_df["source"]
    log.info("fold %d: %d training rows (%d focal, %d soundscape, %d extra), validation: %s, "
             "%d background windows; device %s, %d workers", fold, len(data.train),
             int((sources == "focal").sum()), int((sources == "soundscape").sum()),
             int(sources.str.startswith("extra:").sum()), validation.describe(),
             len(data.background_df), device, workers)


def _build_parts(cfg: TrainConfig, classes: list[str], fold: int, device: torch.device,
                 n_steps: int) -> FoldParts:
    """The fold's model (warm-started if asked), optimiser, schedule, scaler, EMA, augmenters
    and loss, seeded from ``cfg.seed`` and the fold."""
    seed_everything(cfg.seed + fold)
    replaced = bool(cfg.init_checkpoint) or resume_path(cfg, fold).is_file()
    model = build_model(initial_model_config(cfg, replaced), cfg.frontend, len(classes))
    if cfg.init_checkpoint:
        warm_start(model, extra_windows_path(cfg.init_checkpoint, fold), classes)
    model = model.to(device)
    optim = cfg.optim
    optimizer = build_optimizer(model, optim, device)
    scheduler = build_scheduler(optimizer, optim.epochs * n_steps,
                                int(round(optim.warmup_epochs * n_steps)), optim.min_lr_ratio)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_enabled(optim, device))
    ema = ModelEmaV3(model, decay=optim.ema_decay, use_warmup=True) if optim.ema else None
    return FoldParts(
        model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, ema=ema,
        wave_aug=WaveAugment(cfg.wave_augment, cfg.frontend.sample_rate, seed=cfg.seed + fold),
        spec_aug=SpecAugment(cfg.spec_augment, seed=cfg.seed + fold + 500),
        criterion=build_criterion(cfg))


def _session_stop(cfg: TrainConfig, fold: int, epoch: int, epochs_this_session: int,
                  t_session: float, last_epoch_seconds: float) -> bool:
    """True (and say so) when this session must not start epoch ``epoch``: ``session_epochs``
    are done, or the epoch would end past ``session_hours`` (at the last epoch's pace)."""
    session = cfg.session
    if session.session_epochs and epochs_this_session >= session.session_epochs:
        log.info("fold %d: session_epochs=%d reached; run again to resume", fold,
                 session.session_epochs)
        return True
    elapsed_hours = (time.time() - t_session) / 3600
    if session.session_hours and \
            elapsed_hours + last_epoch_seconds / 3600 > session.session_hours:
        log.warning("fold %d: stopping before epoch %d to stay within session_hours=%.1f; "
                    "run again with the same working dir to resume", fold, epoch + 1,
                    session.session_hours)
        return True
    return False


def _train_epoch(cfg: TrainConfig, parts: FoldParts, progress: FoldProgress, loader,
                 device: torch.device, *, any_masked: bool, desc: str) -> float:
    """One pass over ``loader``: augment on the device, forward under autocast, the loss with
    its per-row weights and mask, a clipped AMP step, the schedule and the EMA. Returns the
    mean training loss."""
    use_amp = amp_enabled(cfg.optim, device)
    parts.model.train()
    parts.wave_aug.train()
    parts.spec_aug.train()
    loss_sum, loss_count = 0.0, 0
    for item in tqdm(loader, desc=desc, leave=False, unit="batch"):
        wave = item["wave"].to(device, non_blocking=True).float()
        targets = item["targets"].to(device, non_blocking=True)
        mask = item["mask"].to(device, non_blocking=True) if any_masked else None
        weight = item["weight"].to(device, non_blocking=True)
        background = item.get("background")
        if background is not None:
            background = background.to(device, non_blocking=True).float()
        wave, targets = parts.wave_aug(wave, targets, background)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            logits = parts.model(wave, spec_augment=parts.spec_aug)["clip_logits"]
        loss = parts.criterion(logits.float(), targets, mask=mask, weight=weight)
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss).backward()
        if cfg.optim.grad_clip_norm > 0:
            parts.scaler.unscale_(parts.optimizer)
            torch.nn.utils.clip_grad_norm_(parts.model.parameters(), cfg.optim.grad_clip_norm)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.scheduler.step()
        progress.global_step += 1
        if parts.ema is not None:
            parts.ema.update(parts.model, step=progress.global_step)
        loss_sum += float(loss.detach())
        loss_count += 1
    return loss_sum / max(1, loss_count)


def _end_epoch(cfg: TrainConfig, classes: list[str], fold: int, parts: FoldParts,
               progress: FoldProgress, validation: Validation, rule: str, row: dict[str, Any],
               *, seconds: float, device: torch.device) -> bool:
    """Record an epoch: best/last checkpoints (with the OOF files of a best epoch), the history
    row (``row`` gains ``is_best`` and ``seconds``) and the resume state. Returns ``is_best``."""
    score = row[validation.selection]
    # "last" keeps every epoch in turn; an unscorable fold (NaN) keeps the latest epoch too.
    is_best = rule == "last" or not math.isfinite(score) or score > progress.best_score
    row.update(is_best=is_best, seconds=round(seconds, 2))
    progress.history.append(row)
    progress.epoch = row["epoch"]
    scores = {name: row[name] for name in validation.score_names}
    metrics = {"epoch": row["epoch"], **scores, "selection": validation.selection,
               "train_loss": row["train_loss"]}
    saved = dict(classes=classes, model_cfg=cfg.model, frontend_cfg=cfg.frontend, fold=fold,
                 config=config_to_dict(cfg))
    if is_best:
        progress.best_score = score if math.isfinite(score) else progress.best_score
        progress.best_epoch = row["epoch"]
        save_checkpoint(checkpoint_path(cfg, fold, "best"), parts.eval_model,
                        metrics={**metrics, "best": True}, **saved)
        validation.write_oof(fold_dir(cfg, fold))
    save_checkpoint(checkpoint_path(cfg, fold, "last"), parts.eval_model,
                    metrics={**metrics, "best": is_best}, **saved)
    pd.DataFrame(progress.history).to_csv(fold_dir(cfg, fold) / "history.csv", index=False)
    save_resume_state(resume_path(cfg, fold), cfg, parts, progress, device)
    return is_best


def _finish_fold(cfg: TrainConfig, fold: int, progress: FoldProgress, validation: Validation,
                 rule: str, *, n_train_rows: int) -> dict[str, Any]:
    """Write ``done.json`` (the fold's summary row), drop the resume state unless kept."""
    history, best_epoch, best_score = progress.history, progress.best_epoch, progress.best_score
    best_row = next((r for r in history if r["epoch"] == best_epoch),
                    history[-1] if history else {})
    summary = {
        "fold": fold, "status": "done", "epochs": cfg.optim.epochs, "best_epoch": best_epoch,
        "selection": validation.selection, "checkpoint_rule": rule,
        "best_score": best_score if math.isfinite(best_score) else None,
        **{name: best_row.get(name) for name in validation.score_names},
        "best_checkpoint": checkpoint_path(cfg, fold, "best").name,
        "last_checkpoint": checkpoint_path(cfg, fold, "last").name,
        "n_train_rows": n_train_rows, **validation.counts(),
    }
    (fold_dir(cfg, fold) / "done.json").write_text(
        json.dumps(summary, indent=2, default=json_default) + "\n")
    if not cfg.session.keep_resume_state:
        resume_path(cfg, fold).unlink(missing_ok=True)
    log.info("fold %d done: kept epoch %d by rule '%s', %s %.4f", fold, best_epoch, rule,
             validation.selection, best_score if math.isfinite(best_score) else float("nan"))
    return summary

