import json

import pandas as pd
import pytest

from common.core.config import apply_preset, replace_dotted
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.gate import gate_students, publish_gated

KEY = "oof_soundscape_auc"


def _rounds(*scores, folds=("0,1",) * 3):
    return pd.DataFrame({"round": range(len(scores)), "folds": list(folds[:len(scores)]),
                         KEY: list(scores), "checkpoints_dir": [
                             "models", *(f"rounds/r{r}" for r in range(1, len(scores)))]})


def test_gate_publishes_the_best_student_that_beats_the_teacher():
    decision = gate_students(_rounds(0.80, 0.82, 0.85), KEY)
    assert decision.published_round == 2 and decision.student_score == pytest.approx(0.85)
    assert gate_students(_rounds(0.80, 0.86, 0.85), KEY).published_round == 1
    # Round 2 is better than the teacher but not by min_gain; round 1 is
    assert gate_students(_rounds(0.80, 0.83, 0.805), KEY, min_gain=0.01).published_round == 1


def test_gate_refuses_worse_students_and_says_why():
    decision = gate_students(_rounds(0.80, 0.79, 0.80), KEY)
    assert decision.published_round is None
    assert "0.8000 does not beat the teacher 0.8000" in decision.reason
    assert gate_students(_rounds(0.80), KEY).reason == "no student was trained"
    nan_teacher = gate_students(_rounds(float("nan"), 0.9), KEY)
    assert nan_teacher.published_round is None and "no out-of-fold" in nan_teacher.reason
    assert nan_teacher.to_dict()["teacher_score"] is None  # JSON-ready


def test_gate_compares_only_students_of_the_teachers_folds():
    decision = gate_students(_rounds(0.80, 0.95, folds=("0,1", "0")), KEY)
    assert decision.published_round is None and "trained folds 0" in decision.reason
    with pytest.raises(ValueError, match="folds"):
        gate_students(_rounds(0.8).drop(columns="folds"), KEY)


def test_publish_gated_copies_only_the_chosen_rounds_students(tmp_path):
    for r in (1, 2):
        (tmp_path / "rounds" / f"r{r}").mkdir(parents=True)
        (tmp_path / "rounds" / f"r{r}" / "net_fold0_best.pt").write_text(f"round {r}")
    (tmp_path / "net_student_fold0_best.pt").write_text("stale")
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke"), {"working_dir": str(tmp_path)})
    rounds = _rounds(0.80, 0.85, 0.79)
    decision = publish_gated(cfg, tmp_path, rounds, tmp_path / "rounds" / "r2", KEY)
    assert decision.published_round == 1
    assert (tmp_path / "net_student_fold0_best.pt").read_text() == "round 1"
    assert rounds["published"].tolist() == [False, True, False]
    json.dumps(decision.to_dict())

    worse = _rounds(0.80, 0.70, 0.75)
    assert publish_gated(cfg, tmp_path, worse, tmp_path / "rounds" / "r2",
                         KEY).published_round is None
    assert not list(tmp_path.glob("*_student_fold*_best.pt"))  # nothing for nb04
    assert not worse["published"].any()

    ungated = replace_dotted(cfg, {"student_gate": False})
    assert publish_gated(ungated, tmp_path, worse, tmp_path / "rounds" / "r2",
                         KEY).published_round == 2
    assert (tmp_path / "net_student_fold0_best.pt").read_text() == "round 2"
