"""Stage notebooks: generated from their .py in sync, readable, and run top to bottom as notebooks.

The execution tests run the four stage notebooks in order, each in a fresh Jupyter kernel
(papermill), on the tiny synthetic messy-mashup competition with the ``smoke`` preset and the
task injected as the ``TASK`` parameter: the notebook path of the pipeline for the second task.
BirdCLEF's notebooks run in tests/test_rehearse.py (the pushed notebooks in Kaggle's layout);
script mode is covered by tests/test_pipeline.py.
"""

from __future__ import annotations

import ast
import json
import shutil

import nbformat
import pytest
from conftest import make_input_root

from common.tasks import get_task
from devtools.notebooks import (
    assign_parameters,
    build_notebook,
    execute_stage,
    notebook_drift,
    notebook_path,
    notebook_text,
    stage_scripts,
    sync_notebooks,
    write_notebook,
)
from devtools.pipeline import STAGES

SCRIPTS = stage_scripts()
SCRIPT_IDS = [p.stem for p in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_committed_notebook_matches_its_script(script):
    problems = notebook_drift(script)
    assert not problems, (f"{notebook_path(script).name} drifted from {script.name}: "
                          f"{problems[:3]}; run `python -m common.notebooks sync`")


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_notebook_shape(script):
    """Kernelspec (the Kaggle CLI needs it), a parameters cell, prose, and no def/class."""
    notebook = build_notebook(script)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    markdown = [c for c in notebook.cells if c.cell_type == "markdown"]
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    assigned = {t.id for node in ast.parse(parameters[0].source).body
                if isinstance(node, ast.Assign) for t in node.targets}
    assert {"PRESET", "INPUT_ROOT", "WORKING_DIR", "OVERRIDES"} <= assigned
    assert notebook.cells[0].cell_type == "markdown" and len(markdown) >= 3
    for cell in code:
        tree = ast.parse(cell.source)
        assert not [n for n in ast.walk(tree) if isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)], cell.source[:80]


def test_generation_is_deterministic_and_sync_repairs_drift(tmp_path):
    script = tmp_path / "nb99_example.py"
    shutil.copyfile(SCRIPTS[0], script)
    first = notebook_text(build_notebook(script))
    assert first == notebook_text(build_notebook(script))
    assert [c["id"] for c in json.loads(first)["cells"]][:2] == ["cell-00", "cell-01"]
    assert notebook_drift(script) == ["nb99_example.ipynb is missing"]
    write_notebook(script)
    assert notebook_drift(script) == []

    script.write_text(script.read_text() + '\n# %%\nprint("one more cell")\n')
    assert any("cells" in p for p in notebook_drift(script))
    before = notebook_path(script).read_text()
    assert list(sync_notebooks([script], check=True)) == [notebook_path(script)]
    assert notebook_path(script).read_text() == before  # check writes nothing
    sync_notebooks([script])
    assert notebook_drift(script) == []

    notebook = nbformat.read(notebook_path(script), as_version=4)
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    notebook.metadata.pop("kernelspec")
    nbformat.write(notebook, notebook_path(script))
    problems = " ".join(notebook_drift(script))
    assert "kernelspec" in problems and "outputs" in problems


def parameters_source(notebook: nbformat.NotebookNode) -> str:
    return next(c.source for c in notebook.cells if "parameters" in c.metadata.get("tags", []))


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_notebook_with_another_task_changes_only_the_task_line(script, tmp_path):
    """What devtools.push uploads for another task: Kaggle runs the notebook as it is."""
    dest = write_notebook(script, tmp_path / "pushed.ipynb", parameters={"TASK": "messy-mashup"})
    pushed = nbformat.read(dest, as_version=4)
    generated = build_notebook(script)
    before = parameters_source(generated).splitlines()
    after = parameters_source(pushed).splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    # The alternative named in the comment becomes the script's own value.
    assert after[changed[0]] == 'TASK = "messy-mashup"  # or "birdclef-2026" (common.tasks)'
    assert before[changed[0]].startswith('TASK = "birdclef-2026"')
    for cell in pushed.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = parameters_source(generated)
    assert pushed == generated


@pytest.mark.parametrize("script", SCRIPTS, ids=SCRIPT_IDS)
def test_notebook_parameters_holding_the_scripts_values_change_no_byte(script, tmp_path):
    """The script's own values (BirdCLEF pushes TASK="birdclef-2026") give the generated file
    byte for byte, as do no parameters (what `sync` commits)."""
    generated = notebook_text(build_notebook(script))
    assert write_notebook(script, tmp_path / "plain.ipynb").read_text() == generated
    same = write_notebook(script, tmp_path / "same.ipynb",
                          parameters={"TASK": "birdclef-2026", "PRESET": "default"})
    assert same.read_text() == generated


