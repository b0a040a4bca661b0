"""Kaggle metadata (user, slugs, kernels) and the push command (dry run and a fake kaggle CLI).

The code dataset the push uploads is tested in ``test_code_dataset.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.core.kaggle import PLACEHOLDER_USER, check_slug, kaggle_username
from common.tasks import get_task, task_names
from devtools import push as kaggle_push
from devtools.kernels import (
    CODE_DATASET_SLUG,
    DEFAULT_MACHINE_SHAPE,
    KERNEL_PLANS,
    KernelOptions,
    code_dataset_slug,
    kernel_metadata,
    slugify_title,
    title_for_slug,
)
from devtools.notebooks import build_notebook, notebook_text
from devtools.pipeline import REPO_ROOT, STAGES

REQUIRED_KERNEL_FIELDS = {"id", "title", "code_file", "language", "kernel_type", "is_private",
                          "enable_gpu", "enable_internet", "dataset_sources",
                          "competition_sources", "kernel_sources"}
BY_NAME = {s.name: s for s in STAGES}
TASK_STAGES = [(task, stage) for task in task_names() for stage in STAGES]
TASK_STAGE_IDS = [f"{task}-{stage.name}" for task, stage in TASK_STAGES]


def existing_stages():
    return [s for s in STAGES if (REPO_ROOT / s.script).is_file()]


@pytest.fixture
def no_kaggle_config(tmp_path, monkeypatch):
    """No KAGGLE_USERNAME and an empty home, so only what a test sets is found."""
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    return tmp_path / "home"


@pytest.mark.parametrize(("task", "stage"), TASK_STAGES, ids=TASK_STAGE_IDS)
def test_kernel_metadata_fields_and_slugs(task, stage):
    meta = kernel_metadata(stage, "someone", task=task)
    competition = get_task(task).competition
    assert REQUIRED_KERNEL_FIELDS <= set(meta)
    owner, slug = meta["id"].split("/")
    assert owner == "someone" and slug == check_slug(stage.slug_for(task))
    assert slug.startswith(f"{competition}-")
    # Kaggle derives the URL slug from the title; a mismatch makes `kernels push` warn and the
    # output mount at a path the next stage does not look at.
    assert slugify_title(meta["title"]) == slug and len(meta["title"]) >= 5
    slugify = pytest.importorskip("slugify").slugify  # the kaggle CLI's own slugifier
    assert slugify(meta["title"]) == slug
    assert meta["code_file"] == Path(stage.script).with_suffix(".ipynb").name
    assert (meta["language"], meta["kernel_type"], meta["is_private"]) == (
        "python", "notebook", True)
    assert meta["competition_sources"] == [competition]
    assert meta["dataset_sources"][0] == f"someone/{code_dataset_slug(task)}"
    for source in meta["dataset_sources"] + meta["kernel_sources"]:
        owner, slug = source.split("/")
        assert owner == "someone" and check_slug(slug)


def test_default_task_is_birdclef_and_titles_read_well():
    assert [kernel_metadata(s, "me") for s in STAGES] == [
        kernel_metadata(s, "me", task="birdclef-2026") for s in STAGES]
    assert CODE_DATASET_SLUG == code_dataset_slug() == "birdclef-2026-common"
    assert code_dataset_slug("messy-mashup") == "messy-mashup-common"
    assert title_for_slug("birdclef-2026-prep") == "BirdCLEF 2026 Prep"
    assert title_for_slug("messy-mashup-submission") == "Messy Mashup Submission"
    with pytest.raises(KeyError, match="messy-mashup"):
        kernel_metadata(STAGES[0], "me", task="no-such-task")


def test_hardware_and_internet_per_stage():
    meta = {s.name: kernel_metadata(s, "me") for s in STAGES}
    assert [n for n, m in meta.items() if m["enable_gpu"]] == ["nb02", "nb03"]
    assert meta["nb04"]["enable_internet"] is False  # code competition: submission offline
    assert all(meta[n]["enable_internet"] for n in ("nb01", "nb02", "nb03"))


def test_gpu_stages_ask_for_t4_and_cpu_stages_for_nothing():
    meta = {s.name: kernel_metadata(s, "me") for s in STAGES}
    assert DEFAULT_MACHINE_SHAPE == "NvidiaTeslaT4"
    assert {n: m.get("machine_shape") for n, m in meta.items()} == {
        "nb01": None, "nb02": "NvidiaTeslaT4", "nb03": "NvidiaTeslaT4", "nb04": None}
    other = kernel_metadata(BY_NAME["nb02"], "me", options=KernelOptions(machine_shape="NvidiaL4"))
    assert other["machine_shape"] == "NvidiaL4"
    default = kernel_metadata(BY_NAME["nb02"], "me", options=KernelOptions(machine_shape=""))
    assert "machine_shape" not in default  # Kaggle's own default accelerator


def kaggle_source(name: str) -> str:
    """A file of the installed kaggle package, read as text (importing it authenticates)."""
    spec = importlib.util.find_spec("kaggle")
    if spec is None or spec.origin is None:
        pytest.skip("the kaggle CLI is not installed (pip install -r requirements.txt)")
    return (Path(spec.origin).parent / name).read_text()


def test_machine_shape_is_what_the_pinned_kaggle_cli_sends():
    pins = dict(line.split("==") for line in (REPO_ROOT / "requirements.txt").read_text()
                .splitlines() if "==" in line and not line.startswith("#"))
    assert int(pins["kaggle"].split(".")[0]) >= 2  # machine_shape arrived with the 2.x CLI
    # The CLI documents the value for "GPU T4 x2" and reads the field from kernel-metadata.
    assert f"'{DEFAULT_MACHINE_SHAPE}' for GPU T4 x2" in kaggle_source("cli.py")
    assert 'get_or_default(meta_data, "machine_shape"' in kaggle_source(
        "api/kaggle_api_extended.py")


def test_weights_sources_attach_to_the_stages_that_build_backbones():
    options = KernelOptions(weights_datasets=("me/b0-weights",),
                            model_sources=("google/efficientnet/pytorch/b0/1",))
    meta = {s.name: kernel_metadata(s, "me", options=options) for s in STAGES}
    for name in ("nb02", "nb03"):
        assert meta[name]["dataset_sources"][-1] == "me/b0-weights"
        assert meta[name]["model_sources"] == ["google/efficientnet/pytorch/b0/1"]
    for name in ("nb01", "nb04"):  # nb04 rebuilds from checkpoints: no weights needed
        assert meta[name]["model_sources"] == [] and "me/b0-weights" not in json.dumps(meta[name])
    with pytest.raises(ValueError, match="<owner>/<model>/<framework>/<variation>/<version>"):
        KernelOptions(model_sources=("google/efficientnet",))
    with pytest.raises(ValueError, match="<owner>/<dataset-slug>"):
        KernelOptions(weights_datasets=("b0-weights",))


def test_resume_attaches_the_stage_own_previous_output():
    meta = {s.name: kernel_metadata(s, "me", options=KernelOptions(resume=True)) for s in STAGES}
    assert meta["nb02"]["kernel_sources"] == ["me/birdclef-2026-prep", "me/birdclef-2026-models"]
    assert meta["nb02"]["id"] in meta["nb02"]["kernel_sources"]
    for name in ("nb01", "nb03", "nb04"):  # not resumable: unchanged
        assert meta[name] == kernel_metadata(BY_NAME[name], "me")


def test_dry_run_shows_machine_shape_sources_and_resume(tmp_path, no_subprocess, capsys):
    out = tmp_path / "push"
    assert kaggle_push.main(["--dry-run", "--user", "me", "--out", str(out), "--stages",
                             "nb02", "--resume", "--machine-shape", "NvidiaL4",
                             "--model-source", "me/b0/pytorch/default/1"]) == 0
    printed = capsys.readouterr().out
    assert ("# me/birdclef-2026-models on GPU NvidiaL4; internet on; dataset_sources "
            "me/birdclef-2026-common; kernel_sources me/birdclef-2026-prep "
            "me/birdclef-2026-models; model_sources me/b0/pytorch/default/1") in printed
    meta = json.loads((out / "kernels" / "birdclef-2026-models" / "kernel-metadata.json")
                      .read_text())
    assert meta["machine_shape"] == "NvidiaL4"
    assert meta["kernel_sources"][-1] == meta["id"]
    assert "on GPU NvidiaL4" in (out / "push_commands.sh").read_text()
    with pytest.raises(SystemExit):
        kaggle_push.main(["--dry-run", "--out", str(out), "--model-source", "me/b0"])


def test_sources_are_wired_stage_to_stage():
    meta = {s.name: kernel_metadata(s, "me") for s in STAGES}
    assert meta["nb01"]["kernel_sources"] == []
    assert meta["nb02"]["kernel_sources"] == ["me/birdclef-2026-prep"]
    assert meta["nb03"]["kernel_sources"] == ["me/birdclef-2026-prep", "me/birdclef-2026-models"]
    # nb04 reads the models nb02 publishes: its source is nb02's kernel id.
    assert meta["nb02"]["id"] in meta["nb04"]["kernel_sources"]
    order = [s.name for s in STAGES]
    for name, plan in KERNEL_PLANS.items():
        assert all(order.index(up) < order.index(name) for up in plan.upstream), name


def test_messy_mashup_sources_are_wired_stage_to_stage():
    meta = {s.name: kernel_metadata(s, "me", task="messy-mashup") for s in STAGES}
    assert [m["id"] for m in meta.values()] == [
        "me/messy-mashup-prep", "me/messy-mashup-models", "me/messy-mashup-pseudo",
        "me/messy-mashup-submission"]
    assert meta["nb01"]["kernel_sources"] == []
    assert meta["nb02"]["kernel_sources"] == ["me/messy-mashup-prep"]
    assert meta["nb03"]["kernel_sources"] == ["me/messy-mashup-prep", "me/messy-mashup-models"]
    assert meta["nb04"]["kernel_sources"] == ["me/messy-mashup-models", "me/messy-mashup-pseudo"]
    for m in meta.values():
        assert m["competition_sources"] == ["messy-mashup"]
        assert m["dataset_sources"] == ["me/messy-mashup-common"]
        assert "birdclef" not in json.dumps(m).lower()
    datasets = kernel_metadata(BY_NAME["nb04"], "me", chain="datasets", task="messy-mashup")
    assert datasets["dataset_sources"] == ["me/messy-mashup-common", "me/messy-mashup-models",
                                           "me/messy-mashup-pseudo"]


def test_datasets_chain_attaches_outputs_as_datasets():
    meta = kernel_metadata(BY_NAME["nb04"], "me", chain="datasets")
    assert meta["kernel_sources"] == []
    assert meta["dataset_sources"] == [f"me/{CODE_DATASET_SLUG}", "me/birdclef-2026-models",
                                       "me/birdclef-2026-pseudo"]
    with pytest.raises(ValueError, match="chain"):
        kernel_metadata(BY_NAME["nb04"], "me", chain="ftp")


def stage_config_class(stage_name: str) -> type:
    """The config class of a stage (imported: the slugs are derived from the task at run time)."""
    from common.stages.infer.config import InferConfig
    from common.stages.prep.config import PrepConfig
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.train.config import TrainConfig

    return {"nb01": PrepConfig, "nb02": TrainConfig, "nb03": PseudoConfig,
            "nb04": InferConfig}[stage_name]


@pytest.mark.parametrize(("task", "stage"), TASK_STAGES, ids=TASK_STAGE_IDS)
def test_stage_config_reads_the_slugs_its_kernel_attaches(task, stage):
    """Every upstream ``*_slug`` parameter of a stage config defaults (for the task: derived
    from its name) to the slug of a stage that the stage's kernel attaches, so the notebook
    finds its inputs on Kaggle unchanged."""
    from common.core.config import default_config, leaf_fields

    cls = stage_config_class(stage.name)
    cfg = default_config(cls, task)
    attached = {BY_NAME[name].slug_for(task) for name in KERNEL_PLANS[stage.name].upstream}
    fields = {name: getattr(cfg, name) for name in leaf_fields(type(cfg))
              if name.endswith("_slug")}
    assert set(fields) - {"dataset_slug"} or stage.name == "nb01", \
        f"no upstream *_slug parameter found for {stage.name}"
    if "dataset_slug" in fields:  # nb04 publishes no dataset
        assert fields["dataset_slug"] == stage.slug_for(task), f"{cls.__name__}.dataset_slug"
    for name, default in fields.items():
        if name != "dataset_slug":
            assert default in attached, (
                f"{cls.__name__}.{name}={default!r} for {task}, but the {stage.name} kernel "
                f"attaches {sorted(attached)}: update KERNEL_PLANS")


def test_kaggle_username_sources(no_kaggle_config, tmp_path, monkeypatch):
    assert kaggle_username() == PLACEHOLDER_USER
    xdg = no_kaggle_config / ".config" / "kaggle"
    xdg.mkdir(parents=True)
    (xdg / "kaggle.json").write_text(json.dumps({"username": "xdg-user", "key": "secret"}))
    assert kaggle_username() == "xdg-user"
    home = no_kaggle_config / ".kaggle"
    home.mkdir()
    (home / "kaggle.json").write_text(json.dumps({"username": "home-user", "key": "secret"}))
    assert kaggle_username() == "home-user"
    monkeypatch.setenv("KAGGLE_USERNAME", "env-user")
    assert kaggle_username() == "env-user"
    assert kaggle_username("flag-user") == "flag-user"


@pytest.fixture
def no_subprocess(monkeypatch):
    """A dry run must call nothing: any subprocess call fails the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError(f"dry run called {args}")

    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)


