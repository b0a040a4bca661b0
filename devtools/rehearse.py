"""A Kaggle rehearsal, run here: the push's own files, executed as Kaggle would execute them.

    python -m common.rehearse --preset smoke [--competition-dir DIR] [--work-dir DIR]

1. Builds exactly what ``python -m common.kaggle_push --preset <preset>`` uploads
   (:func:`devtools.push.plan_push`: the code dataset and each stage's kernel folder with its
   generated ``.ipynb``, ``PRESET`` and ``TASK`` written in, and ``kernel-metadata.json``), under
   ``<work>/push/``.
2. Unpacks the code dataset as Kaggle serves it after ``-r zip`` (:mod:`devtools.kaggle_tree`).
3. For each stage, in order: a fresh ``input/`` laid out from that stage's
   ``kernel-metadata.json`` the current Kaggle way (``competitions/<competition>``,
   ``datasets/<owner>/<slug>``, ``notebooks/<owner>/<slug>`` = an earlier stage's output), an
   EMPTY ``working/``, and the pushed ``.ipynb`` executed top to bottom in a real Jupyter kernel
   (papermill injects only ``INPUT_ROOT`` and ``WORKING_DIR``, which stand for
   ``/kaggle/input`` and ``/kaggle/working``, and nb04's thread count). The kernel starts in
   ``working/`` with no ``PYTHONPATH``: the repo is not importable, and the notebook's
   bootstrap cell finds ``common`` in the unpacked code dataset (its ``KAGGLE_INPUT_ROOT`` is
   set to the stage's ``input/``; on Kaggle it is unset and the cell reads ``/kaggle/input``).
   A stage whose kernel has internet off (nb04) runs under ``unshare -n`` (a network namespace
   with only a loopback), with Kaggle's 4 CPU threads (``OMP_NUM_THREADS=4`` and the config's
   ``threads``) and ``HF_HUB_OFFLINE=1``.
4. Reports per stage: ran (ok / failed with the end of its log), wall time, output size, the
   check against Kaggle's limits, where ``common`` (and the packages the code dataset vendors)
   came from and whether the kernel had network, both recorded from inside the kernel
   (:mod:`devtools.rehearse_probe`, judged by :mod:`devtools.rehearse_checks`). Exit 1 if a
   stage failed, was over a limit, imported ``common`` from anywhere but the code dataset (or
   had the repo on its path), or had network when its kernel has internet off.

Everything stays under the work dir (default: a new temporary folder) for inspection:
``stages/<stage>/{input,working,executed.ipynb,log.txt,probe.json}`` and ``rehearsal.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from common.core.kaggle import kaggle_username
from common.tasks import DEFAULT_TASK, get_task, task_names
from devtools.code_dataset import KAGGLE_EXTRAS
from devtools.kaggle_tree import folder_bytes, mount_inputs, unpack_dataset
from devtools.kernels import KERNEL_PLANS, code_dataset_slug
from devtools.pipeline import REPO_ROOT, STAGES, Stage, stop_process_group
from devtools.push import plan_push
from devtools.rehearse_checks import (
    StageResult,
    format_report,
    kaggle_limits_check,
    probe_problems,
)

KAGGLE_CPU_THREADS = 4  # CPUs of a Kaggle CPU notebook, the submission's hardware
MARKER = ".rehearsal"  # marks a work dir this command made, so re-running may clear it


class RehearsalError(RuntimeError):
    """The rehearsal could not be set up as asked; the message says what to change."""


def network_isolation() -> tuple[list[str], str]:
    """The command prefix that runs a process without network, and ``""``; or ``[]`` and why
    not. ``unshare -n`` as root, ``unshare -rn`` (a user namespace) otherwise."""
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    if shutil.which("unshare") is None:
        return [], "unshare (util-linux) is not installed"
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return [], f"`{' '.join(prefix)} true` failed: {probe.stderr.strip()}"
    return prefix, ""


def prepare_work_dir(work_dir: str | Path | None) -> Path:
    """A fresh work dir: a new temporary folder, or ``work_dir`` emptied if this command made
    it (it holds the marker file) or created if missing."""
    if work_dir is None:
        path = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    else:
        path = Path(work_dir).resolve()
        if path.exists() and any(path.iterdir()):
            if not (path / MARKER).is_file():
                raise RehearsalError(f"{path} is not empty and was not made by a rehearsal: "
                                     "choose a new --work-dir")
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by python -m common.rehearse; cleared when it re-runs\n")
    return path


def synthetic_competition(task: str, root: Path) -> Path:
    """Generate the task's tiny synthetic competition under ``root``; return its folder."""
    if task == "birdclef-2026":
        from devtools.synthetic.birdclef.generate import generate_competition

        return generate_competition(root, size="tiny", seed=0).competition_dir
    if task == "messy-mashup":
        from devtools.synthetic.mashup.generate import generate_mashup_competition

        return generate_mashup_competition(root, size="tiny", seed=0).competition_dir
    raise RehearsalError(f"no synthetic competition for task {task!r}: pass --competition-dir")


