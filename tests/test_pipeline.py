"""The orchestrator: stages run as scripts with the right hand-offs, and failures stop it."""

import json
import shutil

import pytest

from common.data.competition import read_csv_str
from common.tasks import get_task
from devtools.pipeline import STAGES, StageFailed, main, run_pipeline


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
    if not spec.multilabel:
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


def test_console_keeps_log_lines_and_finished_bars_only():
    from devtools.pipeline import console_line

    assert console_line("12:00 INFO common.stages.train.run: fold 0 done\n") == \
        "12:00 INFO common.stages.train.run: fold 0 done"
    assert console_line("epoch 1:  40%|####      | 4/10 [00:01<00:02]\r") is None
    assert console_line("\rdecode:  50%|#   | 1/2\rdecode: 100%|####| 2/2 [00:01]\n") == \
        "decode: 100%|####| 2/2 [00:01]"
    assert console_line("\x1b[A\n") is None


def test_stage_slugs_follow_the_task():
    assert [s.slug_for("birdclef-2026") for s in STAGES] == [
        "birdclef-2026-prep", "birdclef-2026-models", "birdclef-2026-pseudo",
        "birdclef-2026-submission"]
    assert STAGES[0].slug == "birdclef-2026-prep"
    assert STAGES[2].slug_for("messy-mashup") == "messy-mashup-pseudo"
    with pytest.raises(KeyError, match="choose one of"):
        STAGES[0].slug_for("gtzan")
