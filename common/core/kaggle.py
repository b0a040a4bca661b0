"""Kaggle metadata: who the user is, ``dataset-metadata.json``, ``kernel-metadata.json``.

How the pipeline reaches Kaggle (``python -m common.kaggle_push`` does all of it):

- the code dataset ``<user>/<competition>-common`` (``birdclef-2026-common``) holds ``common/``
  plus the pure-Python packages Kaggle's image lacks (``KAGGLE_EXTRAS``), side by side; every
  notebook attaches it and its bootstrap cell puts that folder on ``sys.path``;
- each stage notebook is a kernel whose slug equals its stage's dataset slug for the task
  (``Stage.slug_for``, e.g. ``birdclef-2026-prep``); later stages attach earlier kernels'
  outputs (``kernel_sources``), which Kaggle mounts at ``/kaggle/input/<slug>``, the path the
  stage configs' upstream-slug parameters already point at (their ``TASK_OVERRIDES`` for other
  tasks). No output is downloaded or re-uploaded.

Every name here follows the task (:mod:`common.tasks.base`, default ``birdclef-2026``): pushing
``messy-mashup`` gives ``messy-mashup-prep`` ... ``messy-mashup-submission`` attached to the
``messy-mashup`` competition, and the code dataset ``messy-mashup-common``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from common.tasks import get_task
from devtools.pipeline import DEFAULT_TASK, REPO_ROOT, STAGES, Stage

PLACEHOLDER_USER = "your-kaggle-username"
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$")


def kaggle_username(explicit: str = "") -> str:
    """The Kaggle user: ``explicit``, else the kaggle CLI's own configuration, else a placeholder.

    The CLI reads ``KAGGLE_USERNAME``, else ``kaggle.json`` in ``KAGGLE_CONFIG_DIR``, else in
    ``~/.kaggle``, else (Linux, as the CLI does) in ``$XDG_CONFIG_HOME/kaggle`` or
    ``~/.config/kaggle``; only the user name is read here, never the key.
    """
    if explicit:
        return explicit
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    config_file = kaggle_config_file()
    if config_file.is_file():
        try:
            return str(json.loads(config_file.read_text())["username"])
        except (KeyError, ValueError):
            pass
    return PLACEHOLDER_USER


def kaggle_config_file() -> Path:
    """Where the kaggle CLI looks for ``kaggle.json`` (the file may not exist)."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]) / "kaggle.json"
    home_dir = Path.home() / ".kaggle"
    if home_dir.exists():
        return home_dir / "kaggle.json"
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return xdg / "kaggle" / "kaggle.json"


def check_slug(slug: str) -> str:
    """Return ``slug`` if Kaggle accepts it (3-50 chars, lowercase, digits, dashes)."""
    if not _SLUG_RE.match(slug):
        raise ValueError(
            f"{slug!r} is not a valid Kaggle slug: use 3-50 lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit"
        )
    return slug


def write_dataset_metadata(folder: str | Path, slug: str, title: str, user: str = "") -> Path:
    """Write ``dataset-metadata.json`` so ``kaggle datasets create -p folder`` publishes it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {
        "title": title[:50],
        "id": f"{kaggle_username(user)}/{check_slug(slug)}",
        "licenses": [{"name": "CC0-1.0"}],
    }
    path = folder / "dataset-metadata.json"
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Kernels: how each stage notebook runs on Kaggle and what it reads.



def code_dataset_slug(task: str = DEFAULT_TASK) -> str:
    """The code dataset's slug for a task: ``<competition>-common``.

    The code is the same for every task, but each task gets its own dataset so that a task's
    notebooks attach a dataset named after their competition, and pushing one task never makes
    a new version of the code the other task's notebooks were saved with.
    """
    return check_slug(f"{get_task(task).competition}-common")


# The default task's names, kept for callers that predate tasks.
COMPETITION = get_task(DEFAULT_TASK).competition
CODE_DATASET_SLUG = code_dataset_slug(DEFAULT_TASK)


@dataclass(frozen=True)
class KernelPlan:
    """How one stage notebook runs on Kaggle.

    ``upstream`` names the earlier stages (``Stage.name``) whose outputs this notebook reads;
    each is attached as that stage's kernel output, which Kaggle mounts at
    ``/kaggle/input/<stage slug>``: the kernel slug *is* the stage slug, so the notebooks find it
    with :func:`common.core.paths.find_dataset_dir` and their default upstream-slug parameters.
    """

    upstream: tuple[str, ...] = ()
    gpu: bool = False
    internet: bool = True


# Internet stays on where it may help (pretrained weights in nb02/nb03) and is off in nb04, as
# the code competition requires of the submission notebook.
KERNEL_PLANS: dict[str, KernelPlan] = {
    "nb01": KernelPlan(),
    "nb02": KernelPlan(upstream=("nb01",), gpu=True),
    "nb03": KernelPlan(upstream=("nb01", "nb02"), gpu=True),
    # nb04 ensembles nb02's models with nb03's noisy students (InferConfig.pseudo_slug).
    "nb04": KernelPlan(upstream=("nb02", "nb03"), internet=False),
}

# Packages the notebooks import that Kaggle's Python image lacks. Each is pure Python and is
# copied, import package by import package, next to ``common/`` in the code dataset, so the
# notebooks' bootstrap cell (which puts that folder on sys.path) makes them importable without
# pip or internet: the offline nb04 works the same way.
KAGGLE_EXTRAS: dict[str, tuple[str, ...]] = {"iterative-stratification": ("iterstrat",)}


def slugify_title(title: str) -> str:
    """The slug Kaggle derives from a notebook title (lowercase, other runs become one dash)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def title_for_slug(slug: str) -> str:
    """A readable title that Kaggle turns back into ``slug``: ``birdclef-2026-prep`` ->
    ``BirdCLEF 2026 Prep``, ``messy-mashup-prep`` -> ``Messy Mashup Prep``. A title that
    resolves to another slug makes ``kernels push`` warn and may give the notebook a different
    URL than its id."""
    title = " ".join("BirdCLEF" if w == "birdclef" else w.capitalize() for w in slug.split("-"))
    if slugify_title(title) != slug:
        raise ValueError(f"no title resolves to slug {slug!r}: use lowercase words and dashes")
    return title


