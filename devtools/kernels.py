"""Kaggle kernels: how each stage notebook runs on Kaggle (``kernel-metadata.json``).

How the pipeline reaches Kaggle (``python -m common.kaggle_push`` does all of it):

- the code dataset ``<user>/<competition>-common`` (:func:`code_dataset_slug`, built by
  :mod:`devtools.code_dataset`) holds the runtime ``common/`` plus the pure-Python packages
  Kaggle's image lacks; every notebook attaches it and its bootstrap cell puts that folder on
  ``sys.path``;
- each stage notebook is a kernel whose slug equals its stage's dataset slug for the task
  (``Stage.slug_for``, e.g. ``birdclef-2026-prep``); later stages attach earlier kernels'
  outputs (``kernel_sources``), which Kaggle mounts at ``/kaggle/input/<slug>``, the path the
  stage configs' upstream-slug parameters (derived from the task) already point at. No output
  is downloaded or re-uploaded.

Each kernel also says what it runs on: the GPU stages get ``machine_shape`` (the kaggle 2.x CLI
sends it; ``NvidiaTeslaT4`` is "GPU T4 x2", the default here, since Kaggle's image has no
kernels for the retired P100's sm_60). :class:`KernelOptions` adds what a push may attach:
pretrained weights as Kaggle datasets or models for the stages that build backbones
(nb02/nb03), and, with ``resume``, a resumable stage's own previous output, which the stage
copies back into its working dir to continue (:mod:`common.stages.restore`).

Every name here follows the task (:mod:`common.tasks`, default ``common.tasks.DEFAULT_TASK``):
pushing another task gives ``<its competition>-prep`` ... ``-submission`` attached to its
competition, and the code dataset ``<its competition>-common``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.core.kaggle import check_slug
from common.tasks import DEFAULT_TASK, get_task
from devtools.pipeline import STAGES, Stage


def code_dataset_slug(task: str = DEFAULT_TASK) -> str:
    """The code dataset's slug for a task: ``<competition>-common``.

    The code is the same for every task, but each task gets its own dataset so that a task's
    notebooks attach a dataset named after their competition, and pushing one task never makes
    a new version of the code the other task's notebooks were saved with.
    """
    return check_slug(f"{get_task(task).competition}-common")


# The default task's code dataset, kept for callers that predate tasks.
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
    # Builds backbones from pretrained weights (weights sources attach here).
    pretrained: bool = False
    # Restores its own previous output when attached (KernelOptions.resume).
    resumable: bool = False


# "GPU T4 x2" in the notebook editor; the value the kaggle 2.x CLI documents for
# `kernels push --accelerator` and sends as kernel-metadata's machine_shape.
DEFAULT_MACHINE_SHAPE = "NvidiaTeslaT4"
# Kaggle model instance versions: <owner>/<model>/<framework>/<variation>/<version>.
MODEL_SOURCE = re.compile(r"[^/\s]+/[^/\s]+/[^/\s]+/[^/\s]+/\d+")


@dataclass(frozen=True)
class KernelOptions:
    """What a push adds to the kernels beyond the stage plans (``python -m common.kaggle_push``
    flags).

    ``machine_shape``: the accelerator of the GPU stages ('' = Kaggle's default);
    ``weights_datasets`` (``<owner>/<slug>``) and ``model_sources`` (Kaggle models,
    ``<owner>/<model>/<framework>/<variation>/<version>``) attach pretrained weights to the
    stages that build backbones (then set ``model.pretrained_file`` to the file's path under
    ``/kaggle/input``); ``resume`` attaches each resumable stage's own latest output.
    """

    machine_shape: str = DEFAULT_MACHINE_SHAPE
    weights_datasets: tuple[str, ...] = ()
    model_sources: tuple[str, ...] = ()
    resume: bool = False

    def __post_init__(self) -> None:
        bad = [m for m in self.model_sources if not MODEL_SOURCE.fullmatch(m)]
        if bad:
            raise ValueError(f"model sources {bad} are not Kaggle model instance versions: "
                             "write <owner>/<model>/<framework>/<variation>/<version>, e.g. "
                             "me/tf-efficientnet-b0/pytorch/default/1")
        bad = [d for d in self.weights_datasets if d.count("/") != 1]
        if bad:
            raise ValueError(f"weights datasets {bad} must be <owner>/<dataset-slug>")


# Internet stays on where it may help (pretrained weights in nb02/nb03) and is off in nb04, as
# the code competition requires of the submission notebook.
KERNEL_PLANS: dict[str, KernelPlan] = {
    "nb01": KernelPlan(),
    # nb02 resumes across sessions from its own previous output (resume/ and finished folds).
    "nb02": KernelPlan(upstream=("nb01",), gpu=True, pretrained=True, resumable=True),
    "nb03": KernelPlan(upstream=("nb01", "nb02"), gpu=True, pretrained=True),
    # nb04 ensembles nb02's models with nb03's noisy students (InferConfig.pseudo_slug).
    "nb04": KernelPlan(upstream=("nb02", "nb03"), internet=False),
}


def slugify_title(title: str) -> str:
    """The slug Kaggle derives from a notebook title (lowercase, other runs become one dash)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def title_for_slug(slug: str) -> str:
    """A readable title that Kaggle turns back into ``slug``: ``birdclef-2026-prep`` ->
    ``BirdCLEF 2026 Prep``, ``my-task-prep`` -> ``My Task Prep``. A title that resolves to
    another slug makes ``kernels push`` warn and may give the notebook a different URL than its
    id."""
    title = " ".join("BirdCLEF" if w == "birdclef" else w.capitalize() for w in slug.split("-"))
    if slugify_title(title) != slug:
        raise ValueError(f"no title resolves to slug {slug!r}: use lowercase words and dashes")
    return title


def kernel_metadata(stage: Stage, user: str, stages: tuple[Stage, ...] = STAGES,
                    code_file: str | None = None, chain: str = "kernels",
                    task: str = DEFAULT_TASK, options: KernelOptions | None = None
                    ) -> dict[str, Any]:
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
        task: the :mod:`common.tasks` name: it picks the slugs, the code dataset
            (:func:`code_dataset_slug`) and the competition attached.
        options: the accelerator and the extra sources (:class:`KernelOptions`; default: T4 x2,
            nothing extra).
    """
    options = options or KernelOptions()
    if chain not in ("kernels", "datasets"):
        raise ValueError(f"chain must be 'kernels' or 'datasets', not {chain!r}")
    plan = KERNEL_PLANS.get(stage.name)
    if plan is None:
        raise KeyError(f"no KernelPlan for stage {stage.name!r}: add it to "
                       "devtools.kernels.KERNEL_PLANS (upstream stages, GPU, internet)")
    by_name = {s.name: s for s in stages}
    upstream = [f"{user}/{check_slug(by_name[name].slug_for(task))}" for name in plan.upstream]
    code = [f"{user}/{code_dataset_slug(task)}"]
    slug = check_slug(stage.slug_for(task))
    kernel_id = f"{user}/{slug}"
    weights = list(options.weights_datasets) if plan.pretrained else []
    # Its own latest output: Kaggle mounts it like any other notebook's, at /kaggle/input/<slug>.
    own = [kernel_id] if options.resume and plan.resumable else []
    metadata: dict[str, Any] = {
        "id": kernel_id,
        "title": title_for_slug(slug),
        "code_file": code_file or str(Path(stage.script).with_suffix(".ipynb")),
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": plan.gpu,
        "enable_tpu": False,
        "enable_internet": plan.internet,
        "dataset_sources": code + (upstream if chain == "datasets" else []) + weights,
        "competition_sources": [get_task(task).competition],
        "kernel_sources": (upstream if chain == "kernels" else []) + own,
        "model_sources": list(options.model_sources) if plan.pretrained else [],
    }
    if plan.gpu and options.machine_shape:
        metadata["machine_shape"] = options.machine_shape
    return metadata


def write_kernel_metadata(folder: str | Path, metadata: dict[str, Any]) -> Path:
    """Write ``kernel-metadata.json`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kernel-metadata.json"
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return path
