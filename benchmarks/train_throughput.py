"""Training throughput: loader samples/s and training-step samples/s, measured separately.

If the loader is slower than the step, the GPU starves: add workers, or a faster disk for the
cache. If the step is slower, the GPU is the bottleneck, as it should be.

    python benchmarks/train_throughput.py [--prep-dir DIR] [--preset cpu] [--batches 10]
        [--workers -1] [--backbone NAME] [--batch-size N] [--write-facts]

Without ``--prep-dir`` the tiny synthetic competition is generated and prepped (nb01 smoke) in
a temporary folder. The step runs waveform augmentation, frontend, SpecAugment, forward,
backward and the optimizer step on one loaded batch, repeated; on CUDA with fp16 AMP.
Prints one line per measurement. ``--write-facts`` records the step and loader speeds in
``common/budget/throughputs.json`` (``train_step.<device>.<backbone>``, ``train_loader.cpu``;
device ``cpu``, ``t4``, or the GPU's name; on CPU per CPU-second, one core's speed), the
figures the budget planner projects nb02 and nb03 from: run it on a Kaggle T4 to replace the
planner's estimated CPU-to-T4 factor.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.audio.augment import SpecAugment, WaveAugment  # noqa: E402
from common.budget.facts import device_name, write_throughput  # noqa: E402
from common.core.config import apply_preset, replace_dotted  # noqa: E402
from common.data.loaders import WindowDataset, loader_workers, make_loader  # noqa: E402
from common.data.prep_data import load_prep  # noqa: E402
from common.model.sed import build_model, param_groups_lrd  # noqa: E402
from common.stages.train.config import TrainConfig  # noqa: E402
from common.stages.train.items import audio_source, fold_data  # noqa: E402
from common.stages.train.optim import build_criterion  # noqa: E402


def _tiny_prep(root: Path) -> Path:
    from common.stages.prep.config import PrepConfig
    from common.stages.prep.run import run_prep
    from devtools.synthetic.birdclef import generate_competition

    comp = generate_competition(root / "tiny", size="tiny", seed=0)
    input_root = root / "input"
    input_root.mkdir()
    (input_root / "birdclef-2026").symlink_to(comp.competition_dir.resolve())
    cfg = replace_dotted(apply_preset(PrepConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(input_root / "birdclef-2026-prep")})
    run_prep(cfg)
    return input_root / "birdclef-2026-prep"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prep-dir", default=None, help="nb01 output (default: tiny synthetic)")
    parser.add_argument("--preset", default="cpu", help="TrainConfig preset for model and batch")
    parser.add_argument("--backbone", default=None, help="override the preset's backbone")
    parser.add_argument("--batch-size", type=int, default=None, help="override the batch size")
    parser.add_argument("--workers", type=int, default=-1, help="loader workers (-1: auto)")
    parser.add_argument("--batches", type=int, default=10, help="batches per measurement")
    parser.add_argument("--write-facts", action="store_true",
                        help="record the figures in common/budget/throughputs.json")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    prep_dir = Path(args.prep_dir) if args.prep_dir else _tiny_prep(Path(tmp.name))
    cfg = apply_preset(TrainConfig, args.preset)
    # Speed does not depend on the weights: random init, so no preset needs a download.
    changes = {"input_root": str(prep_dir.parent), "workers": args.workers,
               "model.pretrained": False}
    if args.backbone:
        changes["model.backbone"] = args.backbone
    if args.batch_size:
        changes["batch_size"] = args.batch_size
    cfg = replace_dotted(cfg, changes)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda"
    prep = load_prep(prep_dir)
    data = fold_data(cfg, prep, 0)
    workers = loader_workers(cfg.session.workers)
    ds = WindowDataset(data.train, audio_source(cfg, prep), cfg.frontend.clip_samples,
                       background_df=data.background_df, seed=cfg.seed)
    batch_size = min(cfg.optim.batch_size, len(ds))
    print(f"device {device}, amp {amp}, backbone {cfg.model.backbone}, batch {batch_size}, "
          f"workers {workers}, {len(ds)} training rows")

    # Loader alone: crops, background picks, collation (first batch = worker start-up, excluded).
    loader = make_loader(ds, batch_size, shuffle=True, workers=workers, drop_last=True,
                         max_batches=args.batches + 1, pin_memory=device.type == "cuda")
    it = iter(loader)
    batch = next(it)
    t0 = time.perf_counter()
    n = 0
    for b in it:
        n += len(b["index"])
    loader_rate = n / max(time.perf_counter() - t0, 1e-9)
    if n:
        print(f"loader: {loader_rate:9.1f} samples/s ({n} samples)")
    else:  # the first batch was all there was: nothing left to time with the workers
        print(f"loader: not timed with workers ({len(ds)} training rows make one batch of "
              f"{batch_size}; --prep-dir a larger prep or lower --batch-size)")
    # The same work in this process, timed in CPU seconds: one loader worker's speed on an
    # idle core (what the budget planner multiplies by the workers of a process).
    inline = make_loader(ds, batch_size, shuffle=True, workers=0, drop_last=True,
                         max_batches=args.batches)
    cpu0, n_inline = time.process_time(), 0
    for b in inline:
        n_inline += len(b["index"])
    worker_rate = n_inline / max(time.process_time() - cpu0, 1e-9)
    print(f"  {worker_rate:.1f} samples per CPU-second in one process (one worker's speed)")

    # Training step alone, on one batch already in memory.
    model = build_model(cfg.model, cfg.frontend, len(prep.classes)).to(device)
    opt = torch.optim.AdamW(param_groups_lrd(model, cfg.optim.lr, cfg.optim.weight_decay,
                                             cfg.optim.layer_decay))
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    wave_aug = WaveAugment(cfg.wave_augment, cfg.frontend.sample_rate)
    spec_aug = SpecAugment(cfg.spec_augment)
    criterion = build_criterion(cfg)
    wave = batch["wave"].to(device).float()
    targets = batch["targets"].to(device)
    background = batch["background"].to(device).float() if "background" in batch else None

    def step() -> None:
        w, t = wave_aug(wave, targets, background)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = model(w, spec_augment=spec_aug)["clip_logits"]
        loss = criterion(logits.float(), t)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    model.train()
    step()  # warm-up: cuDNN autotuning, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.batches):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    step_rate = args.batches * batch_size / (time.perf_counter() - t0)
    cpu_seconds = time.process_time() - cpu0
    print(f"train step: {step_rate:9.1f} samples/s ({args.batches} steps of {batch_size})")
    if device.type == "cpu":
        # CPU seconds of every thread: one core's speed, undistorted by a loaded machine.
        step_rate = args.batches * batch_size / max(cpu_seconds, 1e-9)
        print(f"  {step_rate:.2f} samples per CPU-second (one core; load average "
              f"{os.getloadavg()[0]:.2f})")
    # On CPU per core both: one loader worker against one core's step.
    balance = (worker_rate if device.type == "cpu" else loader_rate) / step_rate
    verdict = "loader-bound: add workers" if balance < 1 else "compute-bound (good)"
    print(f"balance: loader/step = {balance:.2f} -> {verdict}")
    if args.write_facts:
        command = "python " + " ".join(sys.argv)
        load = round(os.getloadavg()[0], 2)
        device_key = device_name(device)
        backbone = cfg.model.backbone.split(".")[0]
        unit = "samples per CPU-second (one core)" if device.type == "cpu" else "samples/s"
        write_throughput(f"train_step.{device_key}.{backbone}", step_rate, unit, command,
                         batch=batch_size, amp=amp, threads=torch.get_num_threads(),
                         load_average=load, input=f"1x{cfg.frontend.n_mels}x"
                         f"{1 + cfg.frontend.clip_samples // cfg.frontend.hop_length}")
        write_throughput("train_loader.cpu", worker_rate,
                         "samples per CPU-second of one loader worker", command,
                         load_average=load,
                         wall_rate_with_workers=round(loader_rate, 1) if n else None)
        print(f"written to common/budget/throughputs.json (train_step.{device_key}.{backbone}, "
              "train_loader.cpu)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
