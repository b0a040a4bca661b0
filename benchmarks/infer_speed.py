"""How fast nb04 predicts per backend, how close that is to the CPU's limit, and whether the Kaggle
recipe fits the 90-minute CPU limit.

    python benchmarks/infer_speed.py --backends torch,onnxruntime,openvino [--int8 1]
        [--backbone tf_efficientnet_b0] [--n-models 1] [--files 2] [--threads 2]

Builds ``--n-models`` random-weight models (``pretrained=False``, nothing downloads) of one
backbone, writes ``--files`` synthetic 60-s soundscapes and runs nb04's code path on them
(``load_members`` + ``EnsemblePredictor.predict``: decode-ahead thread, shared spectrograms,
folded gain views) once per backend (``predict.backend``), and once more per int8 model
(``--int8 1``: ONNX Runtime's QDQ and OpenVINO's NNCF int8, calibrated on windows of half the
soundscapes, each member's runner replaced by its int8 one). Each measurement runs in a child
process twice: as the machine is, and with the instruction set capped to Kaggle's Skylake CPUs
(AVX-512 without VNNI, bf16 or AMX), because the environment variables that cap it are read
once when each library loads; what the cap reaches per backend, and the correction applied
where it does not reach, are in ``benchmarks/infer_common.py`` and printed with the figures.

Printed per backend (and int8 model): windows/s per model pass through nb04's loop (decode and
frontend included, shared by the members), model-only windows/s (the backends take turns,
best round kept), its ratio to torch, the max |logit difference| against PyTorch (int8:
against its fp32 model), achieved GFLOP/s and fraction of the machine's peak (a large fp32
matmul on the same threads; FLOPs per window counted by ``torch.utils.flop_counter``), and the
recipe's projection: ``--target-files`` files x ``--target-models`` models x the views' passes,
with decoding + frontend counted once per window and pass (measured in the loop: its time less
the model passes) and the model pass once per member, here and scaled to ``--kaggle-cores``.
int8 rows also show the macro-AUC change on the other half's windows (labels: which frequency
band holds a call; with random weights the AUC itself is near 0.5, the *change* is the
quantization's) and the guard's verdict. Also the allocator before/after (torch through nb04's
loop: glibc default, ``predict.tune_malloc``, and jemalloc by ``LD_PRELOAD`` when installed).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infer_common import (  # noqa: E402
    BANDS,
    CAP_REACHES,
    ISA_CAP,
    has_vnni,
    isa_capped,
    kaggle_int8_rate,
    recipe_seconds,
    write_soundscapes,
)

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

JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")  # Debian's libjemalloc2


def peak_gflops(threads: int, n: int = 2048, calls: int = 3, rounds: int = 5) -> float:
    """The machine's fp32 peak as a large matmul reaches it on ``threads`` threads, GFLOP/s
    (best of ``rounds`` rounds of ``calls`` calls: a burst of other load lowers a round, never
    raises it, and an understated peak would flatter every "of peak" figure)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        best = max(best, 2 * n**3 * calls / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_window(model: torch.nn.Module, spec: torch.Tensor) -> float:
    """FLOPs (2 per multiply-add) of one window's ``spec -> logits`` pass."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        ClipLogits(model).eval()(spec[:1].contiguous())
    return float(counter.get_total_flops())


def real_specs(paths: list[Path], frontend_cfg: FrontendConfig) -> torch.Tensor:
    """Spectrograms ``(windows, 1, n_mels, frames)`` of every window of ``paths``."""
    waves = []
    for p in paths:
        wave, _ = sf.read(p, dtype="float32")
        waves.append(wave[: len(wave) // frontend_cfg.clip_samples * frontend_cfg.clip_samples]
                     .reshape(-1, frontend_cfg.clip_samples))
    with torch.no_grad():
        return Frontend(frontend_cfg).eval()(torch.from_numpy(np.concatenate(waves)))


def run_loop(members, cfg, classes, paths, views) -> dict:
    """nb04's loop over ``paths`` (runners already built): window passes per second per model,
    and its split into the model passes and the decoding + frontend the members share."""
    start = time.perf_counter()
    pred = EnsemblePredictor(members, cfg, classes).predict(paths)
    seconds = time.perf_counter() - start
    passes = len(fold_duplicate_views(views, members[0].frontend_cfg))
    window_passes = sum(pred.n_windows) * passes  # per member
    model_seconds = sum(pred.member_seconds_per_window) * window_passes
    return {"loop_rate": window_passes * len(members) / seconds, "passes": passes,
            "loop_model_rate": len(members) / sum(pred.member_seconds_per_window),
            "shared_seconds": max(0.0, seconds - model_seconds) / window_passes}


def measure(args: argparse.Namespace) -> dict:
    """One child process: every backend through nb04's loop and alone, and the int8 models."""
    from common.stages.infer.backends.int8 import int8_verdict, quantized_runner
    from common.stages.infer.backends.select import export_runner

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
    specs = real_specs(paths, load_members(ckpts[:1], classes)[0].frontend_cfg)
    batch, half = specs[:args.batch], len(specs) // 2
    labels = np.asarray(meta["labels"])
    out: dict = {"peak_gflops": peak_gflops(threads), "backends": {}, "capped": isa_capped(),
                 "vnni": has_vnni()}
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
        row = run_loop(members, cfg, classes, paths, views)
        with torch.inference_mode():
            row["max_diff"] = max(float((m.runner(batch) - ClipLogits(m.model)(batch)).abs().max())
                                  for m in members)
        row.update(warm_seconds=warm / len(members), runner=members[0].runner_kind)
        out["backends"][backend] = row
        runners[backend] = members[0].runner
        if not (args.int8 and backend in ("onnxruntime", "openvino")):
            continue
        name = f"{backend} int8"
        start = time.perf_counter()
        for m in members:  # fp32 exports are cached: this quantizes (also cached) and compiles
            fp32, _ = export_runner(m, backend, batch, threads, cfg.backend_tolerance,
                                    cfg.export_dir)
            m.runner = quantized_runner(backend, fp32.path, specs[:half].numpy(), threads,
                                        args.batch)
            m.runner_kind = name
        # Compiled on first use, as the fp32 runners were in the warm-up: one file first, so
        # the loop below times predictions, not compilation.
        EnsemblePredictor(members, cfg, classes).predict(paths[:1])
        int8_warm = (time.perf_counter() - start) / len(members) + warm / len(members)
        row8 = run_loop(members, cfg, classes, paths, views)
        fp32 = runners[backend]
        with torch.inference_mode():
            val = specs[half:]
            s32 = torch.cat([fp32(val[i:i + 12]) for i in range(0, len(val), 12)]).numpy()
            s8 = torch.cat([members[0].runner(val[i:i + 12])
                            for i in range(0, len(val), 12)]).numpy()
        rate32 = len(batch) / seconds_per_call(fp32, batch, calls=args.calls)
        rate8 = len(batch) / seconds_per_call(members[0].runner, batch, calls=args.calls)
        verdict = int8_verdict(labels[half:], s32[:, :len(BANDS)], s8[:, :len(BANDS)], rate32,
                               rate8, args.int8_max_auc_drop, name)
        row8.update(max_diff=float(np.abs(s32 - s8).max()), warm_seconds=int8_warm,
                    runner=name, auc32=verdict.auc_fp32, auc8=verdict.auc_int8,
                    accepted=verdict.accepted, reason=verdict.reason)
        out["backends"][name] = row8
        runners[name] = members[0].runner
    # Model-only speeds: the backends take turns, round after round, and each keeps its best
    # round, so a burst of load from other processes does not land on one backend only.
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, runner in runners.items():
            rate = len(batch) / seconds_per_call(runner, batch, calls=args.calls)
            best[name] = max(best.get(name, 0.0), rate)
    for name, rate in best.items():
        out["backends"][name]["model_rate"] = rate
    out["flops_per_window"] = flops_per_window(load_members(ckpts[:1], classes)[0].model, batch)
    return out


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


def kaggle_model_rate(name: str, b: dict, res: dict) -> tuple[float, str]:
    """The model-only windows/s to project for row ``name`` on Kaggle's CPU, and why."""
    if not name.endswith(" int8"):
        return b["model_rate"], ""
    backend = name.removesuffix(" int8")
    return kaggle_int8_rate(backend, b["model_rate"], res["backends"][backend]["model_rate"],
                            res["capped"], res["vnni"])


def recipe_minutes(args, res: dict, name: str, b: dict, shared: float, cores: int) -> float:
    """The recipe on ``cores`` cores (linear scaling from ``args.threads``), minutes."""
    rate, _ = kaggle_model_rate(name, b, res)
    scale = cores / args.threads
    return recipe_seconds(args.target_files, 12, b["passes"], args.target_models,
                          shared / scale, 1 / (rate * scale),
                          b["warm_seconds"]) / 60


def shared_seconds(res: dict) -> float:
    """Decode + frontend seconds per window pass: one figure for every row, since they are the
    same torch code whatever runs the models (the median over the loops, so one noisy loop does
    not decide)."""
    rows = [b["shared_seconds"] for b in res["backends"].values() if "skipped" not in b]
    return statistics.median(rows) if rows else 0.0


def report(label: str, res: dict, args: argparse.Namespace) -> dict[str, float]:
    """Print one environment's table; returns the recipe minutes here per row."""
    peak, flops = res["peak_gflops"], res["flops_per_window"]
    rows = {k: v for k, v in res["backends"].items() if "skipped" not in v}
    shared = shared_seconds(res)
    print(f"\n[{label}] peak {peak:.0f} GFLOP/s (fp32 matmul, {args.threads} threads); "
          f"{flops / 1e9:.2f} GFLOP per window; VNNI on this CPU: {res['vnni']}; shared "
          f"decode + frontend {1e3 * shared:.2f} ms per window pass (median over the loops)")
    torch_row = rows.get("torch", {})
    print(f"  {'backend':16s} {'loop w/s':>8s} {'model w/s':>9s} {'x torch':>7s} "
          f"{'max|dlogit|':>11s} {'GFLOP/s':>7s} {'of peak':>7s} {'recipe':>7s} {'x torch':>7s} "
          f"{'on ' + str(args.kaggle_cores) + 'c':>7s}")
    here: dict[str, float] = {}
    for name, b in res["backends"].items():
        if "skipped" in b:
            print(f"  {name:16s} skipped: {b['skipped']}")
            continue
        achieved = b["model_rate"] * flops / 1e9
        here[name] = recipe_minutes(args, res, name, b, shared, args.threads)
        scaled = recipe_minutes(args, res, name, b, shared, args.kaggle_cores)
        ratio = b["model_rate"] / torch_row["model_rate"] if torch_row else float("nan")
        print(f"  {name:16s} {b['loop_rate']:8.1f} {b['model_rate']:9.1f} {ratio:7.2f} "
              f"{b['max_diff']:11.1e} {achieved:7.1f} {achieved / peak:7.1%} "
              f"{here[name]:6.1f}m {here.get('torch', np.nan) / here[name]:6.2f}x "
              f"{scaled:6.1f}m")
    for name, b in rows.items():
        if name.endswith(" int8"):
            _, why = kaggle_model_rate(name, b, res)
            print(f"  {name}: macro-AUC {b['auc32']:.4f} -> {b['auc8']:.4f} "
                  f"({b['auc8'] - b['auc32']:+.4f}); guard: "
                  f"{'used' if b['accepted'] else 'refused'} ({b['reason']}); projected: {why}")
    return here


def allocator_line(pairs: list[tuple[dict, ...]]) -> str:
    """glibc default / mallopt-tuned / jemalloc loop speeds, best of each."""
    names = ("glibc default", "mallopt-tuned", "jemalloc (LD_PRELOAD)")
    best = [max(p[k]["backends"]["torch"]["loop_rate"] for p in pairs)
            for k in range(len(pairs[0]))]
    parts = [f"{n} {b:.1f} w/s ({b / best[0]:.2f}x)" for n, b in zip(names, best)]
    return (f"allocator (torch, nb04 loop, best of {len(pairs)} alternating rounds): "
            + ", ".join(parts))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="torch,onnxruntime,openvino")
    p.add_argument("--backbone", default="tf_efficientnet_b0")
    p.add_argument("--n-mels", type=int, default=128)
    p.add_argument("--n-models", type=int, default=1, help="models built and run here")
    p.add_argument("--files", type=int, default=2, help="synthetic 60-s soundscapes")
    p.add_argument("--views", default="orig,reverse,gain_up,gain_down")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=3, help="timed calls per model-only round")
    p.add_argument("--rounds", type=int, default=5, help="model-only rounds, best one kept")
    p.add_argument("--int8", type=int, default=1, help="also the int8 models (ORT, OpenVINO)")
    p.add_argument("--int8-max-auc-drop", type=float, default=0.002)
    p.add_argument("--malloc", type=int, default=1, help="tune glibc malloc (child runs)")
    p.add_argument("--compare-malloc", type=int, default=2,
                   help="rounds of allocator children (default, tuned, jemalloc) (0 = none)")
    p.add_argument("--isa", default="native,capped",
                   help="'capped' alone skips the native run (the capped one always runs)")
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
        model_cfg = ModelConfig(backbone=args.backbone, pretrained=False)
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
        native = child(args, {}) if "native" in args.isa else None
        capped = child(args, ISA_CAP)
        load_after = os.getloadavg()
        frames = 1 + frontend_cfg.clip_samples // frontend_cfg.hop_length
        passes = len(fold_duplicate_views(views, frontend_cfg))
        print(f"backbone {args.backbone}, input 1x{args.n_mels}x{frames}, {args.n_models} "
              f"models, views {views} ({passes} passes), batch {args.batch}, {args.threads} "
              f"threads; load average {load[0]:.2f} before, {load_after[0]:.2f} after "
              f"({os.cpu_count()} CPUs); recipe = {args.target_files} files x 12 windows x "
              f"{args.target_models} models x {passes} passes, decode + frontend once per window "
              f"pass")
        if native is not None:
            report("native ISA", native, args)
        cap = ", ".join(f"{k}={v}" for k, v in ISA_CAP.items())
        minutes = report(f"ISA capped to Kaggle's ({cap})", capped, args)
        print("  what the cap reaches: " + "; ".join(f"{k} {v}" for k, v in CAP_REACHES.items()))
        summary(args, capped, minutes)
        sys.stdout.flush()
        # Allocator before/after: torch only, the children taking turns (``--compare-malloc``
        # rounds), best of each, so a change in load does not decide it.
        torch_only = {"backends": "torch", "int8": 0, "rounds": 1}

        def allocator_round() -> tuple[dict, ...]:
            runs = [child(args, {}, malloc=0, **torch_only),
                    child(args, {}, malloc=1, **torch_only)]
            if JEMALLOC.is_file():  # jemalloc replaces glibc's malloc: no mallopt on top
                runs.append(child(args, {"LD_PRELOAD": str(JEMALLOC)}, malloc=0, **torch_only))
            return tuple(runs)

        pairs = [allocator_round() for _ in range(args.compare_malloc)]
    if pairs:
        print(f"\n{allocator_line(pairs)}; load average {os.getloadavg()[0]:.2f}")


