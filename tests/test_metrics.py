"""Tests for common.core.metrics against sklearn, and Kaggle-scorer alignment rules."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from common.core.metrics import macro_auc_array, macro_roc_auc, per_class_auc

CLASSES = ["amecro", "65448", "barswa", "1139490", "emptyclass"]


def make_frames(n_rows: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solution with one class that never occurs; noisy scores correlated with the labels."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, len(CLASSES))) < 0.3).astype(int)
    y[:, CLASSES.index("emptyclass")] = 0
    scores = y * 0.5 + rng.random(y.shape)
    row_ids = [f"soundscape_{i // 12}_{5 * (i % 12 + 1)}" for i in range(n_rows)]
    solution_df = pd.DataFrame(y, columns=CLASSES)
    solution_df.insert(0, "row_id", row_ids)
    submission_df = pd.DataFrame(scores, columns=CLASSES)
    submission_df.insert(0, "row_id", row_ids)
    return solution_df, submission_df


def test_macro_roc_auc_equals_sklearn_on_scored_classes():
    solution_df, submission_df = make_frames()
    scored = [c for c in CLASSES if c != "emptyclass"]
    expected = roc_auc_score(
        solution_df[scored].to_numpy(), submission_df[scored].to_numpy(), average="macro"
    )
    per_class = [roc_auc_score(solution_df[c], submission_df[c]) for c in scored]
    assert macro_roc_auc(solution_df, submission_df) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(np.mean(per_class), abs=1e-12)


def test_macro_roc_auc_aligns_columns_by_name_and_rows_by_row_id():
    solution_df, submission_df = make_frames()
    reference = macro_roc_auc(solution_df, submission_df)
    shuffled = submission_df[["barswa", "row_id", "emptyclass", "65448", "1139490", "amecro"]]
    shuffled = shuffled.sample(frac=1.0, random_state=0)
    assert macro_roc_auc(solution_df, shuffled) == pytest.approx(reference, abs=1e-12)
    # Positional matching would give a different score: make sure the test can tell.
    positional = submission_df.copy()
    positional[CLASSES] = shuffled.drop(columns="row_id").to_numpy()
    assert macro_roc_auc(solution_df, positional) != pytest.approx(reference, abs=1e-6)


def test_macro_roc_auc_ignores_extra_submission_columns():
    solution_df, submission_df = make_frames()
    extra = submission_df.assign(notaspecies=0.5)
    assert macro_roc_auc(solution_df, extra) == macro_roc_auc(solution_df, submission_df)


def test_macro_roc_auc_names_missing_column_and_rows():
    solution_df, submission_df = make_frames()
    with pytest.raises(ValueError, match="65448"):
        macro_roc_auc(solution_df, submission_df.drop(columns="65448"))
    with pytest.raises(ValueError, match="row_id"):
        macro_roc_auc(solution_df, submission_df.iloc[1:])
    with pytest.raises(ValueError, match="duplicate"):
        macro_roc_auc(solution_df, pd.concat([submission_df, submission_df.iloc[:1]]))


def test_macro_roc_auc_numeric_looking_names_match_as_strings():
    solution_df, submission_df = make_frames()
    reference = macro_roc_auc(solution_df, submission_df)
    int_named = submission_df.rename(columns={"65448": 65448, "1139490": 1139490})
    assert 65448 in int_named.columns
    assert macro_roc_auc(solution_df, int_named) == pytest.approx(reference, abs=1e-12)


def test_macro_roc_auc_errors_where_kaggle_would():
    solution_df, submission_df = make_frames()
    solution_df["barswa"] = 1
    with pytest.raises(ValueError, match="barswa"):
        macro_roc_auc(solution_df, submission_df)
    text = submission_df.astype({"amecro": str})
    with pytest.raises(ValueError, match="non-numeric"):
        macro_roc_auc(make_frames()[0], text)


def test_per_class_auc_matches_sklearn_and_marks_unscorable_nan():
    rng = np.random.default_rng(1)
    y = (rng.random((30, 4)) < 0.4).astype(int)
    y[:, 2] = 0  # no positive
    y[:, 3] = 1  # no negative
    scores = rng.random((30, 4))
    names = ["65448", "amecro", "nopos", "noneg"]
    auc = per_class_auc(y, scores, names)
    assert list(auc.index) == names
    assert all(isinstance(name, str) for name in auc.index)
    assert auc["65448"] == pytest.approx(roc_auc_score(y[:, 0], scores[:, 0]))
    assert auc["amecro"] == pytest.approx(roc_auc_score(y[:, 1], scores[:, 1]))
    assert np.isnan(auc["nopos"]) and np.isnan(auc["noneg"])
    with pytest.raises(TypeError, match="strings"):
        per_class_auc(y, scores, [65448, "amecro", "nopos", "noneg"])


def test_macro_auc_array_skips_unscorable_classes():
    rng = np.random.default_rng(2)
    y = (rng.random((30, 4)) < 0.4).astype(int)
    y[:, 2] = 0
    y[:, 3] = 1
    scores = rng.random((30, 4))
    expected = np.mean([roc_auc_score(y[:, c], scores[:, c]) for c in (0, 1)])
    assert macro_auc_array(y, scores) == pytest.approx(expected, abs=1e-12)
    names = [str(c) for c in range(4)]
    assert macro_auc_array(y, scores) == pytest.approx(per_class_auc(y, scores, names).mean())


def test_macro_auc_array_agrees_with_dataframe_scorer():
    solution_df, submission_df = make_frames(seed=3)
    y = solution_df[CLASSES].to_numpy()
    s = submission_df[CLASSES].to_numpy()
    assert macro_auc_array(y, s) == pytest.approx(macro_roc_auc(solution_df, submission_df))


def test_macro_auc_array_edge_cases():
    with pytest.warns(UserWarning, match="no class"):
        assert np.isnan(macro_auc_array(np.zeros((5, 3)), np.random.rand(5, 3)))
    with pytest.raises(ValueError, match="0 and 1"):
        macro_auc_array(np.full((4, 2), 0.5), np.random.rand(4, 2))
    with pytest.raises(ValueError, match="same shape"):
        macro_auc_array(np.zeros((4, 2)), np.zeros((4, 3)))


# ---------------------------------------------------------------------------------------------
# macro_f1 (single-label tasks: the mashup genres).

from common.core.metrics import macro_f1  # noqa: E402


def _label_frames():
    truth = ["rock", "jazz", "pop", "rock", "65448", "blues", "jazz"]
    guess = ["rock", "pop", "pop", "rock", "65448", "rock", "jazz"]
    ids = [f"clip_{i}" for i in range(len(truth))]
    return (pd.DataFrame({"id": ids, "genre": truth}),
            pd.DataFrame({"id": ids, "genre": guess}), truth, guess)


def test_macro_f1_equals_sklearn_and_aligns_rows_by_id():
    from sklearn.metrics import f1_score

    solution, submission, truth, guess = _label_frames()
    expected = f1_score(truth, guess, average="macro")
    assert macro_f1(solution, submission) == pytest.approx(expected, abs=1e-12)
    shuffled = submission.sample(frac=1.0, random_state=0).assign(extra=1.0)
    assert macro_f1(solution, shuffled, label_column="genre") == pytest.approx(expected)
    assert macro_f1(solution, solution) == 1.0


def test_macro_f1_compares_labels_as_strings():
    solution = pd.DataFrame({"id": ["a", "b"], "label": ["65448", "amecro"]})
    submission = pd.DataFrame({"id": ["a", "b"], "label": [65448, "amecro"]})
    assert macro_f1(solution, submission) == 1.0


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.iloc[1:], "lacks 1 id"),
    (lambda s: s.assign(genre=["polka", *s["genre"][1:]]), "unknown labels"),
    (lambda s: pd.concat([s, s.iloc[:1]]), "duplicate id"),
    (lambda s: s.assign(genre=["", *s["genre"][1:]]), "empty"),
    (lambda s: s.drop(columns="genre"), "no 'genre' column"),
])
def test_macro_f1_errors_name_the_problem(edit, message):
    solution, submission, _, _ = _label_frames()
    with pytest.raises(ValueError, match=message):
        macro_f1(solution, edit(submission))


def test_macro_f1_checks_labels_against_the_class_list():
    solution, submission, _, _ = _label_frames()
    valid = ["rock", "jazz", "pop", "blues", "65448", "metal"]
    assert macro_f1(solution, submission, classes=valid) == macro_f1(solution, submission)
    with pytest.raises(ValueError, match="unknown labels"):
        macro_f1(solution, submission, classes=["rock", "jazz"])