def test_unknown_parameter_names_the_cells_parameters(tmp_path):
    with pytest.raises(ValueError, match="no parameter 'TSK'.*PRESET, TASK, INPUT_ROOT") as err:
        write_notebook(SCRIPTS[0], tmp_path / "x.ipynb", parameters={"TSK": "messy-mashup"})
    assert SCRIPTS[0].name in str(err.value)
    assert not (tmp_path / "x.ipynb").exists()


def test_assign_parameters_edits_only_the_assignment():
    source = ('PRESET = "default"  # or "smoke"\n'
              "OVERRIDES = {\n"
              '    "n_folds": 5,  # five folds\n'
              "}\n"
              "SEED: int = 1\n"
              "A = 1; B = 2  # B: two\n"
              "LEFT = 'x'  # a comment that names no alternative\n")
    edited = assign_parameters(source, {"PRESET": "smoke", "OVERRIDES": {"n_folds": 2},
                                        "SEED": 7, "B": [1, "two"], "LEFT": 'x"y'})
    assert edited == ('PRESET = "smoke"  # or "default"\n'
                      "OVERRIDES = {'n_folds': 2}\n"
                      "SEED: int = 7\n"
                      "A = 1; B = [1, 'two']  # B: two\n"
                      "LEFT = \"x\\\"y\"  # a comment that names no alternative\n")
    namespace: dict = {}
    exec(edited, namespace)
    assert (namespace["PRESET"], namespace["LEFT"], namespace["A"]) == ("smoke", 'x"y', 1)
    assert assign_parameters(source, {"LEFT": "x"}) == source  # already that value: untouched
    with pytest.raises(ValueError, match="literal"):
        assign_parameters(source, {"PRESET": shutil})
    with pytest.raises(ValueError, match="it assigns PRESET, OVERRIDES, SEED, A, B, LEFT"):
        assign_parameters(source, {"preset": "smoke"})


# ---------------------------------------------------------------------------------------------
# Executed as notebooks, in stage order, on one input root.


# BirdCLEF's four notebooks run in tests/test_rehearse.py, as the push uploads them, in Kaggle's
# input layout and with the repo not importable: a stricter run of the same notebook path, so
# they are not run a second time here.
RUNS = [(task, stage) for task in ("messy-mashup",) for stage in STAGES]


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory):
    """Shared state of the in-order runs, per task: input root and which stages completed."""
    return {}


def _task_run(notebook_run, request, task):
    if task not in notebook_run:
        fixture = "tiny_competition" if task == "birdclef-2026" else "tiny_mashup_competition"
        competition = request.getfixturevalue(fixture)
        root = request.getfixturevalue("tmp_path_factory").mktemp(f"notebooks-{task}")
        notebook_run[task] = {
            "competition": competition,
            "input_root": make_input_root(root, competition.competition_dir,
                                          get_task(task).competition),
            "executed_dir": root / "executed", "done": set()}
    return notebook_run[task]


def expect_outputs(stage_name, working_dir, competition_dir, task):
    spec = get_task(task)
    if stage_name == "nb01":
        for name in ("train_folds.csv", "species.csv", "soundscape_labels_folds.csv"):
            assert (working_dir / name).is_file(), name
    elif stage_name == "nb04":
        from common.data.competition import read_csv_str

        submission = read_csv_str(working_dir / "submission.csv")
        sample = read_csv_str(competition_dir / "sample_submission.csv")
        assert list(submission.columns) == list(sample.columns)
        assert set(submission[spec.id_column]) >= set(sample[spec.id_column])
    else:
        assert any(working_dir.iterdir()), f"{stage_name} wrote nothing"


@pytest.mark.parametrize(("task", "stage"), RUNS, ids=[f"{t}-{s.name}" for t, s in RUNS])
def test_stage_notebook_runs_top_to_bottom(task, stage, notebook_run, request):
    from devtools.kernels import KERNEL_PLANS

    run = _task_run(notebook_run, request, task)
    missing = [n for n in KERNEL_PLANS[stage.name].upstream if n not in run["done"]]
    if missing:
        pytest.fail(f"{task} {stage.name} needs {missing}, whose notebook run failed")
    working_dir = execute_stage(stage, run["input_root"], "smoke", run["executed_dir"],
                                task=task)
    executed = nbformat.read(run["executed_dir"] / notebook_path(stage.script).name,
                             as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "smoke" in injected[0].source and task in injected[0].source
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert working_dir == run["input_root"] / stage.slug_for(task)
    config_files = list(working_dir.glob("*_config.json"))
    assert config_files and all(json.loads(f.read_text())["task"] == task for f in config_files)
    expect_outputs(stage.name, working_dir, run["competition"].competition_dir, task)
    run["done"].add(stage.name)