def _kernel_env(input_root: Path, ipython_dir: Path, probe: Path, offline: bool) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MPLBACKEND", "KAGGLE_INPUT_ROOT")}
    shipped = ["common", *(name for names in KAGGLE_EXTRAS.values() for name in names)]
    env.update(KAGGLE_INPUT_ROOT=str(input_root), IPYTHONDIR=str(ipython_dir),
               REHEARSAL_PROBE=str(probe), REHEARSAL_MODULES=",".join(shipped))
    if offline:
        threads = str(KAGGLE_CPU_THREADS)
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, HF_HUB_OFFLINE="1")
    return env


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "".join(text.splitlines(keepends=True)[-lines:])


def processes_in(folder: Path) -> list[int]:
    """Pids of the processes whose working dir is ``folder`` (Linux ``/proc``)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/cwd") == str(folder):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def stop_processes_in(folder: Path, grace_seconds: float = 5.0) -> None:
    """Stop what still runs in a stage's working dir once its runner is stopped: the kernel
    (a session of its own, started by jupyter_client) and the workers it started. Waiting for
    the kernel to notice its parent is gone is not enough: its workers outlive it."""
    folder = folder.resolve()
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, grace_seconds)):
        pids = processes_in(folder)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while processes_in(folder) and time.monotonic() < deadline:
            time.sleep(0.2)


def run_stage(stage: Stage, kernel_dir: Path, stage_dir: Path, mounts: dict,
              ipython_dir: Path, isolation: list[str], code_dir: Path,
              timeout_seconds: float) -> StageResult:
    """Execute one pushed notebook in its Kaggle-shaped tree and judge what its kernel saw.

    ``mounts`` holds the local folders for the attachments (``competitions``, ``datasets``,
    ``notebooks``: see :func:`devtools.kaggle_tree.mount_inputs`); ``isolation`` is the
    ``unshare`` prefix for an offline stage (empty: run with network, said in ``problems``).
    """
    plan = KERNEL_PLANS[stage.name]
    metadata = json.loads((kernel_dir / "kernel-metadata.json").read_text())
    input_root, working = stage_dir / "input", stage_dir / "working"
    mount_inputs(metadata, input_root, **mounts)
    working.mkdir(parents=True)
    probe = stage_dir / "probe.json"
    parameters = {"INPUT_ROOT": str(input_root), "WORKING_DIR": str(working)}
    offline = not plan.internet
    if offline:
        # Kaggle's CPU notebook has 4 CPUs and ``threads=0`` means all of them; a preset may
        # scale threads down, so the rehearsal sets Kaggle's count explicitly.
        parameters["OVERRIDES"] = {"threads": KAGGLE_CPU_THREADS}
    spec = {"notebook": str(kernel_dir / metadata["code_file"]),
            "output": str(stage_dir / "executed.ipynb"), "cwd": str(working),
            "parameters": parameters, "timeout_seconds": None,
            "loopback_up": bool(offline and isolation)}
    (stage_dir / "spec.json").write_text(json.dumps(spec, indent=1) + "\n")
    command = [*(isolation if offline else []), sys.executable, "-m",
               "devtools.rehearse_kernel", str(stage_dir / "spec.json")]
    log = stage_dir / "log.txt"
    print(f"[rehearse] {stage.name}: {' '.join(command[:3])} ... "
          f"{'without network' if offline and isolation else ''}", flush=True)
    start = time.monotonic()
    with open(log, "w") as log_file:
        # A session of its own, so that a timeout or Ctrl-C stops the runner's whole group; the
        # kernel (its own session, started by jupyter_client) exits when its parent is gone.
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=_kernel_env(input_root, ipython_dir, probe, offline))
        try:
            code = process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            stop_process_group(process)
            stop_processes_in(working)
            code = None
        except BaseException:
            stop_process_group(process)
            stop_processes_in(working)
            raise
    wall = time.monotonic() - start
    result = StageResult(stage.name, "ok" if code == 0 else "failed", round(wall, 1),
                         folder_bytes(working), isolated=bool(offline and isolation),
                         working_dir=str(working))
    result.budget = kaggle_limits_check(stage, plan, wall, result.output_bytes)
    if code is None:
        result.problems.append(f"stopped after {timeout_seconds:.0f} s (--stage-timeout)")
    elif code != 0:
        result.problems.append(f"the notebook failed (exit {code}); log: {log}")
    seen = json.loads(probe.read_text()) if probe.is_file() else {}
    result.module_files = seen.get("module_files", {})
    result.had_network = seen.get("connect_error") is None if seen else None
    # Under --allow-network the report shows the network as ON; it is not a failure then.
    result.problems += probe_problems(seen, code_dir, offline and bool(isolation))
    if result.budget and not result.budget.fits:
        result.problems.append(f"over Kaggle's limits: {result.budget.note}")
    if result.problems:
        result.status = "failed"
        result.error_tail = _tail(log)
    return result


def rehearse(preset: str = "smoke", work_dir: str | Path | None = None,
             competition_dir: str | Path | None = None, task: str = DEFAULT_TASK,
             user: str = "", stages: tuple[str, ...] | None = None,
             allow_network: bool = False, timeout_seconds: float = 3600.0
             ) -> tuple[Path, list[StageResult]]:
    """Build the push, lay out Kaggle's tree and run the stages in order; see the module text.

    Stops at the first failing stage (later ones read its output: they are ``skipped``).
    Raises :class:`RehearsalError` when an offline stage cannot be isolated from the network
    and ``allow_network`` is not set. Returns the work dir and one result per stage.
    """
    wanted = [s for s in STAGES if stages is None or s.name in stages]
    unknown = set(stages or ()) - {s.name for s in STAGES}
    if unknown:
        raise RehearsalError(f"unknown stages {sorted(unknown)}; choose from "
                             f"{[s.name for s in STAGES]}")
    for stage in wanted:
        missing = set(KERNEL_PLANS[stage.name].upstream) - {s.name for s in wanted}
        if missing:
            raise RehearsalError(f"{stage.name} attaches the output of {sorted(missing)}: "
                                 "rehearse those stages too (--stages nb01,nb02 ...)")
    isolation, why_not = network_isolation()
    if any(not KERNEL_PLANS[s.name].internet for s in wanted) and not isolation:
        if not allow_network:
            raise RehearsalError(
                f"cannot run the offline stage without network: {why_not}. Run as root (or "
                "enable unprivileged user namespaces), or pass --allow-network to rehearse "
                "with the network on (the report then says so).")
        print(f"[rehearse] WARNING: offline stages run WITH network: {why_not}", flush=True)
    work = prepare_work_dir(work_dir)
    user = kaggle_username(user)
    if competition_dir is None:
        print(f"[rehearse] generating the tiny synthetic {task} competition", flush=True)
        competition_dir = synthetic_competition(task, work / "synthetic")
    competition_dir = Path(competition_dir).resolve()
    if not (competition_dir / "sample_submission.csv").is_file():
        raise RehearsalError(f"{competition_dir} does not look like a competition folder "
                             "(no sample_submission.csv)")

    plan_push(user, work / "push", tuple(wanted), task=task, preset=preset)
    code_ref = f"{user}/{code_dataset_slug(task)}"
    code_dir = unpack_dataset(work / "push" / "datasets" / code_dataset_slug(task),
                              work / "unpacked" / code_ref)
    ipython_dir = work / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    shutil.copyfile(Path(__file__).with_name("rehearse_probe.py"),
                    startup / "00-rehearse-probe.py")

    outputs: dict[str, Path] = {}
    results: list[StageResult] = []
    for stage in wanted:
        if any(r.status != "ok" for r in results):
            results.append(StageResult(stage.name, "skipped"))
            continue
        slug = stage.slug_for(task)
        mounts = {"competitions": {get_task(task).competition: competition_dir},
                  "datasets": {code_ref: code_dir}, "notebooks": outputs}
        result = run_stage(stage, work / "push" / "kernels" / slug, work / "stages" / stage.name,
                           mounts, ipython_dir, isolation, code_dir, timeout_seconds)
        outputs[f"{user}/{slug}"] = Path(result.working_dir)
        results.append(result)
        print(f"[rehearse] {stage.name}: {result.status} in {result.wall_seconds:.0f} s",
              flush=True)
    (work / "rehearsal.json").write_text(json.dumps(
        {"preset": preset, "task": task, "competition_dir": str(competition_dir),
         "stages": [asdict(r) for r in results]}, indent=1) + "\n")
    return work, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="smoke",
                        help="the preset every notebook runs with (default: %(default)s)")
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK,
                        help="competition task: %(choices)s (default: %(default)s)")
    parser.add_argument("--competition-dir", default=None,
                        help="the competition folder (default: generate the tiny synthetic one)")
    parser.add_argument("--work-dir", default=None,
                        help="where the tree is laid out (default: a new temporary folder)")
    parser.add_argument("--user", default="", help="Kaggle owner in the mounted paths "
                        "(default: the kaggle CLI's configuration, else a placeholder)")
    parser.add_argument("--stages", default=None,
                        help="comma-separated prefix of the stages, e.g. nb01,nb02 (default: all)")
    parser.add_argument("--stage-timeout", type=float, default=3600.0,
                        help="stop a stage after this many seconds (default: %(default)s)")
    parser.add_argument("--allow-network", action="store_true",
                        help="where unshare cannot isolate the offline stage, run it with "
                        "network instead of stopping (the report says so)")
    args = parser.parse_args(argv)
    stages = tuple(args.stages.split(",")) if args.stages else None
    try:
        work, results = rehearse(args.preset, args.work_dir, args.competition_dir, args.task,
                                 args.user, stages, args.allow_network, args.stage_timeout)
    except RehearsalError as err:
        print(f"[rehearse] {err}", file=sys.stderr)
        return 2
    print(f"\n[rehearse] preset {args.preset}, task {args.task}; everything under {work}")
    print(format_report(results))
    return 0 if results and all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
