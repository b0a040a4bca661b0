"""The orchestrator: stages run as scripts with the right hand-offs, and failures stop it."""

import json
import shutil

import pandas as pd
import pytest

from common.competition import read_csv_str
from common.metrics import macro_roc_auc
from common.pipeline import REPO_ROOT, STAGES, StageFailed, main, run_pipeline


def test_smoke_pipeline_end_to_end(tmp_path, tiny_competition, capsys):
    code = main(["--competition-dir", str(tiny_competition.competition_dir),
                 "--work-dir", str(tmp_path / "run"), "--preset", "smoke",
                 "--answer-key", str(tiny_competition.answer_key_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "run" / "pipeline_summary.json").read_text())
    existing = [s for s in STAGES if (REPO_ROOT / s.script).is_file()]
    assert list(summary["stage_outputs"]) == [s.name for s in existing]
    for stage in existing:  # each stage wrote where the next one looks for its dataset
        assert (tmp_path / "run" / "input" / stage.slug).is_dir()
        assert (tmp_path / "run" / "logs" / f"{stage.name}.log").is_file()
    assert "Where everything is" in out
    if (REPO_ROOT / "nb04_inference.py").is_file():
        submission = read_csv_str(tmp_path / "run" / "submission.csv")
        solution = read_csv_str(tiny_competition.answer_key_path)
        sample = pd.read_csv(tiny_competition.competition_dir / "sample_submission.csv", nrows=0)
        assert list(submission.columns) == list(sample.columns)
        assert set(submission["row_id"]) == set(solution["row_id"])
        assert summary["score_macro_roc_auc"] == pytest.approx(
            macro_roc_auc(solution, submission), abs=1e-4)
        assert "macro ROC-AUC" in out


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
    from common.pipeline import console_line

    assert console_line("12:00 INFO common.train: fold 0 done\n") == \
        "12:00 INFO common.train: fold 0 done"
    assert console_line("epoch 1:  40%|####      | 4/10 [00:01<00:02]\r") is None
    assert console_line("\rdecode:  50%|#   | 1/2\rdecode: 100%|####| 2/2 [00:01]\n") == \
        "decode: 100%|####| 2/2 [00:01]"
    assert console_line("\x1b[A\n") is None
