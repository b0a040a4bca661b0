import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.core.config import apply_preset, replace_dotted
from common.core.resample import resampled_macro_auc
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.evidence import OofEvidence, PairedGain, paired_gains
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
    decision, gains = publish_gated(cfg, tmp_path, rounds, tmp_path / "rounds" / "r2", KEY)
    assert decision.published_round == 1 and gains == {}  # no evidence: point scores
    assert (tmp_path / "net_student_fold0_best.pt").read_text() == "round 1"
    assert rounds["published"].tolist() == [False, True, False]
    json.dumps(decision.to_dict())

    worse = _rounds(0.80, 0.70, 0.75)
    assert publish_gated(cfg, tmp_path, worse, tmp_path / "rounds" / "r2",
                         KEY)[0].published_round is None
    assert not list(tmp_path.glob("*_student_fold*_best.pt"))  # nothing for nb04
    assert not worse["published"].any()

    ungated = replace_dotted(cfg, {"student_gate": False})
    assert publish_gated(ungated, tmp_path, worse, tmp_path / "rounds" / "r2",
                         KEY)[0].published_round == 2
    assert (tmp_path / "net_student_fold0_best.pt").read_text() == "round 2"


def _gain(share, gain=0.01):
    return PairedGain(gain, -0.01, share, 13, 1000, "soundscape", np.zeros(1000))


def test_gate_asks_for_the_student_to_lead_in_enough_resamples():
    rounds = _rounds(0.80, 0.81, 0.83)
    sure = gate_students(rounds, KEY, gains={1: _gain(0.95), 2: _gain(0.95)}, confidence=0.9)
    assert sure.published_round == 2 and "ahead in 95% of 1000 resamples" in sure.reason
    assert sure.confidence == 0.9
    # round 2 scores best but within noise: round 1 is published
    mixed = gate_students(rounds, KEY, gains={1: _gain(0.92), 2: _gain(0.6)}, confidence=0.9)
    assert mixed.published_round == 1
    noisy = gate_students(rounds, KEY, gains={1: _gain(0.5), 2: _gain(0.61)}, confidence=0.9)
    assert noisy.published_round is None
    assert "round 2 student 0.8300 vs teacher 0.8000: ahead in 61% of 1000 resamples of the " \
           "13 validation soundscapes (< 90%)" in noisy.reason
    # a round without resampled predictions is refused; confidence 0 compares point scores
    missing = gate_students(rounds, KEY, gains={1: _gain(0.95)}, confidence=0.9)
    assert missing.published_round == 1
    assert gate_students(rounds, KEY, gains={}, confidence=0.9).published_round is None
    assert gate_students(rounds, KEY, gains={}, confidence=0.0).published_round == 2
    # no student ahead on the point score: the resamples are not the reason given
    worse = gate_students(_rounds(0.80, 0.79), KEY, gains={1: _gain(0.0)}, confidence=0.9)
    assert worse.reason == "no student published: best student 0.7900 does not beat the " \
                           "teacher 0.8000 + 0"


