"""Fail fast on a GPU this torch build cannot run, before hours of work start.

Kaggle's image ships a torch built for recent GPUs only: a session on a GPU whose compute
capability has no kernels in the build (the retired P100, sm_60) fails at its first CUDA call,
or worse, deep inside the first epoch. :func:`check_gpu` runs at the top of the GPU stages (nb02,
nb03) and stops with the fix: run on "GPU T4 x2" (sm_75). Without CUDA it only logs that the
stage runs on CPU, since the laptop path trains there.
"""

from __future__ import annotations

import logging
import re

import torch

log = logging.getLogger(__name__)

__all__ = ["GPU_FIX", "arch_supports", "unsupported_gpu_message", "check_gpu"]

GPU_FIX = ('choose "GPU T4 x2" in the notebook\'s settings (Session options > Accelerator), or '
           "push with `python -m common.kaggle_push --machine-shape NvidiaTeslaT4` (the default)")


def arch_supports(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether code compiled for ``arch_list`` (``torch.cuda.get_arch_list()``: ``sm_75``,
    ``sm_90a``, ``compute_90`` ...) runs on a device of ``capability`` ``(major, minor)``.

    The CUDA rules: a cubin ``sm_XY`` runs on devices of the same major version with a minor
    >= Y; an architecture-specific cubin (``sm_90a``) only on exactly that version; PTX
    (``compute_XY``) is compiled at load time for any device >= XY. An empty list (a build that
    does not say) is taken as supported.
    """
    if not arch_list:
        return True
    major, minor = capability
    device = 10 * major + minor
    for arch in arch_list:
        match = re.fullmatch(r"(sm|compute)_(\d+)([af]?)", arch)
        if match is None:
            continue
        kind, number, suffix = match.group(1), int(match.group(2)), match.group(3)
        if kind == "compute":
            if number <= device:
                return True
        elif suffix == "a":
            if number == device:
                return True
        elif number // 10 == major and number % 10 <= minor:
            return True
    return False


def unsupported_gpu_message(name: str, capability: tuple[int, int], arch_list: list[str]
                            ) -> str | None:
    """The error for a device this build cannot run (``None`` when it can): the GPU, its
    ``sm_XY``, what the build supports, and :data:`GPU_FIX`."""
    if arch_supports(capability, arch_list):
        return None
    sm = f"sm_{capability[0]}{capability[1]}"
    return (f"this session's GPU {name} ({sm}) is not supported by this torch build "
            f"({torch.__version__}: {' '.join(arch_list)}); its first CUDA call would fail. "
            f"Fix: {GPU_FIX}.")


def check_gpu(stage: str) -> str:
    """Stop ``stage`` when CUDA is there but cannot run on its GPU; else log what it runs on.

    Returns ``"cuda"`` or ``"cpu"``. Raises ``RuntimeError`` naming the GPU and the fix
    (:data:`GPU_FIX`) for a device whose compute capability is not in
    ``torch.cuda.get_arch_list()``.
    """
    if not torch.cuda.is_available():
        log.info("%s: no CUDA GPU, training runs on CPU (on Kaggle: %s)", stage, GPU_FIX)
        return "cpu"
    arch_list = torch.cuda.get_arch_list()
    names = []
    for index in range(torch.cuda.device_count()):
        name = torch.cuda.get_device_name(index)
        capability = torch.cuda.get_device_capability(index)
        message = unsupported_gpu_message(name, capability, arch_list)
        if message:
            raise RuntimeError(f"{stage}: {message}")
        names.append(f"{name} (sm_{capability[0]}{capability[1]})")
    log.info("%s: CUDA on %s", stage, ", ".join(names))
    return "cuda"
