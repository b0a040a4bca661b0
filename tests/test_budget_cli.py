"""``python -m common.budget``: the table for the real competition, exit 0 when every stage fits,
1 naming the stage and the knob when one does not, 2 on bad arguments."""

import subprocess
import sys

from conftest import REPO_ROOT

from common.budget.__main__ import main
from common.budget.facts import load_limits, load_throughputs
from common.budget.plan import plan_budget, resolve_recipe, split_overrides
from common.tasks import get_task

STAGES = ("nb01 prep", "nb02 train", "nb03 pseudo", "nb04 infer")


def _plan(preset="default", sets=(), adapt=True):
    recipe = resolve_recipe("birdclef-2026", preset, split_overrides(list(sets)))
    return plan_budget(recipe, get_task("birdclef-2026").published_workload(),
                       load_throughputs(), load_limits(), adapt=adapt)


def test_the_default_recipe_fits_the_real_competition(capsys):
    assert main(["--preset", "default"]) == 0
    out = capsys.readouterr().out
    assert all(stage in out for stage in STAGES)
    assert "DOES NOT FIT" not in out and "published sizes" in out
    plan = _plan()
    prep, train, pseudo, infer = plan.rows
    assert prep.output_gb <= 18 and pseudo.hours <= 11.5 and infer.hours * 60 <= 75
    # What the stages will choose at their start: a shorter cache (problem 4) and fewer
    # pseudo windows per round (problem 3).
    assert 5 <= plan.choices["prep.cache_seconds"] < 10
    assert plan.choices["pseudo.max_windows"] < 10658 * 12


def test_as_configured_the_issues_problems_show(capsys):
    assert main(["--preset", "default", "--no-adapt"]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT FIT: nb01's cache needs 23." in out and "prep.cache_seconds" in out
    assert "DOES NOT FIT: nb03 needs" in out and "pseudo.max_windows" in out


def test_an_oversized_setting_exits_1_naming_the_stage_and_the_knob(capsys):
    assert main(["--preset", "default", "--set", "prep.max_cache_gb=25"]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT FIT: nb01's output needs" in out and "prep.max_cache_gb" in out
    assert _plan(sets=["train.epochs=400"]).rows[1].problems  # past the weekly GPU quota


def test_bad_overrides_are_refused_with_the_fix(capsys):
    for bad, fix in ((["--set", "cache_seconds=3"], "STAGE.FIELD=VALUE"),
                     (["--set", "prep.no_such_field=1"], "no parameter 'no_such_field'")):
        try:
            main(["--preset", "default", *bad])
        except SystemExit as err:
            assert err.code == 2
        else:
            raise AssertionError(f"{bad} was accepted")
        assert fix in capsys.readouterr().err


def test_a_competition_folder_is_measured(tiny_competition, capsys):
    assert main(["--preset", "smoke", "--competition-dir",
                 str(tiny_competition.competition_dir)]) == 0
    out = capsys.readouterr().out
    assert f"measured in {tiny_competition.competition_dir}" in out


def test_the_module_path_is_a_stable_entry_point():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "common.budget", *args], cwd=REPO_ROOT,
                              capture_output=True, text=True)

    ok = run("--preset", "default")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "| nb04 infer |" in ok.stdout
    over = run("--preset", "default", "--set", "prep.max_cache_gb=25")
    assert over.returncode == 1 and "prep.max_cache_gb" in over.stdout


def test_the_planner_and_its_facts_ship_in_the_code_dataset(tmp_path):
    # On Kaggle only the code dataset is importable: the planner runs from it alone.
    from devtools.code_dataset import build_code_dataset

    folder = build_code_dataset(tmp_path / "code", "me", extras={})
    for name in ("kaggle_limits.json", "throughputs.json"):
        assert (folder / "common" / "budget" / name).is_file()
    assert (folder / "common" / "tasks" / "birdclef" / "kaggle_facts.json").is_file()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from common.budget.__main__ import "
            "main; sys.exit(main(['--preset', 'default']))")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| nb03 pseudo |" in done.stdout
