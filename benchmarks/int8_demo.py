"""int8 on trained models: nb04 on the demo competition, fp32 (torch) against each backend's int8.

    python benchmarks/int8_demo.py --competition-dir demo/birdclef-demo/birdclef-2026 \
        --models-dir demo/run-birdclef-2026-cpu/input/birdclef-2026-models \
        --answer-key demo/birdclef-demo/answer_key/solution.csv [--backends onnxruntime,openvino]

Copies the trained ``*_best.pt`` checkpoints of a demo run into a temporary input root (the
exports and int8 models are cached next to them there, never in the demo), then runs nb04
(:func:`common.stages.infer.run.run_inference`, ``--preset``) once with torch and once per
backend with ``int8=True``. Printed per backend: each model's int8 guard verdict (macro-AUC of
fp32 and int8 on the demo's labelled validation windows, ``task.labelled_windows``; speeds on
the first batch), the runner nb04 kept, the largest probability difference against the torch
submission and, with ``--answer-key``, the submission's test score against torch's. Random
weights (``benchmarks/infer_speed.py``) cannot say whether int8 costs ranking quality; trained
weights can. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.core.config import apply_preset, replace_dotted  # noqa: E402
from common.data.competition import read_csv_str  # noqa: E402
from common.stages.infer.config import InferConfig  # noqa: E402
from common.stages.infer.run import run_inference  # noqa: E402
from common.tasks import get_task  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--competition-dir", required=True)
    p.add_argument("--models-dir", required=True, help="a demo run's nb02 models folder")
    p.add_argument("--answer-key", default="", help="the demo's solution.csv (optional)")
    p.add_argument("--task", default="birdclef-2026")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--backends", default="onnxruntime,openvino")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8-max-auc-drop", type=float, default=0.002)
    args = p.parse_args()

    task = get_task(args.task)
    ckpts = sorted(Path(args.models_dir).glob("*_best.pt"))
    if not ckpts:
        raise SystemExit(f"no *_best.pt in {args.models_dir}: run the demo's nb02 first")
    answer = read_csv_str(args.answer_key) if args.answer_key else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "input"
        models = root / f"{task.name}-models"
        models.mkdir(parents=True)
        (root / task.name).symlink_to(Path(args.competition_dir).resolve())
        for c in ckpts:
            shutil.copyfile(c, models / c.name)

        def run(backend: str, int8: bool):
            cfg = replace_dotted(apply_preset(InferConfig, args.preset), {
                "input_root": str(root), "working_dir": str(Path(tmp) / f"{backend}{int8}"),
                "backend": backend, "int8": int8, "threads": args.threads,
                "int8_max_auc_drop": args.int8_max_auc_drop})
            return run_inference(cfg)

        base = run("torch", False)
        want = base.submission_df.iloc[:, 1:].to_numpy(float)
        score0 = task.score(answer, base.submission_df) if answer is not None else None
        print(f"{len(ckpts)} trained models ({', '.join(c.name for c in ckpts)}), preset "
              f"{args.preset}, {args.threads} threads, load average {os.getloadavg()[0]:.2f}; "
              f"torch fp32 test score {score0 if score0 is None else round(score0, 4)}")
        for backend in args.backends.split(","):
            result = run(backend, True)
            got = result.submission_df.iloc[:, 1:].to_numpy(float)
            for v in result.report.get("int8", []):
                print(f"  {backend} int8: validation macro-AUC {v['auc_fp32']:.4f} -> "
                      f"{v['auc_int8']:.4f} ({v['auc_int8'] - v['auc_fp32']:+.4f}), "
                      f"{v['speed_fp32']:.0f} -> {v['speed_int8']:.0f} windows/s "
                      f"({v['speed_int8'] / v['speed_fp32']:.2f}x): "
                      f"{'used' if v['accepted'] else 'refused'} ({v['reason']})")
            line = (f"  {backend}: runners {result.report['runner']}; max |probability "
                    f"difference| vs torch {np.abs(got - want).max():.2e}")
            if answer is not None:
                line += (f"; test score {task.score(answer, result.submission_df):.4f} "
                         f"(torch fp32 {score0:.4f})")
            print(line)


if __name__ == "__main__":
    main()
