"""The code dataset the push uploads (:mod:`devtools.code_dataset`): the runtime only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import push as kaggle_push
from devtools.code_dataset import (
    build_code_dataset,
    front_doors,
    imports_tools,
    tool_imports,
    vendor_package,
)
from devtools.kernels import CODE_DATASET_SLUG
from devtools.pipeline import REPO_ROOT

# The documented ``python -m common.<command>`` commands (README): each must stay a front door.
COMMANDS = {"pipeline", "kaggle_push", "notebooks", "sweep", "synthetic", "synthetic_mashup"}


@pytest.fixture(scope="module")
def pushed_code(tmp_path_factory) -> Path:
    """The ``common/`` folder of the code dataset a dry-run push writes (default task)."""
    out = tmp_path_factory.mktemp("push")
    assert kaggle_push.main(["--dry-run", "--user", "me", "--out", str(out)]) == 0
    return out / "datasets" / CODE_DATASET_SLUG / "common"


def test_code_dataset_is_named_after_the_task(tmp_path):
    folder = build_code_dataset(tmp_path / "code", "me", extras={}, task="messy-mashup")
    meta = json.loads((folder / "dataset-metadata.json").read_text())
    assert meta["id"] == "me/messy-mashup-common"
    assert meta["title"] == "Messy Mashup common code"
    assert (folder / "common" / "tasks" / "base.py").is_file()


def test_code_dataset_layout_and_imports(tmp_path):
    folder = build_code_dataset(tmp_path / "code", "me")
    meta = json.loads((folder / "dataset-metadata.json").read_text())
    assert meta["id"] == f"me/{CODE_DATASET_SLUG}"
    assert (folder / "common" / "__init__.py").is_file()
    assert (folder / "common" / "stages" / "prep" / "run.py").is_file()
    assert (folder / "requirements.txt").is_file()
    assert (folder / "iterstrat" / "ml_stratifiers.py").is_file()
    assert list((folder / "iterstrat").glob("LICENSE*"))
    assert not list(folder.rglob("__pycache__")) and not (folder / "tests").exists()
    # What the notebooks' bootstrap does on Kaggle: put the dataset folder first on sys.path.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import common, iterstrat; "
            "print(common.__file__); print(iterstrat.__file__)")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout.split()
    assert all(Path(p).is_relative_to(folder) for p in out)


def test_vendor_package_refuses_compiled_and_missing(tmp_path):
    with pytest.raises(ValueError, match="not pure Python"):
        vendor_package("numpy", ("numpy",), tmp_path)
    with pytest.raises(ModuleNotFoundError, match="not installed"):
        vendor_package("no-such-distribution-xyz", ("nope",), tmp_path)
    assert not list(tmp_path.iterdir())


def test_front_doors_are_the_documented_commands():
    names = {path.stem for path in front_doors(REPO_ROOT / "common")}
    assert COMMANDS <= names, f"front doors lost: {sorted(COMMANDS - names)}"
    assert tool_imports(REPO_ROOT / "common") == []


def test_dry_run_code_dataset_holds_only_the_runtime(pushed_code):
    """No synthetic generator, push or notebook-sync code: no front door, no file that imports
    devtools, nothing that is not a runtime file of ``common/``."""
    shipped = {p.relative_to(pushed_code) for p in pushed_code.rglob("*") if p.is_file()}
    assert Path("__init__.py") in shipped and Path("stages/prep/run.py") in shipped
    for door in front_doors(REPO_ROOT / "common"):
        assert Path(door.name) not in shipped, f"front door {door.name} is shipped"
    assert [p for p in shipped if imports_tools(pushed_code / p)] == []
    assert not [p for p in shipped if "synthetic" in str(p) or p.stem in ("push", "kaggle_push")]
    source = {p.relative_to(REPO_ROOT / "common") for p in (REPO_ROOT / "common").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert shipped <= source
    assert not (pushed_code.parent / "devtools").exists()


def test_code_dataset_refuses_a_runtime_module_that_imports_devtools(tmp_path):
    repo = tmp_path / "repo"
    (repo / "common" / "core").mkdir(parents=True)
    (repo / "common" / "__init__.py").write_text("")
    (repo / "common" / "tool.py").write_text("from devtools.push import main\n")
    (repo / "common" / "core" / "leak.py").write_text(
        "def f():\n    import devtools.sweep\n")
    (repo / "requirements.txt").write_text("")
    with pytest.raises(ValueError, match=r"common/core/leak\.py"):
        build_code_dataset(tmp_path / "code", "me", repo, extras={})
    (repo / "common" / "core" / "leak.py").write_text("import json\n")
    folder = build_code_dataset(tmp_path / "code", "me", repo, extras={})
    assert sorted(p.name for p in (folder / "common").rglob("*.py")) == ["__init__.py",
                                                                       "leak.py"]


IMPORT_ALL = """
import importlib, pkgutil, sys
folder = sys.argv[1]
sys.path.insert(0, folder)
try:
    import devtools
except ImportError:
    pass
else:
    sys.exit(f"devtools is importable from {devtools.__file__}: the repo is on sys.path")
import common
names = ["common"] + [m.name for m in pkgutil.walk_packages(common.__path__, "common.")]
failed = []
for name in names:
    try:
        module = importlib.import_module(name)
    except Exception as err:
        failed.append(f"{name}: {type(err).__name__}: {err}")
        continue
    if not module.__file__.startswith(folder):
        failed.append(f"{name}: imported from {module.__file__}")
print(len(names), "modules")
sys.exit("\\n".join(failed) or None)
"""


def test_every_shipped_module_imports_from_the_code_dataset_alone(pushed_code, tmp_path):
    """On Kaggle only the code dataset and the image exist: every ``common.*`` module in the
    dataset imports with the dataset folder on sys.path and the repo not (``python -I``, run
    from elsewhere). One process, since torch and timm take seconds to import."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-I", "-c", IMPORT_ALL, str(pushed_code.parent)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    shipped = sum(1 for p in pushed_code.rglob("*.py"))
    assert f"{shipped} modules" in result.stdout
