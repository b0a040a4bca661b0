"""The stage notebooks: ``.ipynb`` files generated from their ``nbXX_*.py`` sources, and run.

Each ``nbXX_*.py`` (jupytext percent format) is the source of truth; its paired ``.ipynb`` is
generated from it, committed next to it, and kept in sync by

    python -m common.notebooks sync            # regenerate every stage's .ipynb
    python -m common.notebooks sync --check    # exit 1 and name the stale ones (tests do this)

Generated notebooks have no outputs, a ``python3`` kernelspec (the Kaggle CLI needs one) and
cell ids numbered in order, so regenerating an unchanged script gives the same file byte for
byte. ``write_notebook(script, dest, parameters={"TASK": "messy-mashup"})`` writes a copy whose
``parameters`` cell assigns other values (what ``devtools.push`` uploads for another task:
Kaggle runs a notebook as it is, with no papermill to inject parameters). Running them top to
bottom as notebooks, the way Kaggle does, on a local input root:

    python -m common.notebooks run --input-root DIR --preset smoke [--stages nb01,nb02]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jupytext
import nbformat

from common.tasks import DEFAULT_TASK, task_names
from devtools.pipeline import REPO_ROOT, STAGES, Stage

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
PAIRING = "ipynb,py:percent"


def notebook_path(script: str | Path) -> Path:
    """The ``.ipynb`` paired with a stage script (same folder, same stem)."""
    return Path(script).with_suffix(".ipynb")


def stage_scripts(repo_root: str | Path = REPO_ROOT, stages: Sequence[Stage] = STAGES
                  ) -> list[Path]:
    """The stage scripts that exist, in pipeline order (stages still being written are left
    out)."""
    return [Path(repo_root) / s.script for s in stages if (Path(repo_root) / s.script).is_file()]


def build_notebook(script: str | Path, parameters: Mapping[str, Any] | None = None
                   ) -> nbformat.NotebookNode:
    """The notebook generated from a percent-format script: no outputs, the ``python3``
    kernelspec unless the script names another, and ids ``cell-00``, ``cell-01``, ... .

    ``parameters`` (``{name: value}``) rewrites those assignments of the cell tagged
    ``parameters`` (:func:`assign_parameters`); every other byte is the script's. Raises
    ``ValueError`` naming the script if it has no single such cell or the cell assigns no
    ``name``.
    """
    notebook = jupytext.read(script, fmt="py:percent")
    notebook.metadata.setdefault("kernelspec", dict(KERNELSPEC))
    notebook.metadata["jupytext"] = {"formats": PAIRING}
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    if parameters:
        tagged = [c for c in notebook.cells
                  if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
        if len(tagged) != 1:
            raise ValueError(f"{script}: {len(tagged)} code cells are tagged 'parameters', "
                             "expected one (`# %% tags=[\"parameters\"]`)")
        try:
            tagged[0].source = assign_parameters(tagged[0].source, parameters)
        except ValueError as err:
            raise ValueError(f"{script}: {err}") from None
    nbformat.validate(notebook)
    return notebook


def assign_parameters(source: str, parameters: Mapping[str, Any]) -> str:
    """``source`` (a parameters cell) with the top-level assignment of each name set to a value.

    Only the assignment's own line(s) change; the value is written as a Python literal (strings
    in double quotes). A trailing comment that lists the new value as the alternative, as in
    ``TASK = "birdclef-2026"  # or "messy-mashup"``, gets the old value in its place
    (``TASK = "messy-mashup"  # or "birdclef-2026"``); any other comment is kept as it is. A name
    already holding the value is left untouched. Raises ``ValueError`` for a name the cell does
    not assign (naming those it does) or a value with no literal form (e.g. a ``Path``: pass
    ``str(path)``).
    """
    tree = ast.parse(source)
    assigned: dict[str, ast.Assign | ast.AnnAssign] = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            assigned[node.targets[0].id] = node
        elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.value is not None):
            assigned[node.target.id] = node
    unknown = [name for name in parameters if name not in assigned]
    if unknown:
        raise ValueError(f"the parameters cell has no parameter {', '.join(map(repr, unknown))}; "
                         f"it assigns {', '.join(assigned) or 'nothing'}")
    lines = source.splitlines(keepends=True)
    # Edit from the last assignment up, so the positions of the earlier ones stay valid.
    for name in sorted(parameters, key=lambda n: (assigned[n].lineno, assigned[n].col_offset),
                       reverse=True):
        value = assigned[name].value
        assert value is not None and value.end_lineno is not None
        new = parameters[name]
        if _same_literal(value, new):
            continue
        literal = _python_literal(name, new)
        old = ast.get_source_segment(source, value) or ""
        first = lines[value.lineno - 1].encode()
        last = lines[value.end_lineno - 1].encode()
        head = first[:value.col_offset].decode()
        tail = last[value.end_col_offset:].decode()
        code, hash_, comment = tail.partition("#")
        if hash_ and not code.strip() and "\n" not in old:
            for spelling in dict.fromkeys((literal, repr(new))):
                comment = comment.replace(spelling, old)
            tail = code + hash_ + comment
        lines[value.lineno - 1:value.end_lineno] = [head + literal + tail]
    return "".join(lines)


def _same_literal(node: ast.expr, value: Any) -> bool:
    try:
        current = ast.literal_eval(node)
    except ValueError:
        return False
    return type(current) is type(value) and current == value


def _python_literal(name: str, value: Any) -> str:
    """``value`` as Python source that evaluates back to it."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    try:
        round_trips = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        round_trips = False
    if not round_trips:
        raise ValueError(f"{name}={value!r} cannot be written as a Python literal: pass a str, "
                         "number, bool, None, or a list/tuple/dict of them")
    return text


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    """The ``.ipynb`` file contents (nbformat 4 JSON, one-space indent, final newline)."""
    return nbformat.writes(notebook, version=4) + "\n"


def write_notebook(script: str | Path, dest: str | Path | None = None,
                   parameters: Mapping[str, Any] | None = None) -> Path:
    """Generate the notebook of ``script`` into ``dest`` (default: the paired path), with the
    ``parameters`` cell's assignments of ``parameters`` rewritten (see :func:`build_notebook`).
    """
    dest = Path(dest) if dest is not None else notebook_path(script)
    notebook = build_notebook(script, parameters)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(notebook_text(notebook), encoding="utf-8")
    return dest


def notebook_drift(script: str | Path, notebook_file: str | Path | None = None) -> list[str]:
    """How the committed ``.ipynb`` differs from what ``script`` generates ([] when in sync).

    Compares what a reader or Kaggle sees: the number of cells, each cell's type, source and
    metadata (tags such as ``parameters``), the kernelspec, and that no outputs are committed.
    Cell ids and JSON layout are ignored.
    """
    notebook_file = Path(notebook_file) if notebook_file is not None else notebook_path(script)
    if not notebook_file.is_file():
        return [f"{notebook_file.name} is missing"]
    expected = build_notebook(script)
    actual = nbformat.read(notebook_file, as_version=4)
    problems = []
    if actual.metadata.get("kernelspec") != expected.metadata["kernelspec"]:
        problems.append(f"kernelspec is {actual.metadata.get('kernelspec')}, expected "
                        f"{expected.metadata['kernelspec']}")
    if len(actual.cells) != len(expected.cells):
        problems.append(f"{len(actual.cells)} cells, the script has {len(expected.cells)}")
    for index, (got, want) in enumerate(zip(actual.cells, expected.cells)):
        for key in ("cell_type", "source", "metadata"):
            if got.get(key) != want.get(key):
                problems.append(f"cell {index}: {key} differs ({_clip(got.get(key))!r} vs "
                                f"{_clip(want.get(key))!r} in the script)")
        if got.get("outputs"):
            problems.append(f"cell {index} has outputs: commit notebooks without outputs")
    return problems


def _clip(value: Any, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width] + "..."


def sync_notebooks(scripts: Sequence[str | Path] | None = None, check: bool = False
                   ) -> dict[Path, list[str]]:
    """Regenerate the ``.ipynb`` of each stage script whose notebook drifted.

    Returns ``{notebook: problems}`` for the notebooks that were (or, with ``check``, would be)
    rewritten; ``check`` writes nothing.
    """
    stale = {}
    for script in scripts if scripts is not None else stage_scripts():
        problems = notebook_drift(script)
        if problems:
            stale[notebook_path(script)] = problems
            if not check:
                write_notebook(script)
    return stale


@contextlib.contextmanager
def _kernel_environment(pythonpath: Sequence[str | Path]) -> Iterator[None]:
    """Put ``pythonpath`` first on the kernel's PYTHONPATH and select a headless matplotlib
    backend. Papermill starts the kernel with this process's environment and offers no
    per-kernel ``env``, so the variables are set for the duration of the run and restored."""
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "MPLBACKEND")}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [*map(str, pythonpath), *filter(None, [saved["PYTHONPATH"]])])
    os.environ["MPLBACKEND"] = "Agg"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(notebook_file: str | Path, output_file: str | Path,
                     parameters: dict[str, Any], cwd: str | Path,
                     pythonpath: Sequence[str | Path] = (REPO_ROOT,),
                     kernel_name: str = "python3", timeout_seconds: float | None = None
                     ) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh Jupyter kernel, as Kaggle does.

    ``parameters`` are injected after the cell tagged ``parameters`` (papermill); the executed
    notebook, outputs included, is written to ``output_file`` even when a cell fails, and a
    failing cell raises ``papermill.PapermillExecutionError`` with its traceback. The kernel
    runs in ``cwd`` (Kaggle: ``/kaggle/working``) and imports ``common`` from ``pythonpath``.
    """
    import papermill

    Path(output_file).parent.mkdir(parents=True, exist_ok=True)
    with _kernel_environment(pythonpath):
        return papermill.execute_notebook(
            str(notebook_file), str(output_file), parameters=parameters,
            kernel_name=kernel_name, cwd=str(cwd), progress_bar=False,
            execution_timeout=timeout_seconds)


def execute_stage(stage: Stage, input_root: str | Path, preset: str, executed_dir: str | Path,
                  repo_root: str | Path = REPO_ROOT, overrides: dict[str, Any] | None = None,
                  task: str = DEFAULT_TASK) -> Path:
    """Run one stage's notebook on a local input root; return its working dir.

    The notebook is generated from the stage script (so it is never stale); its working dir is
    ``<input_root>/<stage slug for the task>``, where the next stage looks for it, and the
    executed notebook goes to ``<executed_dir>/<stage script stem>.ipynb``. ``task`` is injected
    as the notebook's ``TASK`` parameter.
    """
    script = Path(repo_root) / stage.script
    executed_dir = Path(executed_dir)
    source = write_notebook(script, executed_dir / "source" / notebook_path(script).name)
    working_dir = Path(input_root) / stage.slug_for(task)
    working_dir.mkdir(parents=True, exist_ok=True)
    execute_notebook(
        source, executed_dir / notebook_path(script).name,
        parameters={"PRESET": preset, "TASK": task, "INPUT_ROOT": str(input_root),
                    "WORKING_DIR": str(working_dir), "OVERRIDES": dict(overrides or {})},
        cwd=working_dir, pythonpath=(repo_root,))
    return working_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("sync", help="regenerate each stage's .ipynb from its .py")
    sync.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if a notebook is out of date")
    run = commands.add_parser("run", help="execute the stage notebooks in order")
    run.add_argument("--input-root", required=True,
                     help="folder laid out like /kaggle/input (competition at <task's slug>/)")
    run.add_argument("--preset", default="default", help="smoke, cpu or default")
    run.add_argument("--task", choices=task_names(), default=DEFAULT_TASK,
                     help="competition task (common.tasks): %(choices)s (default: %(default)s)")
    run.add_argument("--stages", default=None, help="comma-separated subset, e.g. nb01,nb02")
    run.add_argument("--executed-dir", default=None,
                     help="where executed notebooks go (default: <input-root>/../notebooks)")
    args = parser.parse_args(argv)

    if args.command == "sync":
        stale = sync_notebooks(check=args.check)
        for path, problems in stale.items():
            verb = "out of date" if args.check else "regenerated"
            print(f"{path.name}: {verb} ({problems[0]}{', ...' if len(problems) > 1 else ''})")
        if args.check and stale:
            print("run `python -m common.notebooks sync` and commit the .ipynb files",
                  file=sys.stderr)
            return 1
        if not stale:
            print(f"{len(stage_scripts())} notebooks in sync")
        return 0

    input_root = Path(args.input_root).resolve()
    executed_dir = Path(args.executed_dir or input_root.parent / "notebooks")
    wanted = args.stages.split(",") if args.stages else [s.name for s in STAGES]
    for stage in STAGES:
        if stage.name not in wanted:
            continue
        if not (REPO_ROOT / stage.script).is_file():
            print(f"[notebooks] {stage.name}: {stage.script} does not exist yet, skipped")
            continue
        print(f"[notebooks] {stage.name}: running {stage.script} as a notebook", flush=True)
        working_dir = execute_stage(stage, input_root, args.preset, executed_dir,
                                    task=args.task)
        print(f"[notebooks] {stage.name} -> {working_dir}", flush=True)
    print(f"[notebooks] executed notebooks in {executed_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