def test_dry_run_writes_folders_and_calls_nothing(tmp_path, no_subprocess, capsys):
    out = tmp_path / "push"
    assert kaggle_push.main(["--dry-run", "--user", "me", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"kaggle datasets version -p {out / 'datasets' / CODE_DATASET_SLUG} -r zip" in printed
    assert f"# kaggle datasets create -p {out / 'datasets' / CODE_DATASET_SLUG} -r zip" in printed
    stages = existing_stages()
    assert stages, "nb01 at least exists"
    pushes = [line for line in printed.splitlines() if line.startswith("kaggle kernels push")]
    assert pushes == [f"kaggle kernels push -p {out / 'kernels' / s.slug}" for s in stages]
    for stage in stages:
        kernel_dir = out / "kernels" / stage.slug
        meta = json.loads((kernel_dir / "kernel-metadata.json").read_text())
        assert meta == kernel_metadata(stage, "me")
        notebook_file = kernel_dir / meta["code_file"]
        notebook = json.loads(notebook_file.read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3"
        # BirdCLEF is the scripts' own TASK: the pushed notebook is the generated one, unchanged.
        assert notebook_file.read_text() == notebook_text(build_notebook(REPO_ROOT / stage.script))
    assert (out / "datasets" / CODE_DATASET_SLUG / "common" / "__init__.py").is_file()
    assert "kaggle kernels push" in (out / "push_commands.sh").read_text()
    final = STAGES[-1]
    if final in stages:
        assert (f"kaggle competitions submit birdclef-2026 -k me/{final.slug} "
                f"-f submission.csv -v '<version>'") in printed


def parameters_cell(notebook: dict) -> tuple[int, str]:
    """Index and source of the one code cell tagged ``parameters`` of an .ipynb's JSON."""
    tagged = [(i, "".join(c["source"])) for i, c in enumerate(notebook["cells"])
              if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    return tagged[0]


def assigned_values(source: str) -> dict[str, object]:
    return {node.targets[0].id: ast.literal_eval(node.value)
            for node in ast.parse(source).body if isinstance(node, ast.Assign)}


def test_dry_run_for_messy_mashup(tmp_path, no_subprocess, capsys):
    out = tmp_path / "push"
    assert kaggle_push.main(["--dry-run", "--task", "messy-mashup", "--user", "me",
                             "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    stages = existing_stages()
    assert sorted(p.name for p in (out / "kernels").iterdir()) == sorted(
        f"messy-mashup-{s.suffix}" for s in stages)
    assert [p.name for p in (out / "datasets").iterdir()] == ["messy-mashup-common"]
    assert "kaggle datasets version -p " + str(out / "datasets" / "messy-mashup-common") in printed
    pushes = [line for line in printed.splitlines() if line.startswith("kaggle kernels push")]
    assert pushes == [f"kaggle kernels push -p {out / 'kernels' / s.slug_for('messy-mashup')}"
                      for s in stages]
    for stage in stages:
        kernel_dir = out / "kernels" / stage.slug_for("messy-mashup")
        meta = json.loads((kernel_dir / "kernel-metadata.json").read_text())
        assert meta == kernel_metadata(stage, "me", task="messy-mashup")
        assert meta["competition_sources"] == ["messy-mashup"]
        assert meta["kernel_sources"] == [f"me/messy-mashup-{BY_NAME[up].suffix}"
                                          for up in KERNEL_PLANS[stage.name].upstream]
        # The notebook is the generated one but for the TASK assignment of its parameters cell.
        pushed = json.loads((kernel_dir / meta["code_file"]).read_text())
        generated = json.loads(notebook_text(build_notebook(REPO_ROOT / stage.script)))
        index, source = parameters_cell(pushed)
        generated_index, generated_source = parameters_cell(generated)
        assert index == generated_index
        assert assigned_values(source) == {**assigned_values(generated_source),
                                           "TASK": "messy-mashup"}
        changed = [(a, b) for a, b in zip(source.splitlines(), generated_source.splitlines())
                   if a != b]
        assert len(changed) == 1 and changed[0][0].startswith('TASK = "messy-mashup"')
        pushed["cells"][index]["source"] = generated["cells"][index]["source"]
        assert pushed == generated
    if STAGES[-1] in stages:
        assert ("kaggle competitions submit messy-mashup -k me/messy-mashup-submission "
                "-f submission.csv -v '<version>'") in printed
    assert "birdclef" not in printed.lower()


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        kaggle_push.main(["--dry-run", "--task", "birdclef-2025", "--out", str(tmp_path)])
    assert not (tmp_path / "kernels").exists()


def test_dry_run_datasets_chain_writes_output_dataset_metadata(tmp_path, capsys):
    out = tmp_path / "push"
    stages = [s.name for s in existing_stages()]
    kaggle_push.main(["--dry-run", "--user", "me", "--out", str(out), "--chain", "datasets",
                      "--stages", ",".join(stages)])
    printed = capsys.readouterr().out
    for name in {up for s in stages for up in KERNEL_PLANS[s].upstream} & set(stages):
        slug = BY_NAME[name].slug
        meta = json.loads((out / "outputs" / slug / "dataset-metadata.json").read_text())
        assert meta["id"] == f"me/{slug}"
        assert f"kaggle kernels output me/{slug} -p {out / 'outputs' / slug} -o" in printed


def test_real_run_needs_a_user(no_kaggle_config, tmp_path):
    with pytest.raises(SystemExit):
        kaggle_push.main(["--out", str(tmp_path / "push")])


FAKE_KAGGLE = """#!{python}
import json, pathlib, sys
state = pathlib.Path({state!r})
with open(state / "calls.log", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args[:2] == ["datasets", "status"]:
    if not (state / "created").exists():
        print("404 Not Found"); sys.exit(1)
    print("ready")
elif args[:2] == ["datasets", "create"]:
    (state / "created").touch(); print("Your private Dataset is being created.")
elif args[:2] == ["kernels", "push"]:
    print("Kernel version 7 successfully pushed.  Please check progress at https://x")
elif args[:2] == ["kernels", "status"]:
    print(args[2] + ' has status "KernelWorkerStatus.COMPLETE"')
else:
    print("unexpected", args); sys.exit(2)
"""


@pytest.mark.parametrize("task", task_names())
def test_real_run_with_a_fake_kaggle_cli(task, tmp_path, monkeypatch, capsys):
    fake = tmp_path / "kaggle"
    fake.write_text(FAKE_KAGGLE.format(python=sys.executable, state=str(tmp_path)))
    fake.chmod(0o755)
    monkeypatch.setattr(kaggle_push, "find_kaggle_cli", lambda: str(fake))
    stages = existing_stages()
    code = kaggle_push.main(["--user", "me", "--out", str(tmp_path / "push"),
                             "--poll-seconds", "0", "--task", task])
    assert code == 0
    calls = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    verbs = [" ".join(c[:2]) for c in calls]
    # Not found -> create, then wait until ready, then push and wait for each stage in order.
    assert verbs[:3] == ["datasets status", "datasets create", "datasets status"]
    assert calls[0][2] == f"me/{code_dataset_slug(task)}"
    assert verbs[3:] == ["kernels push", "kernels status"] * len(stages)
    assert [c[2] for c in calls if c[:2] == ["kernels", "status"]] == [
        f"me/{s.slug_for(task)}" for s in stages]
    if STAGES[-1] in stages:
        assert (f"kaggle competitions submit {get_task(task).competition} "
                f"-k me/{STAGES[-1].slug_for(task)} -f submission.csv -v 7"
                ) in capsys.readouterr().out


def test_kernel_output_mounts_are_found(tmp_path):
    """Attached notebook outputs mount at /kaggle/input/<slug> or, in Kaggle's newer layout,
    /kaggle/input/notebooks/<owner>/<slug>; the stages find both."""
    from common.core.paths import find_dataset_dir

    nested = tmp_path / "notebooks" / "me" / "birdclef-2026-models"
    nested.mkdir(parents=True)
    assert find_dataset_dir(tmp_path, "birdclef-2026-models") == nested


BLOCK_DEV_TOOLS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"jupytext", "papermill", "nbclient", "kaggle", "pytest"}:
            raise ImportError(f"{name} is a local tool, not on Kaggle's image")
sys.meta_path.insert(0, Block())
for module in sys.argv[1:]:
    __import__(module)
"""


def test_stage_modules_need_no_local_tools():
    """What the notebooks import from common loads without the local-only tools (jupytext,
    papermill, the kaggle CLI): on Kaggle only its image and the attached datasets exist."""
    modules = set()
    for stage in existing_stages():
        tree = ast.parse((REPO_ROOT / stage.script).read_text())
        modules |= {n.module for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("common")}
    subprocess.run([sys.executable, "-c", BLOCK_DEV_TOOLS, *sorted(modules)], check=True,
                   cwd=REPO_ROOT)
