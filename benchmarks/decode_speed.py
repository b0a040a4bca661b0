"""How fast nb01 decodes: seconds of audio scanned per CPU-second (one core).

    python benchmarks/decode_speed.py [--files 6] [--seconds 30] [--write-facts]

Writes ``--files`` synthetic OGG/Vorbis clips at 32 kHz (noise with tonal calls, like the
competition's) and runs nb01's per-file work on them in this process
(:func:`common.stages.prep.scan.scan_file`: decode, resample check, activity measure, cut),
one file after the other, so the figure is per core (nb01 runs one such process per core).
``--write-facts`` records it in ``common/budget/throughputs.json`` as ``decode.cpu``, the
figure the budget planner projects nb01's time from. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.budget.facts import write_throughput  # noqa: E402
from common.stages.prep.scan import scan_file  # noqa: E402

SR = 32000


def write_clips(folder: Path, n: int, seconds: float) -> list[Path]:
    """``n`` OGG clips of ``seconds`` s: noise with a few tonal calls."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    paths = []
    for k in range(n):
        wave = 0.02 * rng.standard_normal(t.size)
        for start in rng.uniform(0, seconds - 1, size=int(seconds / 3)):
            mask = (t >= start) & (t < start + 0.4)
            wave[mask] += 0.2 * np.sin(2 * np.pi * rng.uniform(2000, 8000) * t[mask])
        path = folder / f"clip{k}.ogg"
        sf.write(path, wave.astype(np.float32), SR, format="OGG", subtype="VORBIS")
        paths.append(path)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=6)
    p.add_argument("--seconds", type=float, default=30.0, help="length of each clip, s")
    p.add_argument("--keep-seconds", type=float, default=10.0, help="seconds cut for the cache")
    p.add_argument("--write-facts", action="store_true",
                   help="record the figure in common/budget/throughputs.json (decode.cpu)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_clips(Path(tmp), args.files, args.seconds)
        scan_file(str(paths[0]), "warm", "clip", SR, 0.5, -70.0, args.keep_seconds, "start")
        start, cpu_start = time.perf_counter(), time.process_time()
        for k, path in enumerate(paths):
            scan_file(str(path), f"clip{k}", "clip", SR, 0.5, -70.0, args.keep_seconds, "start")
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
    # CPU seconds, not wall: one core's speed, undistorted by other processes on the machine.
    rate = args.files * args.seconds / cpu_seconds
    print(f"nb01 scan_file on {args.files} OGG clips of {args.seconds:.0f} s: {seconds:.2f} s "
          f"wall, {cpu_seconds:.2f} CPU s")
    print(f"  {rate:.1f} audio seconds per CPU-second (one core; load average "
          f"{os.getloadavg()[0]:.2f})")
    if args.write_facts:
        write_throughput("decode.cpu", rate, "audio seconds per CPU-second (one core)",
                         "python " + " ".join(sys.argv),
                         load_average=round(os.getloadavg()[0], 2))
        print("written to common/budget/throughputs.json as decode.cpu")


if __name__ == "__main__":
    main()
