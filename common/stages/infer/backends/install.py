"""Offline install of a backend on Kaggle, from wheels shipped beside the code.

The submission notebook has no internet. The push (``python -m common.kaggle_push ...
--wheels``) puts the backends' wheels (``requirements-infer.txt``, built for CPython 3.11 on
manylinux x86-64) in a ``wheels/`` folder of the code dataset; :func:`ensure_backend` finds that
folder under the input root (or beside the ``common`` package in use) and installs what the
chosen backend lacks with ``pip install --no-index --find-links``, into a folder appended to
``sys.path`` (appended, so the image's own numpy or protobuf always win over anything shipped).
When no wheel folder is attached or pip fails, it logs why and the loop runs torch instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from common.stages.infer.backends.base import BACKENDS, NEEDS

__all__ = ["PACKAGES", "WHEELS_DIR", "ensure_backend", "find_wheel_dirs", "install_offline"]

log = logging.getLogger(__name__)

WHEELS_DIR = "wheels"  # the folder of the code dataset that holds them
# pip distributions that bring each import module, with the import name of each distribution
# (installed only when that import is missing: Kaggle's image has most dependencies).
PACKAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "onnx": (("onnx", "onnx"), ("ml_dtypes", "ml_dtypes")),
    "onnxruntime": (("onnxruntime", "onnxruntime"), ("flatbuffers", "flatbuffers")),
    "openvino": (("openvino", "openvino"), ("openvino-telemetry", "openvino_telemetry")),
    # OpenVINO's int8 quantizer (the rest of what it imports is in Kaggle's image)
    "nncf": (("nncf", "nncf"), ("pydot", "pydot"), ("tabulate", "tabulate"), ("rich", "rich")),
}
TARGET = Path(tempfile.gettempdir()) / "infer-packages"  # outside Kaggle's saved working dir


def find_wheel_dirs(input_root: str | Path) -> list[Path]:
    """Every ``wheels/`` folder holding a ``.whl``: beside the ``common`` package in use (the
    code dataset's root), then in any dataset under ``input_root``."""
    here = Path(__file__).resolve().parents[4] / WHEELS_DIR
    root = Path(input_root)
    found = [here, *sorted(root.glob(f"*/{WHEELS_DIR}")),
             *sorted(root.glob(f"datasets/*/*/{WHEELS_DIR}"))]
    unique = dict.fromkeys(p.resolve() for p in found if p.is_dir() and any(p.glob("*.whl")))
    return list(unique)


def install_offline(packages: list[str], wheel_dir: str | Path, target: str | Path = TARGET
                    ) -> None:
    """``pip install --no-index --find-links wheel_dir --no-deps --target target packages``,
    then ``target`` joins ``sys.path`` (at its end). Raises ``RuntimeError`` with pip's error
    when it fails."""
    target = Path(target)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
           str(wheel_dir), "--no-deps", "--upgrade", "--target", str(target), *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"offline install of {packages} from {wheel_dir} failed: "
                           f"{(proc.stderr or proc.stdout).strip()[-600:]}")
    if str(target) not in sys.path:
        sys.path.append(str(target))
    importlib.invalidate_caches()


def ensure_backend(backend: str, input_root: str | Path, target: str | Path = TARGET,
                   int8: bool = False) -> bool:
    """Make ``backend`` (or, for ``auto``, every backend) importable, installing shipped wheels
    offline when needed (with ``int8``, also OpenVINO's quantizer NNCF). Returns whether all of
    them can run; the ones that cannot are logged with the reason, and the prediction loop runs
    torch (or fp32) in their place."""
    wanted = BACKENDS if backend == "auto" else (backend,)
    extra = ("nncf",) if int8 and "openvino" in wanted else ()
    modules = list(dict.fromkeys([*(m for b in wanted for m in NEEDS[b]), *extra]))
    packages = [dist for m in modules if importlib.util.find_spec(m) is None
                for dist, module in PACKAGES[m] if importlib.util.find_spec(module) is None]
    if not packages:
        return True
    dirs = find_wheel_dirs(input_root)
    if not dirs:
        log.warning("backend %s needs %s: not installed and no %s/ folder of wheels attached "
                    "(push with --wheels); falling back to torch", backend, packages, WHEELS_DIR)
        return False
    try:
        install_offline(packages, dirs[0], target)
    except RuntimeError as err:
        log.warning("backend %s: %s; falling back to torch", backend, err)
        return False
    still = [m for m in modules if importlib.util.find_spec(m) is None]
    if still:
        log.warning("backend %s: %s still not importable after the install from %s; falling "
                    "back to torch", backend, still, dirs[0])
        return False
    log.info("backend %s: installed %s offline from %s", backend, packages, dirs[0])
    return True
