"""How fast nb04 predicts, and whether the Kaggle recipe fits the 90-minute CPU limit.

    python benchmarks/infer_throughput.py [--backbone tf_efficientnet_b0] [--n-models 2] [--files 4]
        [--backend torch|onnxruntime|openvino] [--int8] [--isa kaggle|native] [--write-facts]

Builds an ensemble of ``--n-models`` random-weight models (``pretrained=False``, nothing
downloads) of one backbone and frontend, writes ``--files`` synthetic 60-s soundscapes, and runs
nb04's code path on them (``load_members`` + ``EnsemblePredictor.predict``: decode-ahead
thread, shared spectrograms, traced/frozen channels-last graphs, folded gain views). With
``--int8`` every member runs its int8 model (ONNX Runtime or OpenVINO, calibrated on windows of
the soundscapes; the quality guard is ``benchmarks/int8_demo.py``'s job, on trained weights).
By default (``--isa kaggle``) the run re-executes itself with the instruction set capped to
Kaggle's Skylake CPUs (``benchmarks/infer_common.py``). Then:

- windows per second per model pass (one model, one view, one 5-s window), and its split into
  the model pass (per member) and the decoding + frontend that every member shares;
- the projected wall time of ``--target-files`` files x ``--target-models`` models x the
  configured views on a ``--kaggle-cores`` CPU, shared work counted once, with the scaling
  assumption printed;
- the speed ratio against a naive loop measured in the same run: per window, librosa mel, one
  model at a time, batch of 1, eager.

Prints figures; asserts nothing. ``--write-facts`` records in ``common/budget/throughputs.json``
the model pass alone (``infer.cpu.<backbone>``; another backend: ``infer.cpu_<NAME>.<backbone>``;
int8: ``infer.cpu_<NAME>_int8.<backbone>``, with the correction of
:func:`infer_common.kaggle_int8_rate` where the ISA cap does not reach) and the shared decoding
+ frontend (``infer_shared.cpu``), both as window passes per CPU-second (one core's speed,
robust to a loaded machine), and with torch the load/compile time per model
(``infer_compile.cpu``) and the checkpoint size (``checkpoint_mb.any.<backbone>``): the figures
nb04's budget and the planner project from. ``benchmarks/infer_speed.py`` compares the
backends against each other in one run (ratios, roofline, ISA cap); this script measures the
one nb04 will use, per core, for the planner.
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

from infer_common import ISA_CAP, has_vnni, isa_capped, kaggle_int8_rate  # noqa: E402
from infer_common import write_soundscapes as write_labelled_soundscapes  # noqa: E402

from common.budget.facts import DEFAULT_BACKEND, write_throughput  # noqa: E402
from common.core.config import apply_preset  # noqa: E402
from common.core.runtime import cpu_count  # noqa: E402
from common.model.checkpoint import save_checkpoint  # noqa: E402
from common.model.frontend import Frontend, FrontendConfig  # noqa: E402
from common.model.sed import ModelConfig, build_model  # noqa: E402
from common.stages.infer.config import InferConfig  # noqa: E402
from common.stages.infer.members import load_members  # noqa: E402
from common.stages.infer.predictor import EnsemblePredictor  # noqa: E402
from common.stages.infer.tta import fold_duplicate_views  # noqa: E402


def cpu_seconds_per_window(runner, spec: torch.Tensor, calls: int = 3) -> float:
    """CPU seconds (every thread of this process) per window of ``runner`` on ``spec``
    ``(batch, 1, n_mels, frames)``, after one warm-up call."""
    with torch.inference_mode():
        runner(spec)
        start = time.process_time()
        for _ in range(calls):
            runner(spec)
    return (time.process_time() - start) / (calls * len(spec))


def use_int8(members, backend: str, specs: torch.Tensor, threads: int, batch: int) -> dict:
    """Give every member its int8 runner on ``backend``; returns ``{member name: fp32
    runner}`` (exports and int8 models cached next to the checkpoints)."""
    from common.stages.infer.backends.int8 import quantized_runner
    from common.stages.infer.backends.select import export_runner

    fp32 = {}
    for m in members:
        fp32[m.name], _ = export_runner(m, backend, specs[:batch], threads, 1e-3,
                                        m.path.parent)
        m.runner = quantized_runner(backend, fp32[m.name].path, specs.numpy(), threads, batch)
        m.runner_kind = f"{backend} int8, {threads} threads"
    return fp32


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
    p.add_argument("--int8", action="store_true",
                   help="every member runs its int8 model (--backend onnxruntime or openvino)")
    p.add_argument("--isa", default="kaggle", choices=("kaggle", "native"),
                   help="kaggle: cap the instruction set to Kaggle's CPU (re-executes itself)")
    args = p.parse_args()
    if args.int8 and args.backend not in ("onnxruntime", "openvino"):
        p.error("--int8 runs on --backend onnxruntime or openvino")
    if args.isa == "kaggle" and not isa_capped():
        # The libraries read the cap once, when they load: a fresh process with it set.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ISA_CAP})

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
        paths, _ = write_labelled_soundscapes(tmp, args.files)
        ckpts = []
        for k in range(args.n_models):
            torch.manual_seed(k)
            model = build_model(model_cfg, frontend_cfg, len(classes))
            ckpts.append(save_checkpoint(tmp / f"m{k}.pt", model, classes=classes,
                                         model_cfg=model_cfg, frontend_cfg=frontend_cfg, fold=k,
                                         metrics={}, config={}))
        ckpt_mb = ckpts[0].stat().st_size / 1e6
        members = load_members(ckpts, classes)
        wave, _ = sf.read(paths[0], dtype="float32")
        with torch.inference_mode():
            specs = Frontend(frontend_cfg).eval()(torch.from_numpy(
                wave[:len(wave) // frontend_cfg.clip_samples * frontend_cfg.clip_samples]
                .reshape(-1, frontend_cfg.clip_samples)))
        # Warm-up run on one file: compiling (trace + freeze, oneDNN primitives; int8: the
        # quantization too) is timed separately, as nb04 pays it once per model, not per file.
        start = time.perf_counter()
        fp32 = use_int8(members, args.backend, specs, threads, args.batch) if args.int8 else {}
        EnsemblePredictor(members, cfg, classes).predict(paths[:1])
        warm_seconds = time.perf_counter() - start
        predictor = EnsemblePredictor(members, cfg, classes)  # reuses the compiled runners
        start, cpu_start = time.perf_counter(), time.process_time()
        pred = predictor.predict(paths)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        batch = specs[:args.batch]
        model_cpu = cpu_seconds_per_window(members[0].runner, batch)
        fp32_cpu = cpu_seconds_per_window(fp32[members[0].name], batch) if fp32 else model_cpu
        naive = naive_seconds_per_pass([m.model for m in members[:1]], frontend_cfg,
                                       args.naive_windows)

    windows = sum(pred.n_windows)
    passes_per_model = len(fold_duplicate_views(views, frontend_cfg))
    window_passes = windows * passes_per_model  # per member
    model_passes = window_passes * args.n_models
    rate = model_passes / seconds  # windows per second per model pass, everything included
    frames = 1 + frontend_cfg.clip_samples // frontend_cfg.hop_length
    runners = sorted({m.runner_kind for m in members})
    load = round(os.getloadavg()[0], 2)
    print(f"backbone {args.backbone}, input 1x{args.n_mels}x{frames}, {args.n_models} models, "
          f"views {views} -> {passes_per_model} passes per model, batch {args.batch}, "
          f"{threads} threads, ISA {'capped to Kaggle' if isa_capped() else 'native'}, "
          f"runners: {runners}")
    print(f"nb04 path: {windows} windows x {args.n_models} models in {seconds:.1f} s "
          f"(+{warm_seconds:.1f} s warm-up/compile for {args.n_models} models)")
    print(f"  {rate:.1f} windows/s per model pass (decode, frontend and bookkeeping included)")
    # CPU seconds of every thread: a per-core speed that a loaded machine does not distort
    # (wall time there counts other processes' turns too). The model pass alone is timed on a
    # batch; the rest of the loop's CPU time is the decoding + frontend every member shares.
    model_rate = 1 / model_cpu
    if args.int8:
        model_rate, why = kaggle_int8_rate(args.backend, 1 / model_cpu, 1 / fp32_cpu,
                                           isa_capped(), has_vnni())
        print(f"  int8 model pass {1 / model_cpu:.1f} vs fp32 {1 / fp32_cpu:.1f} window passes "
              f"per CPU-second; for Kaggle: {model_rate:.1f} ({why})")
    shared_cpu = max(cpu_seconds - model_passes * model_cpu, 0.05 * cpu_seconds)
    shared_rate = window_passes / shared_cpu
    print(f"  per CPU-second (one core; {cpu_seconds:.1f} CPU s, load average {load:.2f}): "
          f"model pass {model_rate:.1f} window passes; shared decode + frontend "
          f"{shared_rate:.1f} window passes ({100 * shared_cpu / cpu_seconds:.0f}% of the loop's "
          f"CPU time with {args.n_models} models)")
    print(f"  model-only speed per runner: "
          f"{[round(1 / s, 1) for s in pred.member_seconds_per_window if s > 0]} windows/s")
    target_passes = args.target_files * 12 * passes_per_model
    compile_seconds = warm_seconds / args.n_models * args.target_models
    # CPU work spread over the threads: what the run takes when it has its cores (on a shared
    # machine the wall figures above also count other processes' turns).
    work_seconds = target_passes * (1 / shared_rate + args.target_models / model_rate)
    here = work_seconds / threads + compile_seconds
    scaled = work_seconds / args.kaggle_cores + compile_seconds
    print(f"projected: {args.target_files} files x {args.target_models} models x "
          f"{passes_per_model} passes = {target_passes * args.target_models} window passes; "
          f"decode + frontend once per window pass ({target_passes}), not per model")
    print(f"  at this machine's per-core speed on {threads} threads, if it has them "
          f"({cpu_seconds / seconds:.2f} CPU-s per wall s in this run): {here / 60:.1f} min")
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
        if isa_capped():
            command = "ONEDNN_MAX_CPU_ISA=AVX512_CORE (--isa kaggle) " + command
        name = args.backend + ("_int8" if args.int8 else "")
        device = "cpu" if name == DEFAULT_BACKEND else f"cpu_{name}"
        bb = args.backbone.split(".")[0]
        extra = {"threads": threads, "load_average": load, "batch": args.batch,
                 "isa": "capped to AVX512_CORE" if isa_capped() else "native",
                 "wall_rate_with_shared": round(rate, 3)}
        if args.int8:
            extra.update(measured_int8=round(1 / model_cpu, 3), fp32=round(1 / fp32_cpu, 3),
                         correction=why)
        write_throughput(f"infer.{device}.{bb}", model_rate,
                         "window passes per CPU-second per model (one core), the model pass "
                         "alone (decoding + frontend: infer_shared)", command, **extra)
        write_throughput("infer_shared.cpu", shared_rate,
                         "window passes per CPU-second (one core) of decoding + frontend, "
                         "shared by every member", command, threads=threads, load_average=load,
                         n_models=args.n_models, backend=name)
        written = [f"infer.{device}", "infer_shared.cpu"]
        if name == DEFAULT_BACKEND:  # the planner's compile and size figures are torch's
            write_throughput("infer_compile.cpu", warm_seconds / args.n_models,
                             "wall s per model (load, trace, freeze, first file)", command,
                             threads=threads, load_average=load)
            write_throughput(f"checkpoint_mb.any.{bb}", ckpt_mb, "MB per checkpoint file",
                             command)
            written.append("infer_compile.cpu")
        print(f"written to common/budget/throughputs.json ({', '.join(written)})")


if __name__ == "__main__":
    main()
