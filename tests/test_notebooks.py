"""Stage notebooks: generated from their .py in sync, readable, and run top to bottom as notebooks.

The execution tests run every existing stage notebook in order, each in a fresh Jupyter kernel
(papermill), on the tiny synthetic competition with the ``smoke`` preset: the notebook path of
the pipeline. Script mode is covered by tests/test_e2e.py.
"""

from __future__ import annotations

import ast
import json
import shutil

import nbformat
import pytest
from conftest import make_input_root

from common.notebooks import (
    build_notebook,
    execute_stage,
    notebook_drift,
    notebook_path,
    notebook_text,
    stage_scripts,
    sync_notebooks,
    write_notebook,
)
from common.pipeline import REPO_ROOT, STAGES

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


# ---------------------------------------------------------------------------------------------
# Executed as notebooks, in stage order, on one input root.


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory, tiny_competition):
    """Shared state of the in-order run: the input root and which stages completed."""
    root = tmp_path_factory.mktemp("notebooks")
    return {"input_root": make_input_root(root, tiny_competition.competition_dir),
            "executed_dir": root / "executed", "done": set()}


def expect_outputs(stage_name, working_dir, competition_dir):
    if stage_name == "nb01":
        for name in ("train_folds.csv", "species.csv", "soundscape_labels_folds.csv"):
            assert (working_dir / name).is_file(), name
    elif stage_name == "nb04":
        from common.competition import read_csv_str

        submission = read_csv_str(working_dir / "submission.csv")
        sample = read_csv_str(competition_dir / "sample_submission.csv")
        assert list(submission.columns) == list(sample.columns)
    else:
        assert any(working_dir.iterdir()), f"{stage_name} wrote nothing"


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_stage_notebook_runs_top_to_bottom(stage, notebook_run, tiny_competition):
    if not (REPO_ROOT / stage.script).is_file():
        pytest.skip(f"{stage.script} does not exist yet")
    from common.kaggle import KERNEL_PLANS

    missing = [n for n in KERNEL_PLANS[stage.name].upstream
               if (REPO_ROOT / next(s.script for s in STAGES if s.name == n)).is_file()
               and n not in notebook_run["done"]]
    if missing:
        pytest.fail(f"{stage.name} needs {missing}, whose notebook run failed")
    working_dir = execute_stage(stage, notebook_run["input_root"], "smoke",
                                notebook_run["executed_dir"])
    executed = nbformat.read(notebook_run["executed_dir"] / notebook_path(stage.script).name,
                             as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "smoke" in injected[0].source
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert working_dir == notebook_run["input_root"] / stage.slug
    expect_outputs(stage.name, working_dir, tiny_competition.competition_dir)
    notebook_run["done"].add(stage.name)
