"""The Kaggle rehearsal (devtools.rehearse, devtools.kaggle_tree): the push's files, run as Kaggle
runs them.

The end-to-end test runs ``python -m common.rehearse --preset smoke`` on the tiny synthetic
competition and checks, from records written inside each Jupyter kernel, that ``common`` came
from the unpacked code dataset (the repo is not importable) and that nb04 had no network.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import pytest

from devtools.kaggle_tree import folder_bytes, mount_inputs, unpack_dataset
from devtools.kernels import KERNEL_PLANS
from devtools.pipeline import REPO_ROOT, STAGES
from devtools.rehearse import (
    MARKER,
    RehearsalError,
    main,
    network_isolation,
    prepare_work_dir,
    processes_in,
    rehearse,
)
from devtools.rehearse_checks import kaggle_limits_check, probe_problems

USER = "rehearsal-user"
BY_NAME = {s.name: s for s in STAGES}


def test_unpack_dataset_mirrors_a_zip_upload(tmp_path):
    folder = tmp_path / "dataset"
    (folder / "pkg" / "sub").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("x = 1\n")
    (folder / "pkg" / "sub" / "mod.py").write_text("y = 2\n")
    (folder / "requirements.txt").write_text("numpy\n")
    (folder / "dataset-metadata.json").write_text("{}")
    (folder / ".git").mkdir()
    dest = unpack_dataset(folder, tmp_path / "served")
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["pkg/__init__.py", "pkg/sub/mod.py", "requirements.txt"]
    assert (dest / "pkg" / "sub" / "mod.py").read_text() == "y = 2\n"
    with pytest.raises(FileExistsError):
        unpack_dataset(folder, dest)
    with pytest.raises(FileNotFoundError, match="build it first"):
        unpack_dataset(tmp_path / "nothing", tmp_path / "other")


def test_unpack_dataset_goes_through_a_real_zip(tmp_path, monkeypatch):
    """A file that cannot be archived would fail here as on upload, not be copied silently."""
    folder = tmp_path / "dataset"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "a.py").write_text("a = 1\n")
    extracted = []
    original = zipfile.ZipFile.extractall

    def spy(self, path=None, *args, **kwargs):
        extracted.append((sorted(self.namelist()), str(path)))
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "extractall", spy)
    dest = unpack_dataset(folder, tmp_path / "served")
    assert extracted == [(["a.py"], str(dest / "pkg"))]


def test_mount_inputs_follows_the_kernel_metadata(tmp_path):
    competition, code, prep = (tmp_path / n for n in ("comp", "code", "prep"))
    for folder in (competition, code, prep):
        folder.mkdir()
    metadata = {"id": f"{USER}/x-models", "competition_sources": ["birdclef-2026"],
                "dataset_sources": [f"{USER}/x-common"], "kernel_sources": [f"{USER}/x-prep"]}
    root = tmp_path / "input"
    mounted = mount_inputs(metadata, root, {"birdclef-2026": competition},
                           {f"{USER}/x-common": code}, {f"{USER}/x-prep": prep})
    assert set(mounted) == {"competitions/birdclef-2026", f"datasets/{USER}/x-common",
                            f"notebooks/{USER}/x-prep"}
    assert (root / "notebooks" / USER / "x-prep").resolve() == prep.resolve()
    assert (root / "competitions" / "birdclef-2026").resolve() == competition.resolve()
    with pytest.raises(FileExistsError, match="not empty"):
        mount_inputs(metadata, root, {}, {}, {})
    with pytest.raises(KeyError, match=f"notebook '{USER}/x-prep'"):
        mount_inputs(metadata, tmp_path / "input2", {"birdclef-2026": competition},
                     {f"{USER}/x-common": code}, {})


def test_folder_bytes_counts_files_not_links(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"y" * 5)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert folder_bytes(tmp_path) == 15


def test_limits_follow_the_kernel_plan():
    nb02, nb04 = BY_NAME["nb02"], BY_NAME["nb04"]
    gpu = kaggle_limits_check(nb02, KERNEL_PLANS["nb02"], 11 * 3600, 10**9)
    assert gpu.fits and gpu.time_limit_seconds == 12 * 3600
    offline = kaggle_limits_check(nb04, KERNEL_PLANS["nb04"], 91 * 60, 10**6)
    assert not offline.fits and offline.time_limit_seconds == 90 * 60
    assert "time 5460 s > 5400 s" in offline.note
    big = kaggle_limits_check(nb02, KERNEL_PLANS["nb02"], 60, 21 * 10**9)
    assert not big.fits and "output 21.0 GB > 20 GB" in big.note


def test_work_dir_is_never_a_folder_it_did_not_make(tmp_path):
    mine = prepare_work_dir(tmp_path / "new")
    (mine / "old_output").write_text("x")
    assert not (prepare_work_dir(mine) / "old_output").exists()  # cleared: it made it
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious").write_text("x")
    with pytest.raises(RehearsalError, match="not made by a rehearsal"):
        prepare_work_dir(foreign)
    assert (foreign / "precious").exists() and not (foreign / MARKER).exists()


def test_probe_problems_name_what_would_break_on_kaggle(tmp_path):
    code = tmp_path / "unpacked" / "code"
    good = {"cwd": str(tmp_path / "working"), "sys_path": [str(code), ""],
            "module_files": {"common": str(code / "common" / "__init__.py"), "iterstrat": None},
            "connect_error": "OSError: [Errno 101] Network is unreachable"}
    assert probe_problems(good, code, offline=True, repo_root=tmp_path / "repo") == []
    leaked = {**good, "sys_path": [str(code), str(tmp_path / "repo")],
              "module_files": {"common": str(code / "common" / "__init__.py"),
                               "iterstrat": str(tmp_path / "venv" / "iterstrat" / "__init__.py")},
              "connect_error": None}
    problems = " | ".join(probe_problems(leaked, code, offline=True, repo_root=tmp_path / "repo"))
    assert "repo" in problems and "sys.path" in problems
    assert "iterstrat was imported from" in problems and "reached the network" in problems
    assert probe_problems({**good, "connect_error": None}, code, offline=False,
                          repo_root=tmp_path / "repo") == []
    assert "never imported common" in probe_problems({**good, "module_files": {"common": None}},
                                                     code, True, tmp_path / "repo")[0]
    assert "left no record" in probe_problems({}, code, True)[0]


def test_stages_must_include_what_they_attach(tmp_path):
    with pytest.raises(RehearsalError, match=r"nb04 attaches the output of \['nb02', 'nb03'\]"):
        rehearse(work_dir=tmp_path / "w", stages=("nb04",))
    with pytest.raises(RehearsalError, match="unknown stages"):
        rehearse(work_dir=tmp_path / "w", stages=("nb09",))


def test_a_failing_stage_fails_the_rehearsal(tmp_path, tiny_competition, capsys):
    """nb01 on a competition without train.csv stops; nb02 is skipped; exit 1 with the error."""
    broken = tmp_path / "broken" / "birdclef-2026"
    shutil.copytree(tiny_competition.competition_dir, broken, symlinks=True)
    (broken / "train.csv").unlink()
    code = main(["--preset", "smoke", "--competition-dir", str(broken), "--work-dir",
                 str(tmp_path / "work"), "--user", USER, "--stages", "nb01,nb02"])
    out = capsys.readouterr().out
    assert code == 1
    summary = json.loads((tmp_path / "work" / "rehearsal.json").read_text())
    assert [(s["stage"], s["status"]) for s in summary["stages"]] == [("nb01", "failed"),
                                                                      ("nb02", "skipped")]
    assert "train.csv" in summary["stages"][0]["error_tail"]
    assert "nb01: the notebook failed" in out and "last lines of its log" in out


def test_smoke_rehearsal_runs_the_pushed_notebooks_as_kaggle_would(tmp_path, tiny_competition,
                                                                   capsys):
    isolation, why_not = network_isolation()
    work = tmp_path / "work"
    code = main(["--preset", "smoke", "--competition-dir", str(tiny_competition.competition_dir),
                 "--work-dir", str(work), "--user", USER]
                + ([] if isolation else ["--allow-network"]))
    report = capsys.readouterr().out
    summary = json.loads((work / "rehearsal.json").read_text())
    assert code == 0, report
    assert [(s["stage"], s["status"]) for s in summary["stages"]] == [
        (s.name, "ok") for s in STAGES]
    for line in ("nb01   ok", "nb04   ok", "1.5 h, 20.0 GB"):
        assert line in report

    served = work / "unpacked" / USER / "birdclef-2026-common"
    assert (served / "common" / "__init__.py").is_file()
    assert not (served / "dataset-metadata.json").exists()
    own_namespace = os.readlink("/proc/self/ns/net")
    for stage in STAGES:
        stage_dir = work / "stages" / stage.name
        seen = json.loads((stage_dir / "probe.json").read_text())
        # common and the vendored iterstrat came from the unpacked dataset, through the mount
        # Kaggle would give it; the repo was on no path of the kernel.
        mount = stage_dir / "input" / "datasets" / USER / "birdclef-2026-common"
        assert seen["module_files"]["common"] == str(mount / "common" / "__init__.py")
        assert mount.resolve() == served.resolve()
        if seen["module_files"].get("iterstrat"):
            assert seen["module_files"]["iterstrat"].startswith(str(mount))
        assert str(REPO_ROOT) not in [os.path.abspath(p or seen["cwd"])
                                      for p in seen["sys_path"]]
        assert seen["environment"]["PYTHONPATH"] is None
        assert seen["cwd"] == str(stage_dir / "working")
        # Exactly the attachments of the pushed kernel-metadata.json, the current Kaggle way.
        upstream = {f"{USER}/{BY_NAME[n].slug_for()}" for n in KERNEL_PLANS[stage.name].upstream}
        notebooks = stage_dir / "input" / "notebooks" / USER
        if upstream:
            assert {f"{USER}/{p.name}" for p in notebooks.iterdir()} == upstream
        else:
            assert not notebooks.exists()
        for ref in upstream:
            slug = ref.split("/")[1]
            name = next(s.name for s in STAGES if s.slug_for() == slug)
            assert (notebooks / slug).resolve() == (work / "stages" / name / "working").resolve()
        if stage.name != "nb04":
            assert seen["net_namespace"] == own_namespace
        # The pushed notebook's own TASK ran, and the stage wrote its outputs.
        working = stage_dir / "working"
        configs = list(working.glob("*_config.json"))
        assert configs and all(json.loads(f.read_text())["task"] == "birdclef-2026"
                               for f in configs)
        executed = json.loads((stage_dir / "executed.ipynb").read_text())
        injected = [c for c in executed["cells"]
                    if "injected-parameters" in c["metadata"].get("tags", [])]
        injected = "".join(injected[0]["source"]) if len(injected) == 1 else "none"
        assert "TASK" not in injected and "PRESET" not in injected
        parameters = "".join(next(c["source"] for c in executed["cells"]
                                  if "parameters" in c["metadata"].get("tags", [])))
        assert 'PRESET = "smoke"' in parameters  # written by the push, as Kaggle runs it
    assert seen["module_files"]["common"]  # nb04's record, from the last loop
    assert seen["torch_threads"] == 4 and seen["environment"]["OMP_NUM_THREADS"] == "4"
    assert seen["environment"]["HF_HUB_OFFLINE"] == "1"
    for name in ("train_folds.csv", "species.csv", "soundscape_labels_folds.csv"):
        assert (work / "stages" / "nb01" / "working" / name).is_file(), name
    submission = work / "stages" / "nb04" / "working" / "submission.csv"
    assert submission.read_text().splitlines()[0] == (
        tiny_competition.competition_dir / "sample_submission.csv").read_text().splitlines()[0]
    if not isolation:
        pytest.skip(f"nb04's network isolation not checked: {why_not}")
    assert seen["net_namespace"] != own_namespace and seen["interfaces"] == ["lo"]
    assert "unreachable" in seen["connect_error"]
    assert "off (unshare -n)" in report


def test_a_stage_over_its_timeout_is_stopped_with_its_kernel(tmp_path, tiny_competition):
    import time

    # The limit is a third of what the stage takes on this machine, measured first: a fixed
    # number of seconds stops the stage on a slow machine and not on a fast one.
    _, full = rehearse("smoke", tmp_path / "full", tiny_competition.competition_dir,
                       user=USER, stages=("nb01",))
    assert full[0].status == "ok"
    limit = max(1.0, full[0].wall_seconds / 3)
    work, results = rehearse("smoke", tmp_path / "work", tiny_competition.competition_dir,
                             user=USER, stages=("nb01",), timeout_seconds=limit)
    assert results[0].status == "failed"
    assert any(f"stopped after {limit:.0f} s" in p for p in results[0].problems)
    working = (work / "stages" / "nb01" / "working").resolve()
    deadline = time.monotonic() + 15.0  # the kernel exits once it sees its parent gone
    while processes_in(working) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_in(working)
