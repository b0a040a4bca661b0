"""``python -m common.budget``: the projected time and output of every stage, on Kaggle.

    python -m common.budget --preset default                  # the real competition's sizes
    python -m common.budget --preset default --competition-dir DIR   # a folder, measured
    python -m common.budget --preset default --set prep.max_cache_gb=25  # exits 1

Prints the table (stage, work, projected time, limit, projected output, limit, fits), the
notes (what nb01 and nb03 will choose, where each speed comes from) and one line per stage
that does not fit, naming the knob. Exit status: 0 when every stage fits, 1 when one does
not, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.budget.facts import (
    DEFAULT_BACKEND,
    LIMITS_PATH,
    THROUGHPUTS_PATH,
    load_limits,
    load_throughputs,
)
from common.budget.plan import format_table, plan_budget, resolve_recipe, split_overrides
from common.budget.workload import Workload
from common.tasks import DEFAULT_TASK, get_task


def build_workload(task_name: str, competition_dir: str | None) -> Workload:
    """The task's published sizes, or its measure of ``competition_dir``."""
    task = get_task(task_name)
    if competition_dir:
        return task.measure_workload(Path(competition_dir))
    return task.published_workload()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.budget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default", help="stage preset (default, cpu, smoke)")
    parser.add_argument("--task", default=DEFAULT_TASK, help="competition task")
    parser.add_argument("--competition-dir", default=None,
                        help="measure this competition folder instead of the published sizes")
    parser.add_argument("--set", nargs="*", default=[], metavar="STAGE.FIELD=VALUE",
                        help="stage config overrides, e.g. prep.cache_seconds=30 pseudo.rounds=3")
    parser.add_argument("--no-adapt", action="store_true",
                        help="project the configs as written: nb01 and nb03 do not fit their "
                        "knobs to the budget")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, help="nb04's inference backend")
    parser.add_argument("--throughputs", default=str(THROUGHPUTS_PATH),
                        help="throughput facts file")
    parser.add_argument("--limits", default=str(LIMITS_PATH), help="Kaggle limits file")
    args = parser.parse_args(argv)
    try:
        overrides = split_overrides(args.set)
        recipe = resolve_recipe(args.task, args.preset, overrides)
        workload = build_workload(args.task, args.competition_dir)
        plan = plan_budget(recipe, workload, load_throughputs(args.throughputs),
                           load_limits(args.limits), adapt=not args.no_adapt,
                           backend=args.backend)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError) as err:
        parser.error(str(err).strip("'\""))
    print(f"Budget for task {args.task}, preset {args.preset}"
          f"{' (as configured, no adaptation)' if args.no_adapt else ''}:\n")
    print(format_table(plan))
    return 0 if plan.fits else 1


if __name__ == "__main__":
    sys.exit(main())
