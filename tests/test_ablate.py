import numpy as np
import pandas as pd
import pytest

from devtools.ablate import RECIPE, VARIANTS, leaderboard


def test_leaderboard_means_spreads_and_deltas_from_the_recipe():
    runs = pd.DataFrame({
        "variant": [RECIPE, RECIPE, RECIPE, "loss_bce", "loss_bce", "loss_bce"],
        "seed": [0, 1, 2, 0, 1, 2],
        "cv_auc": [0.80, 0.82, 0.84, 0.85, 0.87, np.nan],  # one bce run failed
        "test_auc": [0.70, 0.72, 0.74, 0.80, 0.80, np.nan],
        "seconds": [60, 60, 120, 30, 30, 30],
    })
    board = leaderboard(runs).set_index("variant")
    assert list(board.index) == [RECIPE, "loss_bce"]
    assert board.loc[RECIPE, "cv_mean"] == pytest.approx(0.82)
    assert board.loc[RECIPE, "cv_std"] == pytest.approx(np.std([0.80, 0.82, 0.84]))
    assert board.loc[RECIPE, "minutes"] == pytest.approx(80 / 60)
    assert board.loc["loss_bce", "n_seeds"] == 2
    assert board.loc["loss_bce", "cv_delta"] == pytest.approx(0.86 - 0.82)
    assert board.loc["loss_bce", "test_delta"] == pytest.approx(0.80 - 0.72)
    assert board.loc[RECIPE, "cv_delta"] == 0.0


def test_leaderboard_without_a_recipe_row_has_no_deltas():
    runs = pd.DataFrame({"variant": ["no_tta"], "seed": [0], "cv_auc": [0.8],
                         "test_auc": [0.7], "seconds": [10]})
    assert np.isnan(leaderboard(runs)["test_delta"]).all()


def test_every_variant_changes_something_real():
    from common.core.config import leaf_fields, resolve_alias
    from common.stages.infer.config import InferConfig
    from common.stages.train.config import TrainConfig

    train_fields, infer_fields = leaf_fields(TrainConfig), leaf_fields(InferConfig)
    for name, variant in VARIANTS.items():
        if name == RECIPE:
            assert not (variant.train or variant.infer or variant.pseudo)
            continue
        assert variant.train or variant.infer or variant.pseudo, name
        for key in variant.train:
            assert resolve_alias(key, train_fields) in train_fields, (name, key)
        for key in variant.infer:
            assert resolve_alias(key, infer_fields) in infer_fields, (name, key)


def test_a_variant_the_recipe_already_has_runs_as_its_opposite():
    from devtools.ablate import resolve_variants

    # The cpu recipe trains with BCE and without SpecAugment: those rows flip to the Kaggle
    # recipe's values; the Kaggle recipe itself (default) runs them as defined.
    cpu = resolve_variants("cpu", ["loss_bce", "no_specaugment", "random_crop"])
    assert list(cpu) == ["loss_asl", "with_specaugment", "random_crop"]
    assert cpu["loss_asl"].train == {"objective.loss": "asl"}
    assert cpu["with_specaugment"].train["spec_augment.p"] > 0
    assert cpu["random_crop"] is VARIANTS["random_crop"]
    kaggle = resolve_variants("default", ["loss_bce", "no_specaugment", "no_band_stats"])
    # no_band_stats: the Kaggle recipe has no band path and the row has no opposite.
    assert list(kaggle) == ["loss_bce", "no_specaugment"]
    assert kaggle["loss_bce"] is VARIANTS["loss_bce"]


def test_each_training_folder_is_swept_once_and_infer_rows_reuse_the_recipes(tmp_path,
                                                                             monkeypatch):
    import devtools.ablate as ablate

    calls = []

    def fake_sweep(base_input, work_dir, preset, grid, fixed=None, threads=0):
        calls.append((work_dir.name, dict(fixed or {}), threads))
        return pd.DataFrame({"run_id": [f"{work_dir.name}-{s}" for s in grid["seed"]],
                             "seed": grid["seed"], "status": "ok",
                             "cv_auc_mean": 0.8, "oof_auc": 0.8, "seconds": 60.0})

    scored = []

    def fake_score(preset, base_input, run_dir, eval_dir, variant, answer_key, seed):
        scored.append((eval_dir.parent.parent.name, run_dir.name))
        return 0.7, 5.0

    monkeypatch.setattr(ablate, "run_sweep", fake_sweep)
    monkeypatch.setattr(ablate, "_infer_and_score", fake_score)
    runs, board = ablate.run_ablation("smoke", tmp_path, tmp_path / "key.csv", tmp_path,
                                      [0, 1], [RECIPE, "loss_bce", "no_tta"], jobs=2)
    assert sorted(c[0] for c in calls) == sorted([RECIPE, "loss_bce"])  # no_tta trains nothing
    assert all(c[2] >= 1 for c in calls)  # side by side: each run its share of threads
    assert ("no_tta", f"{RECIPE}-0") in scored and ("loss_bce", "loss_bce-1") in scored
    assert len(runs) == 6 and list(board["variant"]) == [RECIPE, "loss_bce", "no_tta"]
    assert (runs["seconds"] == 65.0).all()
