"""The code dataset: the runtime ``common/`` and the extras Kaggle lacks, published as one dataset.

What ships is what the notebooks import on Kaggle, nothing more: ``common/`` without its
``python -m common.<command>`` front doors (the top-level modules of ``common/`` that hand over to
:mod:`devtools`, found by :func:`front_doors`), the pure-Python packages Kaggle's image lacks
(``KAGGLE_EXTRAS``, vendored from this venv) and ``requirements.txt``. Synthetic competitions,
the push, notebook sync, the local pipeline and sweeps live in :mod:`devtools` and stay here.
"""

from __future__ import annotations

import ast
import shutil
from importlib import metadata
from pathlib import Path

from common.core.kaggle import write_dataset_metadata
from common.tasks import DEFAULT_TASK, get_task
from devtools.kernels import code_dataset_slug, title_for_slug
from devtools.pipeline import REPO_ROOT

# Packages the notebooks import that Kaggle's Python image lacks. Each is pure Python and is
# copied, import package by import package, next to ``common/`` in the code dataset, so the
# notebooks' bootstrap cell (which puts that folder on sys.path) makes them importable without
# pip or internet: the offline nb04 works the same way.
KAGGLE_EXTRAS: dict[str, tuple[str, ...]] = {"iterative-stratification": ("iterstrat",)}

TOOLS_PACKAGE = "devtools"


def imports_tools(path: str | Path) -> bool:
    """Whether a Python file imports :mod:`devtools` anywhere (module level or in a function)."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name.split(".")[0] == TOOLS_PACKAGE for name in names):
            return True
    return False


def front_doors(package_dir: str | Path = REPO_ROOT / "common") -> list[Path]:
    """The ``python -m common.<command>`` front doors: top-level modules of ``common/`` (not
    ``__init__.py``) that import :mod:`devtools`. They keep the documented commands stable and
    are left out of the code dataset, since ``devtools`` is not shipped."""
    return sorted(path for path in Path(package_dir).glob("*.py")
                  if path.name != "__init__.py" and imports_tools(path))


def tool_imports(package_dir: str | Path) -> list[Path]:
    """The files under ``package_dir`` that import :mod:`devtools`, front doors excepted: a
    runtime module among them would fail on Kaggle."""
    doors = set(front_doors(package_dir))
    return sorted(path for path in Path(package_dir).rglob("*.py")
                  if path not in doors and imports_tools(path))


def vendor_package(distribution: str, packages: tuple[str, ...], dest: str | Path) -> list[Path]:
    """Copy the import packages of an installed pure-Python distribution into ``dest``.

    Only ``packages`` are copied (some wheels also install stray top-level packages such as
    ``tests``), without bytecode, plus the distribution's licence file as
    ``<package>/LICENSE.<distribution>``. Raises if the distribution is not installed or holds
    compiled extensions, which would not load on another Python build.
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as err:
        raise ModuleNotFoundError(f"{distribution} is not installed here: install "
                                  "requirements.txt (bash scripts/setup_env.sh) first") from err
    dest = Path(dest)
    copied = []
    licence = next((f for f in dist.files or [] if f.name.upper().startswith("LICENSE")), None)
    for package in packages:
        files = [f for f in dist.files or [] if f.parts[0] == package
                 and "__pycache__" not in f.parts]
        if not files:
            raise FileNotFoundError(f"{distribution} installs no package {package!r}")
        compiled = [str(f) for f in files if f.suffix in (".so", ".pyd", ".dylib")]
        if compiled:
            raise ValueError(f"{distribution} is not pure Python ({compiled[0]}): ship it as a "
                             "wheel for Kaggle's Python instead")
        for file in files:
            target = dest / Path(*file.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file.locate(), target)
            copied.append(target)
        if licence is not None:
            target = dest / package / f"LICENSE.{distribution}"
            shutil.copyfile(licence.locate(), target)
            copied.append(target)
    return copied


def build_code_dataset(folder: str | Path, user: str, repo_root: str | Path = REPO_ROOT,
                       extras: dict[str, tuple[str, ...]] | None = None,
                       task: str = DEFAULT_TASK) -> Path:
    """Fill ``folder`` with the code dataset ``<user>/<code_dataset_slug(task)>``.

    Layout: ``common/`` (the runtime package: no front doors, no bytecode), the
    ``KAGGLE_EXTRAS`` import packages next to it, ``requirements.txt`` (for reference: Kaggle's
    image provides the rest) and ``dataset-metadata.json``. Attached to a notebook it mounts at
    ``/kaggle/input/<slug>/`` (e.g. ``birdclef-2026-common``), whose ``common/__init__.py`` the
    notebooks' bootstrap cell looks for under any dataset name. An existing folder is replaced.
    Raises ``ValueError`` naming the files if a runtime module imports :mod:`devtools`.
    """
    folder = Path(folder)
    repo_root = Path(repo_root)
    package_dir = repo_root / "common"
    leaks = tool_imports(package_dir)
    if leaks:
        raise ValueError("runtime modules import devtools, which the code dataset does not ship: "
                         + ", ".join(str(p.relative_to(repo_root)) for p in leaks)
                         + "; move that code into devtools/ or make the module a front door")
    doors = {path.name for path in front_doors(package_dir)}
    if folder.exists():
        shutil.rmtree(folder)

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory) == package_dir:
            skipped |= doors & set(names)
        return skipped

    shutil.copytree(package_dir, folder / "common", ignore=ignore)
    shutil.copyfile(repo_root / "requirements.txt", folder / "requirements.txt")
    for distribution, packages in (KAGGLE_EXTRAS if extras is None else extras).items():
        vendor_package(distribution, packages, folder)
    title = f"{title_for_slug(get_task(task).competition)} common code"
    write_dataset_metadata(folder, code_dataset_slug(task), title, user)
    return folder