def kernel_metadata(stage: Stage, user: str, stages: tuple[Stage, ...] = STAGES,
                    code_file: str | None = None, chain: str = "kernels",
                    task: str = DEFAULT_TASK) -> dict[str, Any]:
    """The ``kernel-metadata.json`` of one stage notebook for ``kaggle kernels push -p``.

    Args:
        stage: the stage whose notebook is pushed; its kernel id is
            ``<user>/<stage.slug_for(task)>``.
        user: Kaggle user name (owner of the kernels and datasets).
        stages: the stage list the upstream names refer to.
        code_file: notebook file name in the push folder (default: the script's ``.ipynb``).
        chain: ``"kernels"`` attaches upstream stages as kernel outputs (``kernel_sources``);
            ``"datasets"`` attaches them as datasets ``<user>/<slug>`` made from the downloaded
            outputs. Both mount at ``/kaggle/input/<slug>``.
        task: the :mod:`common.tasks.base` name: it picks the slugs, the code dataset
            (:func:`code_dataset_slug`) and the competition attached.
    """
    if chain not in ("kernels", "datasets"):
        raise ValueError(f"chain must be 'kernels' or 'datasets', not {chain!r}")
    plan = KERNEL_PLANS.get(stage.name)
    if plan is None:
        raise KeyError(f"no KernelPlan for stage {stage.name!r}: add it to "
                       "common.core.kaggle.KERNEL_PLANS (upstream stages, GPU, internet)")
    by_name = {s.name: s for s in stages}
    upstream = [f"{user}/{check_slug(by_name[name].slug_for(task))}" for name in plan.upstream]
    code = [f"{user}/{code_dataset_slug(task)}"]
    slug = check_slug(stage.slug_for(task))
    return {
        "id": f"{user}/{slug}",
        "title": title_for_slug(slug),
        "code_file": code_file or str(Path(stage.script).with_suffix(".ipynb")),
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": plan.gpu,
        "enable_tpu": False,
        "enable_internet": plan.internet,
        "dataset_sources": code + (upstream if chain == "datasets" else []),
        "competition_sources": [get_task(task).competition],
        "kernel_sources": upstream if chain == "kernels" else [],
        "model_sources": [],
    }


def write_kernel_metadata(folder: str | Path, metadata: dict[str, Any]) -> Path:
    """Write ``kernel-metadata.json`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kernel-metadata.json"
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# The code dataset: ``common/`` and the extras Kaggle lacks, published as one dataset.


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

    Layout: ``common/`` (the package, no bytecode), the ``KAGGLE_EXTRAS`` import packages next
    to it, ``requirements.txt`` (for reference: Kaggle's image provides the rest) and
    ``dataset-metadata.json``. Attached to a notebook it mounts at
    ``/kaggle/input/<slug>/`` (e.g. ``birdclef-2026-common``), whose ``common/__init__.py`` the
    notebooks' bootstrap cell looks for under any dataset name. An existing folder is replaced.
    """
    folder = Path(folder)
    repo_root = Path(repo_root)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(repo_root / "common", folder / "common",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copyfile(repo_root / "requirements.txt", folder / "requirements.txt")
    for distribution, packages in (KAGGLE_EXTRAS if extras is None else extras).items():
        vendor_package(distribution, packages, folder)
    title = f"{title_for_slug(get_task(task).competition)} common code"
    write_dataset_metadata(folder, code_dataset_slug(task), title, user)
    return folder
