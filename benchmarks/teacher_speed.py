"""How fast each available teacher scores competition windows, and what nb03/nb04 would pay.

    python benchmarks/teacher_speed.py [--threads 2] [--windows 24] [--teachers birdnet,perch]
        [--write-facts]

For each teacher that can be built here (a missing backend or model is reported and skipped),
times ``predict_windows`` on ``--windows`` 5-s windows of noise with tonal calls at 32 kHz,
the competition's format, so the figure includes resampling and the teacher windows needed to
cover each 5-s window (BirdNET: two 3-s windows at 48 kHz). Then projects:

- nb03: ``--nb03-windows`` (10,658 one-minute soundscapes = 127,896 windows);
- nb04: ``--nb04-files`` x 12 windows (600 hidden-test soundscapes);

on a ``--kaggle-cores`` CPU, assuming throughput scales linearly with cores from the threads
measured here and that a Kaggle core is as fast as one here (both printed with the figures;
the first is optimistic for TFLite beyond 4 threads, the second is roughly right for Kaggle's
Xeons). ``--write-facts`` records each teacher's windows per CPU-second (process CPU time, so
a loaded machine does not distort it) in ``common/budget/throughputs.json`` as
``teacher.cpu.<name>``: the budget planner's nb04 row projects the teacher switch from it.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.budget.facts import write_throughput  # noqa: E402
from common.teachers import (  # noqa: E402
    TeacherBackendMissing,
    TeacherModelNotFound,
    get_teacher,
)
from common.teachers.config import TeacherConfig  # noqa: E402

SR = 32000
WINDOW_SECONDS = 5


def synthetic_windows(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 160000)`` float32: faint noise with a few 0.4-s tones per window."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW_SECONDS * SR) / SR
    waves = 0.02 * rng.standard_normal((n, t.size))
    for row in waves:
        for start in rng.uniform(0, WINDOW_SECONDS - 0.4, size=3):
            mask = (t >= start) & (t < start + 0.4)
            row[mask] += 0.2 * np.sin(2 * np.pi * rng.uniform(2000, 8000) * t[mask])
    return waves.astype(np.float32)


def measure(name: str, waves: np.ndarray, threads: int, batch_size: int
            ) -> tuple[float, float] | None:
    """``(windows per wall second, windows per CPU-second)`` of ``predict_windows`` after one
    warm-up batch, or None when the teacher cannot be built here."""
    try:
        teacher = get_teacher(name, **TeacherConfig(teacher=name, teacher_batch=batch_size)
                              .options(threads))
    except (TeacherBackendMissing, TeacherModelNotFound) as err:
        print(f"{name}: skipped ({err})")
        return None
    teacher.predict_windows(waves[:2], SR)  # warm-up: allocation, first-call overhead
    start, cpu_start = time.perf_counter(), time.process_time()
    teacher.predict_windows(waves, SR)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    pieces = len(waves) * -(-WINDOW_SECONDS * teacher.sample_rate // teacher.window_samples)
    rate = len(waves) / seconds
    print(f"{name}: {len(waves)} windows ({pieces} {teacher.window_seconds:g}-s model inputs) "
          f"in {seconds:.1f} s on {threads} thread(s): {rate:.2f} windows/s "
          f"({len(waves) / cpu_seconds:.2f} per CPU-second; load {os.getloadavg()[0]:.1f})")
    return rate, len(waves) / cpu_seconds


def project(name: str, rate: float, threads: int, args: argparse.Namespace) -> None:
    """Print projected nb03 and nb04 wall times on the Kaggle CPU."""
    kaggle_rate = rate * args.kaggle_cores / threads
    nb04_windows = args.nb04_files * 60 // WINDOW_SECONDS
    for stage, windows in (("nb03", args.nb03_windows), ("nb04", nb04_windows)):
        seconds = windows / kaggle_rate
        print(f"  {name} {stage}: {windows:,} windows / {kaggle_rate:.1f} windows/s on "
              f"{args.kaggle_cores} cores = {seconds / 60:.0f} min ({seconds / 3600:.1f} h)")


def main() -> None:
    """Parse flags, measure each teacher, print projections."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", default="birdnet,perch")
    parser.add_argument("--threads", type=int, default=2, help="TFLite threads here")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--windows", type=int, default=24, help="5-s windows to time")
    parser.add_argument("--kaggle-cores", type=int, default=4)
    parser.add_argument("--nb03-windows", type=int, default=127_896)
    parser.add_argument("--nb04-files", type=int, default=600)
    parser.add_argument("--write-facts", action="store_true",
                        help="record windows per CPU-second in common/budget/throughputs.json "
                        "as teacher.cpu.<name>")
    args = parser.parse_args()
    waves = synthetic_windows(args.windows)
    print(f"scaling assumption: throughput x (kaggle cores / threads here) = "
          f"x {args.kaggle_cores / args.threads:g}; a Kaggle core as fast as one here")
    for name in args.teachers.split(","):
        rates = measure(name.strip(), waves, args.threads, args.batch_size)
        if rates is None:
            continue
        project(name.strip(), rates[0], args.threads, args)
        if args.write_facts:
            write_throughput(f"teacher.cpu.{name.strip()}", rates[1],
                             "5-s windows per CPU-second (resampling and covering included)",
                             "python " + " ".join(sys.argv), threads=args.threads,
                             load_average=round(os.getloadavg()[0], 2))
            print(f"  written to common/budget/throughputs.json as teacher.cpu.{name.strip()}")


if __name__ == "__main__":
    main()
