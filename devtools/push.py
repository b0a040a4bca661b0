"""Push the pipeline to Kaggle: the code dataset, then each stage notebook, in order.

    python -m common.kaggle_push [--task NAME] [--user NAME] [--stages nb01,nb02] [--dry-run]
        [--machine-shape NvidiaTeslaT4] [--weights-dataset OWNER/SLUG] [--model-source REF]
        [--resume]

Writes ``<out>/datasets/<competition>-common/`` (the runtime ``common/`` + the extras Kaggle
lacks + ``dataset-metadata.json``: :mod:`devtools.code_dataset`) and
``<out>/kernels/<stage slug>/`` (the notebook generated from its ``nbXX_*.py`` with ``TASK`` set
to the task in its parameters cell + ``kernel-metadata.json``: :mod:`devtools.kernels`),
then calls the kaggle CLI: upload the code dataset (``datasets create``, or ``datasets version``
when it exists) and wait until it is ready; push each notebook (``kernels push``, which also
runs it) and wait until its run completes, since the next notebook reads its output. Finally
prints the ``kaggle competitions submit`` line for the submission notebook: submitting spends a
daily submission, so it is left to you.

``--task`` (a name registered in :mod:`common.tasks`) picks the competition: every slug is
``<competition>-<stage suffix>`` (``<competition>-prep`` ... ``<competition>-submission``), the
kernels attach that competition, and the submit line names it. The same four notebooks run
every task.

Stage outputs reach later stages as kernel outputs (``kernel_sources``), mounted at
``/kaggle/input/<stage slug>``. ``--chain datasets`` instead downloads each upstream output
(``kaggle kernels output``) and publishes it as the dataset ``<user>/<stage slug>``, which mounts
at the same path; use it to freeze an output, or when you want to edit it before the next stage.

The GPU stages (nb02, nb03) run on ``--machine-shape`` (default ``NvidiaTeslaT4``, "GPU T4 x2";
written as ``machine_shape`` in their ``kernel-metadata.json``, which needs the kaggle 2.x CLI).
They fetch pretrained weights with timm over the notebook's internet; ``--weights-dataset`` and
``--model-source`` (repeatable) attach weights as a Kaggle dataset or model instead (point
``model.pretrained_file`` at the file under ``/kaggle/input``). ``--resume`` attaches nb02's own
latest output to its next run, which copies the finished folds and the ``resume/`` states back
into ``/kaggle/working`` and continues (:mod:`common.stages.restore`): a 5-fold run spread over
several 12-hour sessions is the same push, repeated.

``--dry-run`` writes the folders and prints the exact commands, calling nothing; the same list
goes to ``<out>/push_commands.sh``. The user name comes from ``--user`` or the kaggle CLI's own
configuration (``KAGGLE_USERNAME`` or ``kaggle.json``); no credential is ever written here.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.core.kaggle import PLACEHOLDER_USER, kaggle_username, write_dataset_metadata
from common.tasks import DEFAULT_TASK, get_task, task_names
from devtools.code_dataset import build_code_dataset
from devtools.kernels import (
    DEFAULT_MACHINE_SHAPE,
    KERNEL_PLANS,
    KernelOptions,
    code_dataset_slug,
    kernel_metadata,
    title_for_slug,
    write_kernel_metadata,
)
from devtools.notebooks import notebook_path, write_notebook
from devtools.pipeline import REPO_ROOT, STAGES, Stage
from devtools.wheels import download_wheels, ship_wheels


@dataclass(frozen=True)
class Step:
    """One thing the push does.

    ``kind``: ``upload_dataset`` (create, or version if ``<ref>`` exists), ``wait_dataset``
    (until ready), ``push_kernel``, ``wait_kernel`` (until its run completes) or
    ``download_output`` (a kernel's output into ``folder``). ``ref`` is ``<user>/<slug>``.
    """

    kind: str
    ref: str
    folder: Path | None = None
    message: str = ""
    commands: tuple[tuple[str, ...], ...] = field(default=())


def dataset_commands(folder: Path, ref: str, message: str) -> tuple[tuple[str, ...], ...]:
    """``status`` (does it exist?), then ``version`` if it does, else ``create``. Folders inside
    the dataset (``common/``) are uploaded as zip archives, which Kaggle unpacks in place."""
    return (("kaggle", "datasets", "status", ref),
            ("kaggle", "datasets", "version", "-p", str(folder), "-r", "zip", "-m", message),
            ("kaggle", "datasets", "create", "-p", str(folder), "-r", "zip"))


def plan_push(user: str, out_dir: str | Path, stages: tuple[Stage, ...], chain: str = "kernels",
              message: str = "pushed by devtools.push", repo_root: str | Path = REPO_ROOT,
              all_stages: tuple[Stage, ...] = STAGES, task: str = DEFAULT_TASK,
              preset: str = "default", options: KernelOptions | None = None,
              wheels: str | Path | None = None) -> list[Step]:
    """Write every push folder under ``out_dir`` and return the steps, in order.

    ``stages`` are the stages to push (their scripts must exist); ``task`` names every slug
    (``stage.slug_for(task)``) and is written into each notebook's parameters cell as ``TASK``,
    ``preset`` as ``PRESET`` (``smoke`` for a first push that costs minutes of Kaggle time),
    since Kaggle runs the notebook as it is. With ``chain="datasets"`` an output folder
    ``<out>/outputs/<slug>/`` with its ``dataset-metadata.json`` is written for each pushed
    stage that a later pushed stage reads. ``options``: the GPU and the extra sources of the
    kernels (:class:`devtools.kernels.KernelOptions`).
    """
    out_dir = Path(out_dir)
    code_slug = code_dataset_slug(task)
    code_ref = f"{user}/{code_slug}"
    code_dir = build_code_dataset(out_dir / "datasets" / code_slug, user, repo_root, task=task)
    if wheels is not None:  # the inference backends' wheels, for nb04's offline install
        ship_wheels(wheels, code_dir)
    steps = [Step("upload_dataset", code_ref, code_dir, message,
                  dataset_commands(code_dir, code_ref, message)),
             Step("wait_dataset", code_ref, commands=(("kaggle", "datasets", "status", code_ref),))]
    read_later = {name for s in stages for name in KERNEL_PLANS[s.name].upstream}
    for stage in stages:
        script = Path(repo_root) / stage.script
        slug = stage.slug_for(task)
        kernel_dir = out_dir / "kernels" / slug
        if kernel_dir.exists():
            shutil.rmtree(kernel_dir)
        write_notebook(script, kernel_dir / notebook_path(script).name,
                       parameters={"TASK": task, "PRESET": preset})
        metadata = kernel_metadata(stage, user, all_stages, chain=chain, task=task,
                                   options=options)
        write_kernel_metadata(kernel_dir, metadata)
        ref = metadata["id"]
        steps.append(Step("push_kernel", ref, kernel_dir, describe_kernel(metadata),
                          commands=(("kaggle", "kernels", "push", "-p", str(kernel_dir)),)))
        steps.append(Step("wait_kernel", ref,
                          commands=(("kaggle", "kernels", "status", ref),)))
        if chain == "datasets" and stage.name in read_later:
            output_dir = out_dir / "outputs" / slug
            output_dir.mkdir(parents=True, exist_ok=True)
            steps.append(Step("download_output", ref, output_dir, commands=(
                ("kaggle", "kernels", "output", ref, "-p", str(output_dir), "-o"),)))
            # Written after the download too: the stage's own copy may name another user.
            write_dataset_metadata(output_dir, slug, title_for_slug(slug), user)
            steps.append(Step("upload_dataset", ref, output_dir, message,
                              dataset_commands(output_dir, ref, message)))
            steps.append(Step("wait_dataset", ref,
                              commands=(("kaggle", "datasets", "status", ref),)))
    return steps


def describe_kernel(metadata: dict) -> str:
    """One line on what a kernel runs on and reads, from its ``kernel-metadata.json``."""
    machine = ("GPU " + (metadata.get("machine_shape") or "Kaggle's default")
               if metadata["enable_gpu"] else "CPU")
    parts = [f"{metadata['id']} on {machine}",
             "internet " + ("on" if metadata["enable_internet"] else "off")]
    for key in ("dataset_sources", "kernel_sources", "model_sources"):
        if metadata.get(key):
            parts.append(f"{key} {' '.join(metadata[key])}")
    return "; ".join(parts)


def submit_command(user: str, stage: Stage, version: str = "<version>",
                   message: str = "BirdCLEF 2026 pipeline", task: str = DEFAULT_TASK
                   ) -> tuple[str, ...]:
    """The ``kaggle competitions submit`` call for a code competition: Kaggle reruns
    ``version`` of the task's submission notebook on the hidden test set and scores its
    ``submission.csv``."""
    return ("kaggle", "competitions", "submit", get_task(task).competition,
            "-k", f"{user}/{stage.slug_for(task)}", "-f", "submission.csv", "-v", version,
            "-m", message)


def format_steps(steps: list[Step]) -> list[str]:
    """The steps as shell lines (waits and branches as comments), for printing and the
    ``push_commands.sh`` file."""
    lines = []
    for step in steps:
        if step.kind == "upload_dataset":
            status, version, create = step.commands
            lines += [f"# dataset {step.ref}: if `{shlex.join(status)}` finds it:",
                      shlex.join(version), "# otherwise (first push):", f"# {shlex.join(create)}"]
        elif step.kind == "wait_dataset":
            lines.append(f"# wait until `{shlex.join(step.commands[0])}` says ready")
        elif step.kind == "wait_kernel":
            lines.append(f"# wait until `{shlex.join(step.commands[0])}` says complete")
        elif step.kind == "push_kernel":
            lines += [f"# {step.message}", shlex.join(step.commands[0])]
        else:
            lines += [shlex.join(c) for c in step.commands]
    return lines


class PushFailed(RuntimeError):
    """A kaggle CLI call failed, or a kernel run ended in error; the message says which."""


def _kaggle(command: tuple[str, ...], kaggle_bin: str, check: bool = True
            ) -> subprocess.CompletedProcess:
    result = subprocess.run([kaggle_bin, *command[1:]], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise PushFailed(f"`{shlex.join(command)}` failed (exit {result.returncode}):\n"
                         f"{result.stdout}{result.stderr}")
    return result


def _wait(command: tuple[str, ...], kaggle_bin: str, done: str, failed: tuple[str, ...],
          poll_seconds: float) -> None:
    """Poll a ``status`` command until its output contains ``done``; raise on ``failed``."""
    last = ""
    while True:
        output = _kaggle(command, kaggle_bin, check=False).stdout.strip()
        if output != last:
            print(f"  {output}", flush=True)
            last = output
        lowered = output.lower()  # e.g. 'me/x has status "kernelworkerstatus.complete"'
        if re.search(rf"\b{done}\b", lowered):
            return
        if any(word in lowered for word in failed):
            raise PushFailed(f"`{shlex.join(command)}`: {output}")
        time.sleep(poll_seconds)


def run_steps(steps: list[Step], kaggle_bin: str, poll_seconds: float = 60.0,
              wait: bool = True) -> dict[str, str]:
    """Run the steps with the kaggle CLI; return ``{kernel ref: pushed version}``."""
    versions: dict[str, str] = {}
    for step in steps:
        if step.kind == "upload_dataset":
            status, version, create = step.commands
            exists = _kaggle(status, kaggle_bin, check=False).returncode == 0
            command = version if exists else create
            print(f"$ {shlex.join(command)}", flush=True)
            print(_kaggle(command, kaggle_bin).stdout.strip())
        elif step.kind == "wait_dataset":
            if wait:
                _wait(step.commands[0], kaggle_bin, "ready", ("error",), poll_seconds)
        elif step.kind == "wait_kernel":
            if wait:
                _wait(step.commands[0], kaggle_bin, "complete", ("error", "cancel"),
                      poll_seconds)
        else:
            for command in step.commands:
                print(f"$ {shlex.join(command)}", flush=True)
                output = _kaggle(command, kaggle_bin).stdout.strip()
                print(output)
                if step.kind == "push_kernel":
                    if "error" in output.lower():
                        raise PushFailed(f"`{shlex.join(command)}`: {output}")
                    match = re.search(r"Kernel version (\d+)", output)
                    versions[step.ref] = match.group(1) if match else "<version>"
    return versions


def find_kaggle_cli() -> str:
    """The kaggle executable: on PATH, else next to this Python (the venv's ``bin/``)."""
    found = shutil.which("kaggle") or Path(sys.executable).with_name("kaggle")
    if not Path(found).is_file():
        raise FileNotFoundError("the kaggle CLI is not installed: pip install kaggle "
                                "(it is in requirements.txt)")
    return str(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK,
                        help="competition to push the notebooks for: %(choices)s "
                        "(default: %(default)s)")
    parser.add_argument("--user", default="",
                        help="Kaggle user name (default: the kaggle CLI's configuration)")
    parser.add_argument("--out", default=str(REPO_ROOT / "kaggle_push"),
                        help="where the push folders are written (default: kaggle_push/)")
    parser.add_argument("--stages", default=None,
                        help="comma-separated subset, e.g. nb04 (default: every stage script "
                             "that exists)")
    parser.add_argument("--preset", default="default",
                        help="PRESET written into every notebook: smoke for a first push "
                        "(minutes of Kaggle time), default for the real recipe")
    parser.add_argument("--chain", choices=("kernels", "datasets"), default="kernels",
                        help="how outputs reach later stages (see above)")
    parser.add_argument("--message", default="pushed by devtools.push",
                        help="dataset version notes and submission message")
    parser.add_argument("--machine-shape", default=DEFAULT_MACHINE_SHAPE,
                        help="accelerator of the GPU stages, kernel-metadata's machine_shape "
                        "(default: %(default)s = GPU T4 x2; '' = Kaggle's default)")
    parser.add_argument("--weights-dataset", action="append", default=[], metavar="OWNER/SLUG",
                        help="attach a dataset of pretrained weights to nb02/nb03 (repeatable)")
    parser.add_argument("--model-source", action="append", default=[],
                        metavar="OWNER/MODEL/FRAMEWORK/VARIATION/VERSION",
                        help="attach a Kaggle model (pretrained weights) to nb02/nb03 "
                        "(repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="attach nb02's own latest output so its next run continues it")
    parser.add_argument("--dry-run", action="store_true",
                        help="write the folders and print the commands; call nothing")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for datasets and kernel runs to finish")
    parser.add_argument("--wheels", action="store_true",
                        help="ship the ONNX Runtime / OpenVINO wheels (requirements-infer.txt, "
                        "for Kaggle's Python 3.11) in the code dataset's wheels/ folder, so nb04 "
                        "can run predict.backend=onnxruntime|openvino|auto offline")
    parser.add_argument("--poll-seconds", type=float, default=60.0,
                        help="status polling interval while waiting")
    args = parser.parse_args(argv)

    user = kaggle_username(args.user)
    if user == PLACEHOLDER_USER and not args.dry_run:
        parser.error("no Kaggle user: pass --user NAME or set up the kaggle CLI "
                     "(~/.kaggle/kaggle.json from kaggle.com > Settings > API)")
    wanted = args.stages.split(",") if args.stages else [s.name for s in STAGES]
    unknown = set(wanted) - {s.name for s in STAGES}
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; choose from "
                     f"{[s.name for s in STAGES]}")
    stages = []
    for stage in STAGES:
        if stage.name not in wanted:
            continue
        if not (REPO_ROOT / stage.script).is_file():
            print(f"[push] {stage.name}: {stage.script} does not exist yet, skipped")
            continue
        stages.append(stage)

    try:
        options = KernelOptions(args.machine_shape, tuple(args.weights_dataset),
                                tuple(args.model_source), args.resume)
    except ValueError as err:
        parser.error(str(err))
    out_dir = Path(args.out)
    wheels = out_dir / "wheels" if args.wheels else None
    if wheels is not None:
        print(f"[push] wheels: {len(download_wheels(wheels))} in {wheels}")
    steps = plan_push(user, out_dir, tuple(stages), args.chain, args.message,
                      task=args.task, preset=args.preset, options=options, wheels=wheels)
    lines = format_steps(steps)
    (out_dir / "push_commands.sh").write_text(
        "#!/usr/bin/env bash\n# Written by python -m common.kaggle_push; the steps it runs.\n"
        "set -euo pipefail\n" + "\n".join(lines) + "\n")
    final = STAGES[-1]
    pushed_final = final in stages
    if args.dry_run:
        print(f"[push] dry run: folders in {out_dir}; the commands, in order:")
        print("\n".join(lines))
        if pushed_final:
            submit = submit_command(user, final, message=args.message, task=args.task)
            print(f"# then, once its run has completed, submit:\n{shlex.join(submit)}")
        return 0

    try:
        versions = run_steps(steps, find_kaggle_cli(), args.poll_seconds, not args.no_wait)
    except PushFailed as err:
        print(f"[push] stopped: {err}", file=sys.stderr)
        return 1
    if pushed_final:
        version = versions.get(f"{user}/{final.slug_for(args.task)}", "<version>")
        print("[push] done. When the submission notebook's run has completed, submit it with:")
        print(shlex.join(submit_command(user, final, version, args.message, args.task)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
