"""What nb04's two benchmarks share: labelled synthetic soundscapes, Kaggle's instruction-set cap,
the rule that carries an int8 figure to Kaggle's CPU, and the recipe's time with shared work
counted once.

``benchmarks/infer_speed.py`` (backends against each other, roofline) and
``benchmarks/infer_throughput.py`` (the planner's figures) import it; it is not part of the
``common`` runtime.

Kaggle's CPU (Intel Skylake-class Xeon: AVX-512, no VNNI, bf16 or AMX) is not this machine,
whose VNNI makes int8 look faster than it will be there. What each backend lets us cap:

- PyTorch's oneDNN reads ``ONEDNN_MAX_CPU_ISA`` (MKL: ``MKL_ENABLE_INSTRUCTIONS``).
- OpenVINO's CPU plugin carries its own oneDNN, which reads ``ONEDNN_MAX_CPU_ISA`` in release
  wheels too: its convolutions and matmuls, the int8 ones included, are capped. Its own JIT
  kernels (eltwise subgraphs, reorders) read ``OV_CPU_MAX_ISA`` only in debug-caps builds
  (openvino PR #38257, open in 2026-09, makes it a release option); they run fp32 here
  (``INFERENCE_PRECISION_HINT=f32``), with AVX-512F that Skylake has too, so the capped figure
  stands for Kaggle up to those kernels' use of newer AVX-512 extensions.
- ONNX Runtime's MLAS picks kernels from CPUID with no runtime cap: its int8 figure on a VNNI
  machine is flattered and carries no speed-up to Kaggle (:func:`kaggle_int8_rate`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 32000
BANDS = ((2000, 3500), (3500, 5000), (5000, 6500), (6500, 8000))  # the int8 check's "classes"
ISA_CAP = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "DNNL_MAX_CPU_ISA": "AVX512_CORE",
           "MKL_ENABLE_INSTRUCTIONS": "AVX512", "OV_CPU_MAX_ISA": "AVX512_CORE"}
# Which backends' figures the cap reaches (see the module docstring).
CAP_REACHES = {"torch": "capped (oneDNN, MKL)",
               "openvino": "capped (its oneDNN: convolutions incl. int8); own JIT kernels not",
               "onnxruntime": "NOT capped (MLAS has no ISA knob)"}


def has_vnni() -> bool:
    """Whether this CPU has AVX-512 VNNI (Linux ``/proc/cpuinfo``; False when unreadable)."""
    try:
        return "avx512_vnni" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def isa_capped() -> bool:
    """Whether this process runs with :data:`ISA_CAP` set."""
    return all(os.environ.get(k) == v for k, v in ISA_CAP.items())


def kaggle_int8_rate(backend: str, rate_int8: float, rate_fp32: float, capped: bool,
                     vnni: bool) -> tuple[float, str]:
    """``(windows/s to project on Kaggle's CPU, why)`` for an int8 model measured at
    ``rate_int8`` (its fp32 model: ``rate_fp32``, same run and threads).

    The figure stands when the CPU has no VNNI, or when the run was capped and the backend
    honours the cap (torch, OpenVINO). Otherwise (ONNX Runtime on a VNNI CPU, or an uncapped
    run) the speed-up is not credited and the fp32 figure is projected: a stated, conservative
    correction. Without VNNI, int8 products go through ``vpmaddubsw`` + ``vpmaddwd`` (two
    instructions and an int16 step instead of one ``vpdpbusd``), so some speed-up usually
    remains, but how much cannot be measured on this machine.
    """
    if not vnni:
        return rate_int8, "measured without VNNI: stands"
    if capped and backend != "onnxruntime":
        return rate_int8, "measured with the ISA capped: stands"
    why = ("ONNX Runtime has no ISA cap" if backend == "onnxruntime" else "run not capped")
    return min(rate_int8, rate_fp32), (f"VNNI here and {why}: int8 speed-up not credited, "
                                       f"fp32 figure projected")


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


def recipe_seconds(files: int, windows_per_file: int, passes: int, models: int,
                   shared_seconds: float, model_seconds: float, compile_seconds: float = 0.0
                   ) -> float:
    """The recipe's wall seconds: decoding + frontend once per window and view pass
    (``shared_seconds`` per window pass, whatever the number of models), the model pass once
    per model (``model_seconds`` per window pass), and loading + compiling each model."""
    window_passes = files * windows_per_file * passes
    return window_passes * (shared_seconds + models * model_seconds) + models * compile_seconds
