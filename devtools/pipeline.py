"""Run the four notebooks in order on a local mirror of ``/kaggle/input``.

    python -m common.pipeline --competition-dir DIR --work-dir DIR --preset NAME [--task NAME]

The work dir becomes ``<work-dir>/input/`` (the competition linked in under the task's
competition slug (the task's name), and each stage's working dir at
``input/<dataset slug>``, exactly where the next stage looks for the published dataset) plus
``logs/`` and the final ``submission.csv``. Each stage runs as its script in a fresh process, as
Kaggle would run it; the first failing stage stops the run and its error is shown. The same four
scripts run every task (:mod:`common.tasks.base`): ``--task`` is passed on to each of them.

``--set KEY=VALUE`` (repeatable) passes ``--KEY VALUE`` to every stage whose config has that
parameter (a dotted name or a unique last part), e.g. ``--set teacher=birdnet`` switches the
pretrained teacher on in nb02 (distillation), nb03 and nb04; a key no stage knows is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.core.config import leaf_fields, resolve_alias, stage_class
from common.stages.infer.rows import MEMBER_SUBMISSIONS
from common.tasks import DEFAULT_TASK, get_task, task_names
from common.tasks.base import DATASET_SUFFIXES

if TYPE_CHECKING:
    import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Stage:
    """One notebook script and the stage of the task it runs (``"prep"``, ``"train"``,
    ``"pseudo"`` or ``"infer"``: the key of :meth:`common.tasks.base.Task.slug` and of the stage
    configs' ``STAGE``). Its working dir is published as the task's dataset for that stage."""

    name: str
    script: str
    task_stage: str

    def slug_for(self, task: str = DEFAULT_TASK) -> str:
        """The stage's dataset slug for a task, e.g. ``birdclef-2026-prep``."""
        return get_task(task).slug(self.task_stage)

    @property
    def suffix(self) -> str:
        """What the slug adds to the competition name (``models`` for nb02), for every task."""
        return DATASET_SUFFIXES[self.task_stage]

    @property
    def slug(self) -> str:
        """The slug for the default task (``common.tasks.DEFAULT_TASK``)."""
        return self.slug_for(DEFAULT_TASK)


STAGES = (
    Stage("nb01", "nb01_data_prep.py", "prep"),
    Stage("nb02", "nb02_training.py", "train"),
    Stage("nb03", "nb03_pseudo_labeling.py", "pseudo"),
    Stage("nb04", "nb04_inference.py", "infer"),
)


class StageFailed(RuntimeError):
    """A stage's script exited non-zero; the message holds the end of its log."""


def link_competition(competition_dir: Path, input_root: Path, name: str = DEFAULT_TASK
                     ) -> Path:
    """Make ``input_root/name`` point at the competition folder (symlink, else a copy)."""
    input_root.mkdir(parents=True, exist_ok=True)
    target = input_root / name
    if target.is_symlink() or target.exists():
        if target.resolve() == competition_dir.resolve():
            return target
        if target.is_symlink():
            target.unlink()
        else:
            raise FileExistsError(f"{target} exists and is not the competition folder "
                                  f"{competition_dir}: choose another --work-dir")
    try:
        target.symlink_to(competition_dir.resolve(), target_is_directory=True)
    except OSError:  # filesystems without symlinks
        shutil.copytree(competition_dir, target)
    return target


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROGRESS = re.compile(r"\d+%\|")
_CLEARED = re.compile(r"^ {40,}")
HEARTBEAT_SECONDS = 10.0  # the console hears from a running stage at least this often


def console_line(line: str) -> str | None:
    """The text of a stage's output line as the console would show it, or ``None`` if blank.

    Progress bars redraw with carriage returns: only the last state of a line is kept, and
    terminal escape codes are dropped (the full text goes to the stage's log).
    """
    text = _ANSI.sub("", line.rstrip("\n").rsplit("\r", 1)[-1]).rstrip()
    # A bar cleared with spaces (tqdm's leave=False) can run into the next log line.
    text = _CLEARED.sub("", text)
    return text if text.strip() else None


class ConsoleFilter:
    """Which lines of a stage's output reach the console, so it stays compact but alive.

    Log lines always pass. A progress bar passes when it finishes (100 %) or when no bar line
    was shown for ``interval`` seconds; in between its redraws only go to the log. When the
    stage prints nothing at all for ``interval`` seconds, :meth:`heartbeat` gives a line with
    the elapsed time and the last bar seen, so a long step never looks like a hang.
    """

    def __init__(self, interval: float = HEARTBEAT_SECONDS, clock=time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.started = self.last_shown = self.last_bar_shown = clock()
        self.last_bar = ""

    def line(self, raw: str) -> str | None:
        """The console text of one output line, or ``None`` to keep it in the log only."""
        text = console_line(raw)
        if text is None:
            return None
        now = self.clock()
        if _PROGRESS.search(text):
            self.last_bar = text
            if "100%|" not in text and now - self.last_bar_shown < self.interval:
                return None
            self.last_bar_shown = now
        self.last_shown = now
        return text

    def heartbeat(self) -> str | None:
        """A still-running line when nothing was shown for ``interval`` seconds, else ``None``."""
        now = self.clock()
        if now - self.last_shown < self.interval:
            return None
        self.last_shown = now
        return (f"still running ({_minutes(now - self.started)})"
                + (f", last progress: {self.last_bar}" if self.last_bar else ""))


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class Interrupted(RuntimeError):
    """SIGINT or SIGTERM reached the runner; the message says where it stopped."""


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop_process_group(process: subprocess.Popen, grace_seconds: float = 10.0) -> None:
    """Stop a stage and every process it started (data loaders, decoding pools).

    The stage runs in its own session, so its process group holds all of them: SIGTERM first,
    SIGKILL for what is still there after ``grace_seconds``.
    """
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its group may still hold workers.
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break


def _config_class(stage: Stage, task: str) -> type:
    from common.stages.configs import STAGE_CONFIGS

    return stage_class(STAGE_CONFIGS[stage.task_stage], task)


def parse_settings(items: list[str]) -> dict[str, str]:
    """``["teacher=birdnet", ...]`` -> ``{"teacher": "birdnet"}`` (dashes as underscores)."""
    settings = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        settings[key.strip().replace("-", "_")] = value
    return settings


def stage_flags(settings: dict[str, str], stages: list[Stage], task: str
                ) -> dict[str, list[str]]:
    """Per stage name, the ``--flag value`` pairs of the settings its config has; raises when
    a setting fits no stage (a typo must not be ignored)."""
    flags: dict[str, list[str]] = {stage.name: [] for stage in stages}
    used: set[str] = set()
    for stage in stages:
        valid = leaf_fields(_config_class(stage, task))
        for key, value in settings.items():
            name = resolve_alias(key, valid)
            if name in valid:
                flags[stage.name] += [f"--{name.replace('_', '-')}", value]
                used.add(key)
    unknown = sorted(set(settings) - used)
    if unknown:
        raise ValueError(f"no stage has parameter(s) {unknown}; see each script's --help")
    return flags


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_stage(stage: Stage, input_root: Path, preset: str, log_dir: Path,
              extra_args: list[str] | None = None, task: str = DEFAULT_TASK) -> Path:
    """Run one stage's script; return its working dir.

    Raises :class:`StageFailed` on error; an :class:`Interrupted` raised while it runs (see
    :func:`interrupts_raise`) stops the stage's whole process group first.
    """
    working_dir = input_root / stage.slug_for(task)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{stage.name}.log"
    command = [sys.executable, str(REPO_ROOT / stage.script), "--preset", preset,
               "--task", task, "--input-root", str(input_root), "--working-dir",
               str(working_dir), *(extra_args or [])]
    print(f"[pipeline] {stage.name}: {' '.join(command[1:])}", flush=True)
    start = time.time()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), "MPLBACKEND": "Agg"}
    console = ConsoleFilter()
    with open(log_path, "w") as log_file:
        # A session of its own: a stop reaches the stage's workers too, and a Ctrl-C in the
        # terminal reaches the runner only, which then stops the stage in order.
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1,
                                   start_new_session=True)
        assert process.stdout is not None
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        try:
            while True:
                try:
                    line = lines.get(timeout=1.0)
                except queue.Empty:
                    shown = console.heartbeat()
                else:
                    if line is None:
                        break
                    log_file.write(line)
                    shown = console.line(line)
                if shown is not None:
                    sys.stdout.write(f"  {stage.name} | {shown}\n")
                    sys.stdout.flush()
            code = process.wait()
        except BaseException:
            stop_process_group(process)
            raise
    if code != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        raise StageFailed(f"{stage.name} ({stage.script}) failed with exit code {code}; "
                          f"full log: {log_path}\n--- last lines ---\n{tail}")
    print(f"[pipeline] {stage.name} done in {time.time() - start:.0f} s -> {working_dir}",
          flush=True)
    return working_dir


