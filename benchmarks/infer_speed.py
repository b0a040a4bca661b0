"""How fast nb04 predicts per backend, how close that is to the CPU's limit, and whether the Kaggle
recipe fits the 90-minute CPU limit.

    python benchmarks/infer_speed.py --backends torch,onnxruntime,openvino [--int8 1]
        [--backbone tf_efficientnet_b0] [--n-models 2] [--files 4] [--threads 2]

Builds ``--n-models`` random-weight models (``pretrained=False``, nothing downloads) of one
backbone, writes ``--files`` synthetic 60-s soundscapes and runs nb04's code path on them
(``load_members`` + ``EnsemblePredictor.predict``: decode-ahead thread, shared spectrograms,
folded gain views) once per backend (``predict.backend``). Each measurement runs in a child
process twice: as the machine is, and with the instruction set capped to Kaggle's Skylake CPUs
(AVX-512 without VNNI, bf16 or AMX), because the environment variables that cap it are read
once when each library loads:

- torch / oneDNN: ``ONEDNN_MAX_CPU_ISA=AVX512_CORE`` (and MKL, which runs torch's matmuls:
  ``MKL_ENABLE_INSTRUCTIONS=AVX512``);
- OpenVINO: its CPU plugin's oneDNN reads the same ``ONEDNN_MAX_CPU_ISA``; its own kernels read
  ``OV_CPU_MAX_ISA``, honoured only by debug-caps builds until OpenVINO makes it a release
  option (set anyway);
- ONNX Runtime: MLAS picks kernels from CPUID with no runtime cap, so its capped figure is its
  native one (an int8 figure on a VNNI machine flatters it).

Printed per backend: windows/s per model pass through nb04's loop (decode and frontend
included), model-only windows/s, the ratio to torch, the max |logit difference| against PyTorch,
achieved GFLOP/s and fraction of the machine's peak (a large fp32 matmul on the same threads;
FLOPs per window counted by ``torch.utils.flop_counter``), and the projection for
``--target-files`` files x ``--target-models`` models x the views on ``--kaggle-cores`` cores.
With ``--int8 1``: ONNX Runtime static int8 calibrated on windows of half the soundscapes, its
speed-up and macro-AUC change on the other half's windows (labels: which frequency band holds a
call; with random weights the AUC itself is near 0.5, the *change* is the quantization's), and
the guard's verdict (its speeds are the interleaved best rounds; the verdict printed was taken
on a single timing, as nb04 takes it). Also the allocator before/after
(``predict.tune_malloc``, torch through nb04's loop, two child processes).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.core.config import apply_preset  # noqa: E402
from common.model.checkpoint import save_checkpoint  # noqa: E402
from common.model.frontend import Frontend, FrontendConfig  # noqa: E402
from common.model.sed import ModelConfig, build_model  # noqa: E402
from common.stages.infer.backends.allocator import tune_malloc  # noqa: E402
from common.stages.infer.backends.base import missing_reason, seconds_per_call  # noqa: E402
from common.stages.infer.config import InferConfig  # noqa: E402
from common.stages.infer.members import ClipLogits, load_members  # noqa: E402
from common.stages.infer.predictor import EnsemblePredictor  # noqa: E402
from common.stages.infer.tta import fold_duplicate_views  # noqa: E402

SR = 32000
BANDS = ((2000, 3500), (3500, 5000), (5000, 6500), (6500, 8000))  # the int8 check's "classes"
ISA_CAP = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "DNNL_MAX_CPU_ISA": "AVX512_CORE",
           "MKL_ENABLE_INSTRUCTIONS": "AVX512", "OV_CPU_MAX_ISA": "AVX512_CORE"}


def write_soundscapes(folder: Path, n: int, seconds: int = 60) -> tuple[list[Path], np.ndarray]:
    """Noise with tonal calls: ``(paths, labels (n * seconds/5, len(BANDS)))``, a label being
    'a call in this band overlaps this 5-s window'."""
    rng = np.random.default_rng(0)
    paths, labels = [], np.zeros((n * seconds // 5, len(BANDS)), int)
    t = np.arange(seconds * SR) / SR
    for k in range(n):
        wave = 0.02 * rng.standard_normal(t.size)
        for start in rng.uniform(0, seconds - 1, size=20):
            band = rng.integers(len(BANDS))
            mask = (t >= start) & (t < start + 0.4)
            wave[mask] += 0.2 * np.sin(2 * np.pi * rng.uniform(*BANDS[band]) * t[mask])
            labels[k * seconds // 5 + int(start // 5), band] = 1
        path = folder / f"BC2026_Test_{k:04d}.ogg"
        sf.write(path, wave.astype(np.float32), SR)
        paths.append(path)
    return paths, labels


def peak_gflops(threads: int, n: int = 2048, calls: int = 5) -> float:
    """The machine's fp32 peak as a large matmul reaches it on ``threads`` threads, GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(calls):
        torch.mm(a, b)
    return 2 * n**3 * calls / (time.perf_counter() - start) / 1e9


