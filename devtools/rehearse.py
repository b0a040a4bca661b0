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
   check against Kaggle's limits (:func:`kaggle_limits_check`), where ``common`` (and the
   packages the code dataset vendors) came from and
   whether the kernel had network, both recorded from inside the kernel
   (:mod:`devtools.rehearse_probe`). Exit 1 if a stage failed, imported ``common`` from anywhere
   but the code dataset, or had network when its kernel has internet off.

Everything stays under the work dir (default: a new temporary folder) for inspection:
``stages/<stage>/{input,working,executed.ipynb,log.txt,probe.json}`` and ``rehearsal.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.core.kaggle import kaggle_username
from common.tasks import DEFAULT_TASK, get_task, task_names
from devtools.code_dataset import KAGGLE_EXTRAS
from devtools.kaggle_tree import folder_bytes, mount_inputs, unpack_dataset
from devtools.kernels import KERNEL_PLANS, KernelPlan, code_dataset_slug
from devtools.pipeline import REPO_ROOT, STAGES, Stage
from devtools.push import plan_push

KAGGLE_CPU_THREADS = 4  # CPUs of a Kaggle CPU notebook, the submission's hardware
GPU_SESSION_SECONDS = 12 * 3600.0  # a Kaggle notebook session (GPU or CPU)
CPU_SESSION_SECONDS = 12 * 3600.0
SUBMISSION_SECONDS = 90 * 60.0  # the competition's limit on the offline submission notebook
OUTPUT_LIMIT_BYTES = 20 * 10**9  # /kaggle/working is saved as output up to 20 GB
MARKER = ".rehearsal"  # marks a work dir this command made, so re-running may clear it


class RehearsalError(RuntimeError):
    """The rehearsal could not be set up as asked; the message says what to change."""


@dataclass(frozen=True)
class BudgetCheck:
    """A stage's measured run against its Kaggle limits (seconds, bytes)."""

    time_limit_seconds: float
    output_limit_bytes: int
    fits: bool
    note: str = ""


def kaggle_limits_check(stage: Stage, plan: KernelPlan, wall_seconds: float,
                        output_bytes: int) -> BudgetCheck:
    """Check one stage's measured wall time (s) and output size (bytes) against Kaggle's limits.

    The limits follow the stage's kernel plan: 12 h for a GPU session, 90 min for the offline
    submission notebook, 12 h for another CPU session; 20 GB of output for all. This is the one
    place the rehearsal judges a budget: the planner of issue 12 (``common.budget``) can replace
    its body with its projection for ``stage`` at the rehearsed preset.
    """
    if plan.gpu:
        limit = GPU_SESSION_SECONDS
    elif not plan.internet:
        limit = SUBMISSION_SECONDS
    else:
        limit = CPU_SESSION_SECONDS
    over = []
    if wall_seconds > limit:
        over.append(f"time {wall_seconds:.0f} s > {limit:.0f} s")
    if output_bytes > OUTPUT_LIMIT_BYTES:
        over.append(f"output {output_bytes / 1e9:.1f} GB > {OUTPUT_LIMIT_BYTES / 1e9:.0f} GB")
    return BudgetCheck(limit, OUTPUT_LIMIT_BYTES, not over, "; ".join(over))


@dataclass
class StageResult:
    """What one stage's rehearsal did. ``status``: ``ok``, ``failed`` or ``skipped``."""

    stage: str
    status: str
    wall_seconds: float = 0.0
    output_bytes: int = 0
    budget: BudgetCheck | None = None
    isolated: bool = False  # ran in a network namespace of its own
    had_network: bool | None = None  # from inside the kernel: a public address connected
    module_files: dict[str, str | None] = field(default_factory=dict)  # from the kernel
    problems: list[str] = field(default_factory=list)
    error_tail: str = ""
    working_dir: str = ""


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


def probe_problems(seen: dict, code_dir: Path, offline: bool,
                   repo_root: Path = REPO_ROOT) -> list[str]:
    """What a kernel's record (:mod:`devtools.rehearse_probe`) shows would go wrong on Kaggle:
    ``common`` never imported, the repo on its ``sys.path``, a shipped package imported from
    outside ``code_dir`` (the unpacked code dataset), network in an ``offline`` stage."""
    if not seen:
        return ["the kernel left no record (did it start?)"]
    problems = []
    modules = seen.get("module_files", {})
    if not modules.get("common"):
        problems.append("the kernel never imported common")
    kernel_path = {Path(seen["cwd"], entry).resolve() for entry in seen.get("sys_path", [])}
    if repo_root.resolve() in kernel_path:
        problems.append(f"the repo {repo_root} was on the kernel's sys.path: the rehearsal "
                        "would not notice a file missing from the upload")
    for name, file in modules.items():
        if file and not Path(file).resolve().is_relative_to(code_dir.resolve()):
            problems.append(f"{name} was imported from {file}, not from the code dataset "
                            f"{code_dir}: the notebook would fail on Kaggle")
    if offline and seen.get("connect_error") is None:
        problems.append("the kernel reached the network although its Kaggle kernel has "
                        "internet off")
    return problems


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
        try:
            code = subprocess.run(command, cwd=REPO_ROOT, stdout=log_file,
                                  stderr=subprocess.STDOUT, timeout=timeout_seconds,
                                  env=_kernel_env(input_root, ipython_dir, probe, offline)
                                  ).returncode
        except subprocess.TimeoutExpired:
            code = None
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


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def format_report(results: list[StageResult]) -> str:
    """The per-stage table: ran, time, output, budget, network, where ``common`` came from."""
    rows = [("stage", "ran", "time", "output", "limit (time, output)", "fits", "network")]
    for r in results:
        budget = r.budget
        limit = (f"{budget.time_limit_seconds / 3600:g} h, {_size(budget.output_limit_bytes)}"
                 if budget else "-")
        network = {None: "-", True: "ON", False: "off"}[r.had_network]
        if r.isolated:
            network += " (unshare -n)"
        rows.append((r.stage, r.status, f"{r.wall_seconds:.0f} s" if budget else "-",
                     _size(r.output_bytes) if budget else "-", limit,
                     {None: "-", True: "yes", False: "NO"}[budget.fits if budget else None],
                     network))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for r in results:
        for problem in r.problems:
            lines.append(f"{r.stage}: {problem}")
        if r.error_tail:
            lines.append(f"--- {r.stage}: last lines of its log ---\n{r.error_tail.rstrip()}")
    return "\n".join(lines)


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
