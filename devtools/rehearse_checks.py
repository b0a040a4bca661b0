"""The rehearsal's judgement: Kaggle's limits, what the kernels' records show, the report.

:mod:`devtools.rehearse` runs the stages and fills one :class:`StageResult` each;
:func:`kaggle_limits_check` checks a stage's measured time and output against Kaggle's limits,
:func:`probe_problems` reads what the kernel recorded about itself
(:mod:`devtools.rehearse_probe`), and :func:`format_report` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devtools.kernels import KernelPlan
from devtools.pipeline import REPO_ROOT, Stage

GPU_SESSION_SECONDS = 12 * 3600.0  # a Kaggle notebook session (GPU or CPU)
CPU_SESSION_SECONDS = 12 * 3600.0
SUBMISSION_SECONDS = 90 * 60.0  # the competition's limit on the offline submission notebook
OUTPUT_LIMIT_BYTES = 20 * 10**9  # /kaggle/working is saved as output up to 20 GB

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
