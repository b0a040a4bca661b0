"""How fast nb04 predicts, and whether the Kaggle recipe fits the 90-minute CPU limit.

    python benchmarks/infer_throughput.py [--backbone tf_efficientnet_b0] [--n-models 2] [--files 4]
        [--backend torch|onnxruntime|openvino] [--write-facts]

Builds an ensemble of ``--n-models`` random-weight models (``pretrained=False``, nothing
downloads) of one backbone and frontend, writes ``--files`` synthetic 60-s soundscapes, and runs
nb04's code path on them (``load_members`` + ``EnsemblePredictor.predict``: decode-ahead
thread, shared spectrograms, traced/frozen channels-last graphs, folded gain views). Then:

- windows per second per model pass (one model, one view, one 5-s window);
- the projected wall time of ``--target-files`` files x ``--target-models`` models x the
  configured views on a ``--kaggle-cores`` CPU, with the scaling assumption printed;
- the speed ratio against a naive loop measured in the same run: per window, librosa mel, one
  model at a time, batch of 1, eager.

Prints figures; asserts nothing. ``--write-facts`` records the measured speed per model pass
and the load/compile time per model in ``common/budget/throughputs.json``
(``infer.cpu.<backbone>``: window passes per CPU-second, i.e. one core's speed, robust to a
loaded machine; ``infer_compile.cpu``; ``checkpoint_mb.any.<backbone>``; with ``--backend NAME``
for another inference backend: ``infer.cpu_<NAME>.<backbone>``), the figures nb04's budget and
the planner project from. ``benchmarks/infer_speed.py`` compares the backends against each
other in one run (ratios, roofline, ISA cap); this script measures the one nb04 will use, per
core, for the planner.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.budget.facts import DEFAULT_BACKEND, write_throughput  # noqa: E402
from common.core.config import apply_preset  # noqa: E402
from common.core.runtime import cpu_count  # noqa: E402
from common.model.checkpoint import save_checkpoint  # noqa: E402
from common.model.frontend import FrontendConfig  # noqa: E402
from common.model.sed import ModelConfig, build_model  # noqa: E402
from common.stages.infer.config import InferConfig  # noqa: E402
from common.stages.infer.members import load_members  # noqa: E402
from common.stages.infer.predictor import EnsemblePredictor  # noqa: E402
from common.stages.infer.tta import fold_duplicate_views  # noqa: E402

SR = 32000


def write_soundscapes(folder: Path, n: int, seconds: int = 60) -> list[Path]:
    """Noise with a few tonal calls: decodes like a real OGG soundscape."""
    rng = np.random.default_rng(0)
    paths = []
    t = np.arange(seconds * SR) / SR
    for k in range(n):
        wave = 0.02 * rng.standard_normal(t.size)
        for start in rng.uniform(0, seconds - 1, size=20):
            mask = (t >= start) & (t < start + 0.4)
            wave[mask] += 0.2 * np.sin(2 * np.pi * rng.uniform(2000, 8000) * t[mask])
        path = folder / f"BC2026_Test_{k:04d}.ogg"
        sf.write(path, wave.astype(np.float32), SR)
        paths.append(path)
    return paths


def naive_seconds_per_pass(models, frontend_cfg: FrontendConfig, n_windows: int) -> float:
    """Per window: librosa log-mel, one model at a time, batch of 1, eager. Seconds per pass."""
    rng = np.random.default_rng(1)
    windows = (0.05 * rng.standard_normal((n_windows, frontend_cfg.clip_samples))).astype(
        np.float32)
    c = frontend_cfg
    start = time.perf_counter()
    with torch.inference_mode():
        for model in models:
            for w in windows:
                mel = librosa.feature.melspectrogram(
                    y=w, sr=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length,
                    n_mels=c.n_mels, fmin=c.f_min, fmax=c.f_max)
                db = librosa.power_to_db(mel, ref=1.0, top_db=c.top_db)
                db = (db - db.mean()) / (db.std() + 1e-6)
                model.forward_spec(torch.from_numpy(db)[None, None].float())
    return (time.perf_counter() - start) / (n_windows * len(models))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="tf_efficientnet_b0")
    p.add_argument("--n-mels", type=int, default=128)
    p.add_argument("--n-models", type=int, default=2, help="models built and run here")
    p.add_argument("--files", type=int, default=4, help="synthetic 60-s soundscapes")
    p.add_argument("--views", default="orig,reverse,gain_up,gain_down")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--graph", default="auto", choices=("auto", "trace", "eager"))
    p.add_argument("--channels-last", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="0 = every CPU")
    p.add_argument("--naive-windows", type=int, default=6)
    p.add_argument("--target-files", type=int, default=600)
    p.add_argument("--target-models", type=int, default=10)
    p.add_argument("--kaggle-cores", type=int, default=4)
    p.add_argument("--write-facts", action="store_true",
                   help="record the figures in common/budget/throughputs.json")
    p.add_argument("--backend", default=DEFAULT_BACKEND,
                   help="nb04's predict.backend to run and record the figures under")
    args = p.parse_args()

    threads = args.threads or cpu_count()
    torch.set_num_threads(threads)
    views = tuple(args.views.split(","))
    frontend_cfg = FrontendConfig(n_mels=args.n_mels)
    model_cfg = ModelConfig(backbone=args.backbone, pretrained=False)
    classes = [f"sp{k:03d}" for k in range(234)]
    cfg = dataclasses.replace(
        apply_preset(InferConfig, "default").predict, tta=views, batch_windows=args.batch,
        graph=args.graph, channels_last=bool(args.channels_last), time_budget_minutes=600.0,
        probe_files=10**6, threads=threads, backend=args.backend)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = write_soundscapes(tmp, args.files)
        ckpts = []
        for k in range(args.n_models):
            torch.manual_seed(k)
            model = build_model(model_cfg, frontend_cfg, len(classes))
            ckpts.append(save_checkpoint(tmp / f"m{k}.pt", model, classes=classes,
                                         model_cfg=model_cfg, frontend_cfg=frontend_cfg, fold=k,
                                         metrics={}, config={}))
        ckpt_mb = ckpts[0].stat().st_size / 1e6
        members = load_members(ckpts, classes)
        # Warm-up run on one file: compiling (trace + freeze, oneDNN primitives) is timed
        # separately, as nb04 pays it once per model, not per file.
        start = time.perf_counter()
        EnsemblePredictor(members, cfg, classes).predict(paths[:1])
        warm_seconds = time.perf_counter() - start
        predictor = EnsemblePredictor(members, cfg, classes)  # reuses the compiled runners
        start, cpu_start = time.perf_counter(), time.process_time()
        pred = predictor.predict(paths)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        naive = naive_seconds_per_pass([m.model for m in members[:1]], frontend_cfg,
                                       args.naive_windows)

    windows = sum(pred.n_windows)
    passes_per_model = len(fold_duplicate_views(views, frontend_cfg))
    model_passes = windows * args.n_models * passes_per_model
    rate = model_passes / seconds  # windows per second per model pass, everything included
    frames = 1 + frontend_cfg.clip_samples // frontend_cfg.hop_length
    runners = sorted({m.runner_kind for m in members})
    print(f"backbone {args.backbone}, input 1x{args.n_mels}x{frames}, {args.n_models} models, "
          f"views {views} -> {passes_per_model} passes per model, batch {args.batch}, "
          f"{threads} threads, runners: {runners}")
    print(f"nb04 path: {windows} windows x {args.n_models} models in {seconds:.1f} s "
          f"(+{warm_seconds:.1f} s warm-up/compile for {args.n_models} models)")
    print(f"  {rate:.1f} windows/s per model pass (decode, frontend and bookkeeping included)")
    # CPU seconds of every thread: a per-core speed that a loaded machine does not distort
    # (wall time there counts other processes' turns too).
    core_rate = model_passes / max(cpu_seconds, 1e-9)
    print(f"  {core_rate:.1f} window passes per CPU-second (one core's speed; "
          f"{cpu_seconds:.1f} CPU s, load average {os.getloadavg()[0]:.2f})")
    print(f"  model-only speed per runner: "
          f"{[round(1 / s, 1) for s in pred.member_seconds_per_window if s > 0]} windows/s")
    target_passes = args.target_files * 12 * args.target_models * passes_per_model
    compile_seconds = warm_seconds / args.n_models * args.target_models
    here = target_passes / rate + compile_seconds
    scaled = target_passes / (rate * args.kaggle_cores / threads) + compile_seconds
    print(f"projected: {args.target_files} files x {args.target_models} models x "
          f"{passes_per_model} passes = {target_passes} window passes")
    print(f"  at this machine's measured speed ({threads} threads): {here / 60:.1f} min")
    print(f"  on {args.kaggle_cores} cores assuming linear scaling with cores and equal per-core "
          f"speed: {scaled / 60:.1f} min (Kaggle cores are often slower per core: trust the "
          f"first figure when threads <= {args.kaggle_cores})")
    naive_rate = 1.0 / naive
    print(f"naive loop (librosa mel per window, one model, batch 1, eager): "
          f"{naive_rate:.1f} windows/s per model pass")
    print(f"  speed ratio per model pass: {rate / naive_rate:.1f}x; for the configured "
          f"ensemble ({len(views)} views, naive runs each): "
          f"{rate / naive_rate * len(views) / passes_per_model:.1f}x")
    if args.write_facts:
        command = "python " + " ".join(sys.argv)
        device = "cpu" if args.backend == DEFAULT_BACKEND else f"cpu_{args.backend}"
        load = round(os.getloadavg()[0], 2)
        write_throughput(f"infer.{device}.{args.backbone.split('.')[0]}", core_rate,
                         "window passes per CPU-second per model (one core), decode and "
                         "frontend included", command, threads=threads, load_average=load,
                         batch=args.batch, wall_rate=round(rate, 3))
        written = [f"infer.{device}"]
        if args.backend == DEFAULT_BACKEND:  # the planner's compile and size figures are torch's
            write_throughput("infer_compile.cpu", warm_seconds / args.n_models,
                             "wall s per model (load, trace, freeze, first file)", command,
                             threads=threads, load_average=load)
            write_throughput(f"checkpoint_mb.any.{args.backbone.split('.')[0]}",
                             ckpt_mb, "MB per checkpoint file", command)
            written.append("infer_compile.cpu")
        print(f"written to common/budget/throughputs.json ({', '.join(written)})")


if __name__ == "__main__":
    main()
