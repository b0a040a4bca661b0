"""The orchestrator: stages run as scripts with the right hand-offs, and failures stop it."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.data.competition import read_csv_str
from common.tasks import get_task
from devtools.pipeline import (
    REPO_ROOT,
    STAGES,
    StageFailed,
    main,
    member_scores,
    parse_settings,
    run_pipeline,
    stage_flags,
)


@pytest.mark.parametrize("task", ["birdclef-2026", "messy-mashup"])
def test_smoke_pipeline_end_to_end(task, tmp_path, request, capsys):
    # One pipeline, two competitions: the same four scripts, told the task by --task.
    fixture = "tiny_competition" if task == "birdclef-2026" else "tiny_mashup_competition"
    competition = request.getfixturevalue(fixture)
    spec = get_task(task)
    code = main(["--competition-dir", str(competition.competition_dir), "--task", task,
                 "--work-dir", str(tmp_path / "run"), "--preset", "smoke",
                 "--answer-key", str(competition.answer_key_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "pipeline_summary.json").read_text())
    assert list(summary["stage_outputs"]) == [s.name for s in STAGES]
    assert (tmp_path / "run" / "input" / spec.competition).resolve() == \
        competition.competition_dir.resolve()
    for stage in STAGES:  # each stage wrote where the next one looks for its dataset
        assert stage.slug_for(task).startswith(spec.competition)
        assert (tmp_path / "run" / "input" / stage.slug_for(task)).is_dir()
        assert (tmp_path / "run" / "logs" / f"{stage.name}.log").is_file()
    assert "Where everything is" in out
    submission = read_csv_str(tmp_path / "run" / "submission.csv")
    solution = read_csv_str(competition.answer_key_path)
    sample = read_csv_str(competition.competition_dir / "sample_submission.csv")
    assert list(submission.columns) == list(sample.columns)
    ids = list(submission[spec.id_column])
    assert ids[:len(sample)] == list(sample[spec.id_column])  # the sample's rows in its order
    assert sorted(ids) == sorted(solution[spec.id_column])
    assert summary["metric"] == spec.metric
    assert summary["score"] == pytest.approx(spec.score(solution, submission), abs=1e-4)
    assert {"macro_roc_auc": "macro ROC-AUC", "macro_f1": "macro F1"}[spec.metric] in out
    if task == "messy-mashup":  # one label per clip
        assert set(submission[spec.label_column]) <= set(spec.classes)


def test_failing_stage_stops_the_run_and_shows_its_error(tmp_path, tiny_competition):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_competition.competition_dir, broken, symlinks=True)
    (broken / "taxonomy.csv").write_text("not,a,taxonomy\n")
    with pytest.raises(StageFailed, match=r"nb01 .* failed(.|\n)*lacks columns"):
        run_pipeline(broken, tmp_path / "run", "smoke")
    assert not (tmp_path / "run" / "input" / STAGES[1].slug).exists()  # nb02 never started


def test_not_a_competition_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sample_submission.csv"):
        run_pipeline(tmp_path, tmp_path / "run", "smoke")


def test_console_line_keeps_the_last_state_of_a_line():
    from devtools.pipeline import console_line

    assert console_line("12:00 INFO common.stages.train.run: fold 0 done\n") == \
        "12:00 INFO common.stages.train.run: fold 0 done"
    assert console_line("\rdecode:  50%|#   | 1/2\rdecode: 100%|####| 2/2 [00:01]\n") == \
        "decode: 100%|####| 2/2 [00:01]"
    assert console_line("\x1b[A\n") is None
    assert console_line(" " * 70 + "05:29:41 INFO x: epoch 1\n") == "05:29:41 INFO x: epoch 1"
    assert console_line("    n_rows   12\n") == "    n_rows   12"  # a table keeps its indent


def test_console_shows_moving_bars_every_interval_and_a_heartbeat_in_silence():
    from devtools.pipeline import ConsoleFilter

    now = [0.0]
    console = ConsoleFilter(interval=10.0, clock=lambda: now[0])
    bar = "render mashups:  {}%|##  | {}/10 [00:0{}<00:05]"
    now[0] = 11.0
    assert console.line(bar.format(10, 1, 1)) == bar.format(10, 1, 1)  # first bar after 10 s
    now[0] = 12.0
    assert console.line(bar.format(20, 2, 2)) is None  # redraws in between stay in the log
    assert console.line("12:00 INFO x: a log line\n") == "12:00 INFO x: a log line"
    now[0] = 21.5
    assert console.line(bar.format(90, 9, 9)) == bar.format(90, 9, 9)
    now[0] = 22.0
    assert console.line("render mashups: 100%|####| 10/10 [00:10<00:00]") is not None
    assert console.heartbeat() is None  # something was just shown
    now[0] = 33.0
    beat = console.heartbeat()
    assert beat.startswith("still running (33 s)") and "100%" in beat
    assert console.heartbeat() is None  # once per interval


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc), however deep."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_an_interrupt_stops_the_stage_and_its_workers_and_the_rerun_resumes(
        tiny_competition, tmp_path):
    # The runner as a user starts it; SIGINT to the runner alone (as `timeout -s INT` or a
    # Ctrl-C would deliver it) must stop nb01 and its decoding processes, exit 130, no traceback.
    command = [sys.executable, "-m", "common.pipeline", "--competition-dir",
               str(tiny_competition.competition_dir), "--work-dir", str(tmp_path / "run"),
               "--preset", "smoke", "--stages", "nb01"]
    runner = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    stage_pids: set[int] = set()
    for line in runner.stdout:  # wait until nb01 is at work
        if line.startswith("  nb01 |"):
            stage_pids = _descendants(runner.pid)
            break
    assert stage_pids, "nb01 never started"
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, out + err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert "interrupted by SIGINT during nb01" in err and "run the same command again" in err
    deadline = time.time() + 15
    while any(_alive(pid) for pid in stage_pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in stage_pids if _alive(pid)], "a stage process outlived the stop"
    # The same command finishes the stage.
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "run" / "input" / "birdclef-2026-prep" / "train_folds.csv").is_file()


def test_member_submissions_are_scored_like_the_submission(tmp_path):
    import pandas as pd

    task = get_task("messy-mashup")
    solution = pd.DataFrame({"id": ["a", "b", "c", "d"],
                             "genre": ["jazz", "rock", "jazz", "pop"]})
    assert member_scores(task, solution, tmp_path / "member_submissions") == {}
    folder = tmp_path / "member_submissions"
    folder.mkdir()
    solution.to_csv(folder / "cnn.csv", index=False)
    solution.assign(genre=["rock", "jazz", "rock", "jazz"]).to_csv(folder / "logreg.csv",
                                                                  index=False)
    scores = member_scores(task, solution, folder)
    assert scores == {"cnn": 1.0, "logreg": 0.0}


def test_stage_slugs_follow_the_task():
    assert [s.slug_for("birdclef-2026") for s in STAGES] == [
        "birdclef-2026-prep", "birdclef-2026-models", "birdclef-2026-pseudo",
        "birdclef-2026-submission"]
    assert STAGES[0].slug == "birdclef-2026-prep"
    assert STAGES[2].slug_for("messy-mashup") == "messy-mashup-pseudo"
    with pytest.raises(KeyError, match="choose one of"):
        STAGES[0].slug_for("gtzan")


def test_set_reaches_every_stage_that_has_the_parameter_and_a_typo_fails():
    settings = parse_settings(["teacher=birdnet", "teacher-weight=0.5", "epochs=3"])
    flags = stage_flags(settings, list(STAGES), "birdclef-2026")
    assert flags["nb01"] == []
    assert flags["nb02"] == ["--distill.teacher", "birdnet", "--distill.teacher-weight", "0.5",
                             "--optim.epochs", "3"]
    for name in ("nb03", "nb04"):
        assert flags[name][:4] == ["--teacher.teacher", "birdnet", "--teacher.teacher-weight",
                                   "0.5"]
    with pytest.raises(ValueError, match="tacher"):
        stage_flags({"tacher": "birdnet"}, list(STAGES), "birdclef-2026")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_settings(["teacher"])