def flops_per_window(model: torch.nn.Module, spec: torch.Tensor) -> float:
    """FLOPs (2 per multiply-add) of one window's ``spec -> logits`` pass."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        ClipLogits(model).eval()(spec[:1].contiguous())
    return float(counter.get_total_flops())


def real_specs(paths: list[Path], frontend_cfg: FrontendConfig, batch: int) -> torch.Tensor:
    """Spectrograms ``(windows, 1, n_mels, frames)`` of every window of ``paths``."""
    waves = []
    for p in paths:
        wave, _ = sf.read(p, dtype="float32")
        waves.append(wave[: len(wave) // frontend_cfg.clip_samples * frontend_cfg.clip_samples]
                     .reshape(-1, frontend_cfg.clip_samples))
    with torch.no_grad():
        return Frontend(frontend_cfg).eval()(torch.from_numpy(np.concatenate(waves)))


def measure(args: argparse.Namespace) -> dict:
    """One child process: every backend through nb04's loop and alone, plus int8."""
    threads = args.threads
    torch.set_num_threads(threads)
    if args.malloc:
        tune_malloc()
    work = Path(args.work)
    meta = json.loads((work / "meta.json").read_text())
    paths, ckpts = [Path(p) for p in meta["paths"]], [Path(p) for p in meta["ckpts"]]
    classes, views = meta["classes"], tuple(args.views.split(","))
    base = dataclasses.replace(
        apply_preset(InferConfig, "default").predict, tta=views, batch_windows=args.batch,
        channels_last=True, time_budget_minutes=600.0, probe_files=10**6, threads=threads,
        tune_malloc=bool(args.malloc), export_dir=str(work / "exports"))
    specs = real_specs(paths, load_members(ckpts[:1], classes)[0].frontend_cfg, args.batch)
    batch = specs[:args.batch]
    out: dict = {"peak_gflops": peak_gflops(threads), "backends": {}}
    runners: dict = {}
    torch.set_num_threads(threads)
    for backend in args.backends.split(","):
        reason = missing_reason(backend)
        if reason:
            out["backends"][backend] = {"skipped": reason}
            continue
        members = load_members(ckpts, classes)
        cfg = dataclasses.replace(base, backend=backend)
        start = time.perf_counter()
        EnsemblePredictor(members, cfg, classes).predict(paths[:1])  # export, compile, warm up
        warm = time.perf_counter() - start
        start = time.perf_counter()
        pred = EnsemblePredictor(members, cfg, classes).predict(paths)
        seconds = time.perf_counter() - start
        passes = len(fold_duplicate_views(views, members[0].frontend_cfg))
        m = members[0]
        with torch.inference_mode():
            diff = max(float((mm.runner(batch) - ClipLogits(mm.model)(batch)).abs().max())
                       for mm in members)
        out["backends"][backend] = {
            "loop_rate": sum(pred.n_windows) * len(members) * passes / seconds,
            "max_diff": diff, "warm_seconds": warm / len(members), "passes": passes,
            "runner": m.runner_kind}
        runners[backend] = m.runner
        if backend == "onnxruntime" and args.int8:
            out["int8"] = measure_int8(m, specs, meta["labels"], threads, work, args)
            runners["onnxruntime int8"] = out["int8"].pop("runner")
    # Model-only speeds: the backends take turns, round after round, and each keeps its best
    # round, so a burst of load from other processes does not land on one backend only.
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, runner in runners.items():
            rate = len(batch) / seconds_per_call(runner, batch, calls=args.calls)
            best[name] = max(best.get(name, 0.0), rate)
    for name, rate in best.items():
        if name in out["backends"]:
            out["backends"][name]["model_rate"] = rate
    if "int8" in out:
        out["int8"]["rate32"], out["int8"]["rate8"] = best["onnxruntime"], best["onnxruntime int8"]
    out["flops_per_window"] = flops_per_window(members[0].model, batch)
    return out