def summary(args: argparse.Namespace, capped: dict, minutes: dict[str, float]) -> None:
    """The targets' lines, ISA capped: the fastest model pass and the recipe against torch among
    the rows nb04 would run (an int8 model its guard refused is not one), and the recipe's
    fp32 roofline bound (every model pass at the matmul peak, decode + frontend as measured),
    which says whether a target is within reach of fp32 at all."""
    usable = {k: v for k, v in capped["backends"].items()
              if "model_rate" in v and v.get("accepted", True)}
    minutes = {k: m for k, m in minutes.items() if k in usable}
    if "torch" not in usable or not minutes:
        return
    rates = {k: v["model_rate"] for k, v in usable.items()}
    best = min(minutes, key=minutes.get)
    fastest = max(rates, key=rates.get)
    t = capped["backends"]["torch"]
    left_out = sorted(set(capped["backends"]) - set(usable))
    print(f"ISA capped: fastest model pass {fastest}, {rates[fastest] / rates['torch']:.2f}x "
          f"torch model-only (target >= 1.3x); recipe {best} {minutes[best]:.1f} min vs torch "
          f"{minutes['torch']:.1f} min here ({minutes[best] / minutes['torch']:.2f} of torch's, "
          f"target <= 0.5)" + (f"; not counted: {', '.join(left_out)} (refused or skipped)"
                               if left_out else ""))
    # The old way: the loop's per-model rate (decode + frontend shared over --n-models)
    # charged again for every one of the recipe's models.
    old = (args.target_files * 12 * t["passes"] * args.target_models / t["loop_rate"]
           + args.target_models * t["warm_seconds"]) / 60
    peak_seconds = capped["flops_per_window"] / (capped["peak_gflops"] * 1e9)
    bound = recipe_seconds(args.target_files, 12, t["passes"], args.target_models,
                           shared_seconds(capped), peak_seconds) / 60
    print(f"  fp32 roofline bound: every model pass at the matmul peak "
          f"({1 / peak_seconds:.0f} windows/s, {rates['torch'] * peak_seconds:.0%} of it reached "
          f"by torch) projects the recipe at {bound:.1f} min, {bound / minutes['torch']:.2f} of "
          f"torch's; torch counting decode + frontend once per model, as the planner did when "
          f"the issue was filed: {old:.1f} min")


if __name__ == "__main__":
    main()