def _evidence(probs, ids=None, truth=None):
    n = len(probs)
    ids = np.array([f"w{i}" for i in range(n)] if ids is None else ids)
    truth = truth if truth is not None else _TRUTH
    return OofEvidence(ids=ids, groups=np.array([i // 4 for i in range(n)]), truth=truth,
                       probs=np.asarray(probs, dtype=float), metric=resampled_macro_auc,
                       unit="soundscape")


_RNG = np.random.default_rng(0)
_TRUTH = (_RNG.random((40, 3)) < 0.3).astype(float)
_NOISE = _RNG.random((40, 3))


def test_paired_gains_pair_rows_by_id_and_measure_the_spread():
    teacher = _evidence(_NOISE)
    perfect = _evidence(_TRUTH + 0.1 * _NOISE)
    same_shuffled = _evidence(_NOISE[::-1], ids=[f"w{i}" for i in range(39, -1, -1)])
    gains = paired_gains(teacher, {1: perfect, 2: same_shuffled}, n_resamples=300)
    assert gains[1].gain == pytest.approx(
        1.0 - resampled_macro_auc(_TRUTH, _NOISE, np.ones((1, 40)))[0])
    assert gains[1].share_better == 1.0 and gains[1].low > 0
    assert gains[2].gain == pytest.approx(0.0) and gains[2].share_better == 0.0
    assert gains[1].n_groups == 10 and gains[1].n_resamples == len(gains[1].samples) == 300
    again = paired_gains(teacher, {1: perfect}, n_resamples=300)
    assert (again[1].samples == gains[1].samples).all()  # deterministic
    with pytest.raises(ValueError, match="no out-of-fold prediction for 1"):
        paired_gains(teacher, {1: _evidence(_NOISE[:39], truth=_TRUTH[:39])})


def test_publish_gated_resamples_each_rounds_oof(tmp_path):
    for r in (1, 2):
        (tmp_path / "rounds" / f"r{r}").mkdir(parents=True)
        (tmp_path / "rounds" / f"r{r}" / "net_fold0_best.pt").write_text(f"round {r}")
    (tmp_path / "models").mkdir()
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke"),
                         {"working_dir": str(tmp_path), "gate_resamples": 200})
    assert cfg.student_gate_confidence == 0.9  # on by default
    by_dir = {tmp_path / "models": _evidence(_NOISE),
              tmp_path / "rounds" / "r1": _evidence(_NOISE + 0.05 * _RNG.random((40, 3))),
              tmp_path / "rounds" / "r2": _evidence(_TRUTH + 0.1 * _NOISE)}
    rounds = _rounds(0.5, 0.51, 0.99)
    rounds.loc[0, "checkpoints_dir"] = str(tmp_path / "models")  # the teacher's is absolute
    decision, gains = publish_gated(cfg, tmp_path, rounds, tmp_path / "rounds" / "r2", KEY,
                                    by_dir.get)
    assert decision.published_round == 2 and set(gains) == {1, 2}
    assert (tmp_path / "net_student_fold0_best.pt").read_text() == "round 2"
    assert rounds["share_better"].tolist()[1:] == [gains[1].share_better, 1.0]
    assert np.isnan(rounds.loc[0, ["gain", "gain_low", "share_better"]].astype(float)).all()
    # the teacher without predictions: the point scores decide
    decision, gains = publish_gated(cfg, tmp_path, rounds, tmp_path / "rounds" / "r2", KEY,
                                    lambda path: None)
    assert gains == {} and decision.published_round == 2 and decision.confidence == 0.0


def test_gate_config_is_checked():
    with pytest.raises(ValueError, match="student_gate_confidence"):
        PseudoConfig(student_gate_confidence=1.0)
    with pytest.raises(ValueError, match="gate_resamples"):
        PseudoConfig(gate_resamples=0)


def test_unusable_oof_files_do_not_crash_the_gate(tmp_path, caplog):
    (tmp_path / "models").mkdir()
    cfg = replace_dotted(apply_preset(PseudoConfig, "smoke"),
                         {"working_dir": str(tmp_path), "gate_resamples": 50})
    rounds = _rounds(0.5, 0.9)
    rounds.loc[0, "checkpoints_dir"] = str(tmp_path / "models")

    def broken_student(path):
        if path == tmp_path / "models":
            return _evidence(_NOISE)
        raise ValueError("rows from another prep dataset")

    decision, gains = publish_gated(cfg, tmp_path, rounds, tmp_path / "rounds" / "r1", KEY,
                                    broken_student)
    assert gains == {} and decision.published_round is None
    assert "round 1 has no out-of-fold predictions to resample" in decision.reason
    assert "unusable: rows from another prep dataset" in caplog.text

    def broken_teacher(path):
        raise ValueError("rows from another prep dataset")

    decision, gains = publish_gated(cfg, tmp_path, rounds, tmp_path / "rounds" / "r1", KEY,
                                    broken_teacher)
    assert decision.published_round == 1 and decision.confidence == 0.0  # point scores


def test_the_teacher_row_points_at_its_models_from_anywhere(tmp_path, monkeypatch):
    # A relative input root (python nb03_pseudo_labeling.py --input-root runs/x/input) must
    # not send the gate looking for the teacher's OOF file under nb03's output folder.
    from common.stages.pseudo.students import teacher_row

    class Labeller:
        def round_scores(self, report):
            return {KEY: report.get(KEY)}

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "train_report.json").write_text(
        json.dumps({KEY: 0.8, "folds_done": [0, 1]}))
    monkeypatch.chdir(tmp_path)
    row = teacher_row(Path("models"), Labeller())
    assert row["checkpoints_dir"] == str(tmp_path / "models") and row[KEY] == 0.8
    assert row["folds"] == "0,1"