def member_scores(spec: Any, solution_df: pd.DataFrame, folder: Path) -> dict[str, float]:
    """``{name: score}`` of each single model's submission nb04 wrote in ``folder``
    (:data:`common.stages.infer.rows.MEMBER_SUBMISSIONS`, ``<name>.csv``; a task that blends
    models writes them), scored like the submission; empty without the folder."""
    from common.data.competition import read_csv_str

    return {path.stem: round(float(spec.score(solution_df, read_csv_str(path))), 4)
            for path in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}


def run_pipeline(competition_dir: str | Path, work_dir: str | Path, preset: str,
                 answer_key: str | Path | None = None, stages: tuple[str, ...] | None = None,
                 task: str = DEFAULT_TASK, settings: dict[str, str] | None = None
                 ) -> dict[str, object]:
    """Run the stages in order and collect the submission; returns a summary dict.

    ``settings``: ``{parameter: value}`` passed to every stage that has the parameter
    (:func:`stage_flags`).

    With ``answer_key`` (the hidden solution CSV) the submission is scored with the task's
    metric (:func:`common.tasks.base.score`); the summary holds ``score`` and ``metric``, and
    ``member_scores`` when nb04 wrote single-model submissions (:func:`member_scores`).
    """
    spec = get_task(task)
    competition_dir = Path(competition_dir)
    if not (competition_dir / "sample_submission.csv").is_file():
        raise FileNotFoundError(f"{competition_dir} does not look like a competition folder "
                                "(no sample_submission.csv)")
    work_dir = Path(work_dir).resolve()
    input_root = work_dir / "input"
    link_competition(competition_dir, input_root, spec.competition)
    wanted = [s for s in STAGES if stages is None or s.name in stages]
    flags = stage_flags(settings or {}, wanted, task)
    outputs: dict[str, str] = {}
    for stage in wanted:
        if not (REPO_ROOT / stage.script).is_file():
            print(f"[pipeline] {stage.name}: {stage.script} does not exist yet, skipped")
            continue
        try:
            outputs[stage.name] = str(run_stage(stage, input_root, preset, work_dir / "logs",
                                                flags[stage.name], task=task))
        except Interrupted as stop:
            raise Interrupted(f"{stop} during {stage.name} ({stage.script}); its log: "
                              f"{work_dir / 'logs' / (stage.name + '.log')}") from None
    summary: dict[str, object] = {"task": task, "work_dir": str(work_dir),
                                  "stage_outputs": outputs, "logs": str(work_dir / "logs")}
    produced = input_root / STAGES[-1].slug_for(task) / "submission.csv"
    if produced.is_file():
        final = work_dir / "submission.csv"
        shutil.copyfile(produced, final)
        summary["submission"] = str(final)
        if answer_key:
            from common.data.competition import read_csv_str

            summary["metric"] = spec.metric
            solution_df, submission_df = read_csv_str(answer_key), read_csv_str(final)
            summary["score"] = round(float(spec.score(solution_df, submission_df)), 4)
            members = member_scores(spec, solution_df, produced.parent / MEMBER_SUBMISSIONS)
            if members:
                summary["member_scores"] = members
    (work_dir / "pipeline_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--competition-dir", required=True,
                        help="the competition folder (a folder named like the task)")
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK,
                        help="competition task (common.tasks): %(choices)s "
                        "(default: %(default)s)")
    parser.add_argument("--work-dir", required=True, help="where every stage writes")
    parser.add_argument("--preset", default="default", help="smoke, cpu or default")
    parser.add_argument("--answer-key", default=None,
                        help="solution CSV (the hidden answers) to score the submission with "
                        "the task's metric")
    parser.add_argument("--stages", default=None,
                        help="comma-separated subset, e.g. nb01,nb02 (default: all)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="a parameter for every stage that has it, e.g. teacher=birdnet")
    args = parser.parse_args(argv)
    stages = tuple(args.stages.split(",")) if args.stages else None
    try:
        settings = parse_settings(args.set)
        with interrupts_raise():
            summary = run_pipeline(args.competition_dir, args.work_dir, args.preset,
                                   args.answer_key, stages, args.task, settings)
    except (StageFailed, ValueError) as err:
        print(f"[pipeline] stopped: {err}", file=sys.stderr)
        return 1
    except Interrupted as stop:
        print(f"\n[pipeline] interrupted by {stop}. Every stage resumes where it stopped: run "
              "the same command again to continue.", file=sys.stderr)
        return 130
    print("\n[pipeline] finished. Where everything is:")
    for stage, path in summary["stage_outputs"].items():
        print(f"  {stage:5s} output  {path}")
    print(f"  logs         {summary['logs']}")
    if "submission" in summary:
        print(f"  submission   {summary['submission']}")
    if "score" in summary:
        metric = {"macro_roc_auc": "macro ROC-AUC", "macro_f1": "macro F1"}[summary["metric"]]
        print(f"  score        {metric} {summary['score']:.4f} against the answer key")
        for name, score in dict(summary.get("member_scores") or {}).items():
            print(f"    single model {name}: {metric} {score:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