def measure_int8(member, specs: torch.Tensor, labels: list, threads: int, work: Path,
                 args: argparse.Namespace) -> dict:
    """ONNX Runtime int8 of ``member``: speed, macro-AUC change, the guard's verdict."""
    from common.stages.infer.backends.int8 import int8_verdict
    from common.stages.infer.backends.onnx_backend import OrtRunner, quantize_int8

    half = len(specs) // 2
    fp32 = member.runner
    int8_path = quantize_int8(fp32.path, specs[:half].numpy(),
                              fp32.path.with_suffix(".int8.onnx"))
    int8 = OrtRunner(int8_path, threads)
    batch = specs[:args.batch]
    rate32 = len(batch) / seconds_per_call(fp32, batch, calls=args.calls)
    rate8 = len(batch) / seconds_per_call(int8, batch, calls=args.calls)
    val, y = specs[half:], np.asarray(labels)[half:]
    with torch.inference_mode():
        s32 = torch.cat([fp32(val[i:i + 12]) for i in range(0, len(val), 12)]).numpy()
        s8 = torch.cat([int8(val[i:i + 12]) for i in range(0, len(val), 12)]).numpy()
    verdict = int8_verdict(y, s32[:, :len(BANDS)], s8[:, :len(BANDS)], rate32, rate8,
                           args.int8_max_auc_drop)
    return {"rate32": rate32, "rate8": rate8, "auc32": verdict.auc_fp32,
            "auc8": verdict.auc_int8, "accepted": verdict.accepted, "reason": verdict.reason,
            "max_diff": float(np.abs(s32 - s8).max()), "runner": int8}


