"""The inference backends' wheels for Kaggle's offline notebook, downloaded for Kaggle's Python.

``python -m common.kaggle_push ... --wheels`` calls :func:`download_wheels` and ships the result
as the code dataset's ``wheels/`` folder, where
:func:`common.stages.infer.backends.install.ensure_backend` finds it. Wheels are fetched for
CPython 3.11 on manylinux x86-64 whatever this machine runs (``pip download --only-binary
:all: --python-version --platform``), one per pinned line of ``requirements-infer.txt``,
without dependencies (the file pins the ones Kaggle's image may lack).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common.stages.infer.backends.install import WHEELS_DIR
from devtools.pipeline import REPO_ROOT

__all__ = ["KAGGLE_PLATFORMS", "KAGGLE_PYTHON", "download_command", "download_wheels",
           "ship_wheels"]

KAGGLE_PYTHON = "3.11"
# onnxruntime and openvino publish manylinux_2_28 wheels; Kaggle's image (glibc 2.35) takes both.
KAGGLE_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
REQUIREMENTS = REPO_ROOT / "requirements-infer.txt"


def download_command(dest: str | Path, requirements: str | Path = REQUIREMENTS) -> list[str]:
    """The ``pip download`` command line that fills ``dest`` with Kaggle's wheels."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
           "--no-deps", "--python-version", KAGGLE_PYTHON, "--implementation", "cp",
           "--dest", str(dest), "-r", str(requirements)]
    for platform in KAGGLE_PLATFORMS:
        cmd += ["--platform", platform]
    return cmd


def download_wheels(dest: str | Path, requirements: str | Path = REQUIREMENTS) -> list[Path]:
    """Download every wheel of ``requirements`` for Kaggle into ``dest``; returns the files.

    Raises ``RuntimeError`` with pip's message when a package has no such wheel."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(download_command(dest, requirements), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip download for Kaggle failed: {proc.stderr.strip()[-800:]}")
    return sorted(dest.glob("*.whl"))


def ship_wheels(wheels: str | Path, code_dir: str | Path) -> Path:
    """Copy a folder of wheels into the code dataset at ``code_dir/wheels``; returns it."""
    target = Path(code_dir) / WHEELS_DIR
    target.mkdir(parents=True, exist_ok=True)
    found = sorted(Path(wheels).glob("*.whl"))
    if not found:
        raise FileNotFoundError(f"no .whl in {wheels}: download them first "
                                f"(python -m common.kaggle_push --wheels)")
    for wheel in found:
        (target / wheel.name).write_bytes(wheel.read_bytes())
    return target