def child(args: argparse.Namespace, env: dict[str, str], **changes) -> dict:
    """Run :func:`measure` in a fresh process (library ISA settings are read at load time)."""
    argv = [sys.executable, __file__, "--child", "1"]
    for key, value in {**vars(args), **changes}.items():
        if key != "child":
            argv += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(label: str, res: dict, args: argparse.Namespace, views: tuple[str, ...]) -> None:
    """Print one environment's table and projections."""
    peak, flops = res["peak_gflops"], res["flops_per_window"]
    print(f"\n[{label}] peak {peak:.0f} GFLOP/s (fp32 matmul, {args.threads} threads); "
          f"{flops / 1e9:.2f} GFLOP per window")
    torch_rate = res["backends"].get("torch", {}).get("loop_rate")
    torch_model = res["backends"].get("torch", {}).get("model_rate")
    print(f"  {'backend':12s} {'loop w/s':>9s} {'x torch':>7s} {'model w/s':>9s} {'x torch':>7s} "
          f"{'max|dlogit|':>11s} {'GFLOP/s':>8s} {'of peak':>7s} {'proj here':>9s} "
          f"{'proj 4c':>8s}")
    for name, b in res["backends"].items():
        if "skipped" in b:
            print(f"  {name:12s} skipped: {b['skipped']}")
            continue
        achieved = b["model_rate"] * flops / 1e9
        total = args.target_files * 12 * args.target_models * b["passes"]
        compile_s = b["warm_seconds"] * args.target_models
        here = (total / b["loop_rate"] + compile_s) / 60
        scaled = (total / (b["loop_rate"] * args.kaggle_cores / args.threads) + compile_s) / 60
        ratio = b["loop_rate"] / torch_rate if torch_rate else float("nan")
        model_ratio = b["model_rate"] / torch_model if torch_model else float("nan")
        print(f"  {name:12s} {b['loop_rate']:9.1f} {ratio:7.2f} {b['model_rate']:9.1f} "
              f"{model_ratio:7.2f} "
              f"{b['max_diff']:11.1e} {achieved:8.1f} {achieved / peak:7.1%} {here:8.1f}m "
              f"{scaled:7.1f}m")
    if "int8" in res:
        q = res["int8"]
        print(f"  onnxruntime int8: model {q['rate8']:.1f} vs fp32 {q['rate32']:.1f} w/s "
              f"({q['rate8'] / q['rate32']:.2f}x), max|dlogit| {q['max_diff']:.2e}, macro-AUC "
              f"{q['auc32']:.4f} -> {q['auc8']:.4f} ({q['auc8'] - q['auc32']:+.4f}); guard: "
              f"{'used' if q['accepted'] else 'refused'} ({q['reason']})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="torch,onnxruntime,openvino")
    p.add_argument("--backbone", default="tf_efficientnet_b0")
    p.add_argument("--n-mels", type=int, default=128)
    p.add_argument("--n-models", type=int, default=2, help="models built and run here")
    p.add_argument("--files", type=int, default=4, help="synthetic 60-s soundscapes")
    p.add_argument("--views", default="orig,reverse,gain_up,gain_down")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=3, help="timed calls per model-only round")
    p.add_argument("--rounds", type=int, default=5, help="model-only rounds, best one kept")
    p.add_argument("--int8", type=int, default=1)
    p.add_argument("--int8-max-auc-drop", type=float, default=0.002)
    p.add_argument("--malloc", type=int, default=1, help="tune glibc malloc (child runs)")
    p.add_argument("--compare-malloc", type=int, default=2,
                   help="untuned/tuned torch child pairs for the allocator figure (0 = none)")
    p.add_argument("--target-files", type=int, default=600)
    p.add_argument("--target-models", type=int, default=10)
    p.add_argument("--kaggle-cores", type=int, default=4)
    p.add_argument("--work", default="")
    p.add_argument("--child", type=int, default=0)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return

    views = tuple(args.views.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        frontend_cfg = FrontendConfig(n_mels=args.n_mels)
        model_cfg = ModelConfig(backbone=args.backbone)
        classes = [f"sp{k:03d}" for k in range(234)]
        paths, labels = write_soundscapes(work, args.files)
        ckpts = []
        for k in range(args.n_models):
            torch.manual_seed(k)
            model = build_model(model_cfg, frontend_cfg, len(classes))
            ckpts.append(save_checkpoint(work / f"m{k}.pt", model, classes=classes,
                                         model_cfg=model_cfg, frontend_cfg=frontend_cfg,
                                         fold=k, metrics={}, config={}))
        (work / "meta.json").write_text(json.dumps({
            "paths": [str(x) for x in paths], "ckpts": [str(x) for x in ckpts],
            "classes": classes, "labels": labels.tolist()}))
        args.work = str(work)
        load = os.getloadavg()
        native = child(args, {})
        capped = child(args, ISA_CAP)
        # Allocator before/after: torch only, untuned and tuned children taking turns
        # (``--compare-malloc`` pairs), best of each, so a change in load does not decide it.
        pairs = [(child(args, {}, malloc=0, backends="torch", int8=0, rounds=1),
                  child(args, {}, malloc=1, backends="torch", int8=0, rounds=1))
                 for _ in range(args.compare_malloc)]
        load_after = os.getloadavg()
    frames = 1 + frontend_cfg.clip_samples // frontend_cfg.hop_length
    runners = [b["runner"] for b in native["backends"].values() if "runner" in b]
    print(f"backbone {args.backbone}, input 1x{args.n_mels}x{frames}, {args.n_models} models, "
          f"views {views}, batch {args.batch}, {args.threads} threads; load average "
          f"{load[0]:.2f} before, {load_after[0]:.2f} after ({os.cpu_count()} CPUs); "
          f"runners: {runners}")
    report("native ISA", native, args, views)
    cap = ", ".join(f"{k}={v}" for k, v in ISA_CAP.items())
    report(f"ISA capped to Kaggle's ({cap})", capped, args, views)
    if pairs:
        before = max(u["backends"]["torch"]["loop_rate"] for u, _ in pairs)
        after = max(t["backends"]["torch"]["loop_rate"] for _, t in pairs)
        print(f"\nallocator (torch, nb04 loop, best of {len(pairs)} alternating pairs): glibc "
              f"default {before:.1f} w/s -> mallopt-tuned {after:.1f} w/s ({after / before:.2f}x)")
    rates = {k: v["loop_rate"] for k, v in capped["backends"].items() if "loop_rate" in v}
    if rates:
        best = max(rates, key=rates.get)
        ratio = rates[best] / rates.get("torch", np.nan)
        model = {k: v["model_rate"] for k, v in capped["backends"].items() if "model_rate" in v}
        print(f"best with the ISA capped: {best}, {ratio:.2f}x torch through nb04's loop, "
              f"{model[best] / model.get('torch', np.nan):.2f}x model-only (projections use the "
              f"loop figure)")


if __name__ == "__main__":
    main()
