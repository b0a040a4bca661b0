import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from common.core.config import apply_preset, replace_dotted
from common.data.competition import read_csv_str
from common.data.prep_data import load_prep
from common.model.checkpoint import load_checkpoint, model_from_checkpoint
from common.stages.train.config import (
    OptimConfig,
    TrainConfig,
    check_config,
    checkpoint_rule,
    resolve_folds,
)
from common.stages.train.fold import train_fold
from common.stages.train.items import fold_data
from common.stages.train.layout import checkpoint_path
from common.stages.train.optim import build_criterion, build_scheduler
from common.stages.train.run import run_training
from common.tasks.mashup import TASK as MASHUP


def _cfg(input_root, working_dir, **changes):
    base = replace_dotted(apply_preset(TrainConfig, "smoke"),
                          {"input_root": str(input_root), "working_dir": str(working_dir)})
    return replace_dotted(base, changes)


@pytest.fixture(scope="module")
def prep(prepped_input_root):
    return load_prep(prepped_input_root / "birdclef-2026-prep")


@pytest.fixture(scope="module")
def smoke_run(prepped_input_root, tmp_path_factory):
    """The smoke preset, two folds, trained in two worker processes (the multi-GPU path)."""
    cfg = _cfg(prepped_input_root, tmp_path_factory.mktemp("models"), parallel_processes=2)
    return cfg, run_training(cfg)


def test_smoke_run_writes_loadable_checkpoints(smoke_run, prep):
    cfg, result = smoke_run
    for fold in (0, 1):
        for which in ("best", "last"):
            path = checkpoint_path(cfg, fold, which)
            assert path.name == f"test_efficientnet_fold{fold}_{which}.pt"
            model, meta = model_from_checkpoint(path)
            assert meta["classes"] == prep.classes and meta["fold"] == fold
            assert meta["frontend"]["n_mels"] == cfg.frontend.n_mels
            assert meta["config"]["model"]["backbone"] == "test_efficientnet"
            with torch.no_grad():
                out = model(torch.zeros(2, cfg.frontend.clip_samples))
            assert out["clip_logits"].shape == (2, len(prep.classes))


def test_smoke_run_writes_tables_plots_and_metadata(smoke_run, prep):
    cfg, result = smoke_run
    out = cfg.output_dir
    log_df = pd.read_csv(out / "training_log.csv")
    assert {"fold", "epoch", "lr", "train_loss", "val_soundscape_auc", "val_focal_auc",
            "seconds"} <= set(log_df.columns)
    assert sorted(log_df["fold"]) == [0, 1]
    oof = read_csv_str(out / "oof_soundscapes.csv")
    assert list(oof.columns) == ["row_id", "key", "start_seconds", *prep.classes, "fold"]
    assert oof["row_id"].is_unique and set(oof["fold"]) == {0, 1}
    assert len(oof) == 12 * prep.soundscape_df["filename"].nunique()
    probs = oof[prep.classes].to_numpy(dtype=float)
    assert ((probs >= 0) & (probs <= 1)).all()
    for name in ("oof_focal.csv", "fold_summary.csv", "per_class_auc.csv", "train_config.json",
                 "train_report.json", "figures/learning_curves.png", "figures/per_class_auc.png"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "dataset-metadata.json").read_text())
    assert meta["id"].endswith("/birdclef-2026-models")
    assert json.loads((out / "train_config.json").read_text())["folds"] == [0, 1]
    assert not list((out / "resume").glob("*.pt")), "resume states are removed when done"
    # the default csv tracker holds the config, every fold's epochs and the fold summaries
    from common.report.tracking import read_metrics, read_run_summary

    metrics = read_metrics(out)
    assert set(metrics["fold"]) == {0, 1} and "fold1/val_soundscape_auc" in set(metrics["name"])
    assert "fold0/best_epoch" in read_run_summary(out)
    assert (out / "tracking" / "config.json").is_file()
    assert result.report["folds_done"] == [0, 1]


def test_smoke_run_result_tables_for_the_notebook(smoke_run):
    cfg, result = smoke_run
    assert result.model_scores_df["model"].tolist() == ["cnn", "logreg (log-mel reference)"]
    assert result.model_scores_df["oof_macro_roc_auc"].tolist() == pytest.approx(
        [result.report["oof_soundscape_auc"], result.report["logreg_reference_auc"]],
        nan_ok=True)
    logreg = read_csv_str(cfg.output_dir / "oof_logreg.csv")  # the same held-out windows
    oof = read_csv_str(cfg.output_dir / "oof_soundscapes.csv")
    assert sorted(logreg["row_id"]) == sorted(oof["row_id"])
    weakest = result.weakest_classes_df["oof_soundscape_auc"]
    assert weakest.is_monotonic_increasing and len(weakest)
    assert weakest.notna().all()  # classes never scored are left out, not shown as NaN rows
    assert result.per_class_df["oof_soundscape_auc"].isna().any()  # the tiny data has some


def test_resolve_folds():
    cfg = TrainConfig()
    assert resolve_folds(cfg, 5) == (0, 1, 2, 3, 4)
    assert resolve_folds(replace_dotted(cfg, {"folds": "3,1"}), 5) == (3, 1)
    with pytest.raises(ValueError, match="folds"):
        resolve_folds(replace_dotted(cfg, {"folds": (5,)}), 5)


def test_fold_data_holds_out_the_fold(prep, prepped_input_root, tmp_path):
    cfg = _cfg(prepped_input_root, tmp_path)
    data = fold_data(cfg, prep, 1)
    train = data.train.table_df
    assert not (train["fold"] == 1).any()
    assert (train["fold"] == -1).sum() == (prep.train_df["fold"] == -1).sum()
    assert (data.val_focal.table_df["fold"] == 1).all()
    assert len(data.val_focal) == (prep.train_df["fold"] == 1).sum()
    val_files = set(prep.soundscape_df.loc[prep.soundscape_df["fold"] == 1, "filename"])
    assert set(data.val_soundscapes.table_df["key"].str.split("/").str[-1]) == val_files
    assert not set(data.background_df["key"].str.split("/").str[-1]) & val_files


def test_scheduler_warms_up_then_decays_to_the_floor():
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW([{"params": params, "lr": 1.0}])
    sched = build_scheduler(opt, total_steps=20, warmup_steps=4, min_lr_ratio=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[1] < lrs[3] < lrs[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] >= 0.1


def _state(path):
    state_dict, meta = load_checkpoint(path)
    return state_dict, meta


def test_resume_matches_uninterrupted_run(prep, prepped_input_root, tmp_path):
    changes = {"folds": (0,), "epochs": 2, "max_steps_per_epoch": 2, "batch_size": 4,
               "keep_resume_state": True, "checkpoint_selection": "best"}
    full = _cfg(prepped_input_root, tmp_path / "full", **changes)
    train_fold(full, prep, 0)
    split = _cfg(prepped_input_root, tmp_path / "split", **changes, session_epochs=1)
    first = train_fold(split, prep, 0)
    assert first["status"] == "interrupted"
    assert _state(checkpoint_path(split, 0, "last"))[1]["metrics"]["epoch"] == 1
    train_fold(replace_dotted(split, {"session_epochs": 0}), prep, 0)

    a, meta_a = _state(checkpoint_path(full, 0, "last"))
    b, meta_b = _state(checkpoint_path(split, 0, "last"))
    assert meta_a["metrics"]["epoch"] == meta_b["metrics"]["epoch"] == 2
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    for name in ("val_soundscape_auc", "val_focal_auc", "train_loss"):
        assert meta_a["metrics"][name] == pytest.approx(meta_b["metrics"][name], abs=1e-6)
    history = pd.read_csv(tmp_path / "split" / "folds" / "test_efficientnet_fold0" /
                          "history.csv")
    assert list(history["epoch"]) == [1, 2]

    # Best vs last: best.pt is the epoch with the highest validation score, last.pt the final.
    best_epoch = int(history.loc[history["val_soundscape_auc"].idxmax(), "epoch"])
    assert _state(checkpoint_path(split, 0, "best"))[1]["metrics"]["epoch"] == best_epoch
    assert history["is_best"].sum() >= 1


def test_fold_without_soundscapes_selects_by_focal_auc(prep, prepped_input_root, tmp_path,
                                                       caplog):
    no_val = load_prep(prep.prep_dir)
    no_val.soundscape_df = no_val.soundscape_df.assign(fold=0)  # fold 1 has none left
    cfg = _cfg(prepped_input_root, tmp_path, folds=(1,), max_steps_per_epoch=1)
    with caplog.at_level(logging.WARNING, logger="common.stages.train.validation"):
        summary = train_fold(cfg, no_val, 1)
    assert summary["selection"] == "val_focal_auc"
    assert any("focal-clip AUC" in r.getMessage() for r in caplog.records)
    assert np.isnan(summary["val_soundscape_auc"]) or summary["val_soundscape_auc"] is None
    assert not checkpoint_path(cfg, 0, "best").exists(), "only the selected fold is trained"
    assert checkpoint_path(cfg, 1, "best").is_file()


def test_checkpoint_selection_last_saves_the_final_epoch(prep, prepped_input_root, tmp_path):
    cfg = _cfg(prepped_input_root, tmp_path, folds=(0,), epochs=3, max_steps_per_epoch=1,
               checkpoint_selection="last")
    summary = train_fold(cfg, prep, 0)
    assert summary["best_epoch"] == 3
    _, meta = load_checkpoint(checkpoint_path(cfg, 0, "best"))
    assert meta["metrics"]["epoch"] == 3
    with pytest.raises(ValueError, match="checkpoint_selection"):
        train_fold(_cfg(prepped_input_root, tmp_path / "bad", checkpoint_selection="first"),
                   prep, 0)


def test_checkpoint_rule_auto_chooses_by_validation_size():
    auto = OptimConfig()
    assert auto.checkpoint_selection == "auto" and auto.min_val_rows_for_best == 100
    # The BirdCLEF demo (24 windows per fold) keeps the last epoch; the real competition
    # (~156 windows per fold) and the mashup demo (100 clips per fold) choose by score.
    assert checkpoint_rule(auto, 24) == (
        "last", "auto: 24 scored validation rows < min_val_rows_for_best=100")
    assert checkpoint_rule(auto, 156)[0] == "best"
    assert checkpoint_rule(auto, 100)[0] == "best"
    assert checkpoint_rule(OptimConfig(min_val_rows_for_best=10), 24)[0] == "best"
    for rule in ("best", "last"):  # given explicitly, taken as given
        assert checkpoint_rule(OptimConfig(checkpoint_selection=rule), 24)[0] == rule
        assert checkpoint_rule(OptimConfig(checkpoint_selection=rule), 1000)[0] == rule
    # Neither a preset nor a task sets the rule: the fold's validation size does.
    for task in ("birdclef-2026", "messy-mashup"):
        for preset in ("default", "cpu", "smoke"):
            assert apply_preset(TrainConfig, preset, task).optim.checkpoint_selection == "auto"


def test_checkpoint_rule_auto_is_applied_and_logged_per_fold(prep, prepped_input_root, tmp_path,
                                                             caplog):
    cfg = _cfg(prepped_input_root, tmp_path, folds=(0,), epochs=2, max_steps_per_epoch=1)
    with caplog.at_level(logging.INFO, logger="common.stages.train.fold"):
        summary = train_fold(cfg, prep, 0)
    n_windows = summary["n_val_soundscape_windows"]
    assert 0 < n_windows < 100  # the tiny competition: too few to choose an epoch by
    assert summary["checkpoint_rule"] == "last" and summary["best_epoch"] == 2
    assert any(f"checkpoint rule 'last' (auto: {n_windows} scored validation rows" in
               r.getMessage() for r in caplog.records)
    # the epoch lines say what the rule did, not that every epoch was the best
    epochs = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage()
              and "loss" in r.getMessage()]
    assert len(epochs) == 2 and all("(kept: rule 'last')" in m for m in epochs)
    assert not any("best so far" in r.getMessage() for r in caplog.records)
    assert any("kept epoch 2 by rule 'last'" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------------------
# Options used by nb03 and the sweep: rating filter, extra windows per fold, class balance,
# warm start.


def test_min_rating_drops_low_rated_clips_from_training_only(prep, prepped_input_root, tmp_path):
    rating = pd.to_numeric(prep.train_df["rating"], errors="coerce").fillna(0.0)
    low = set(prep.train_df.loc[(rating > 0) & (rating < 3), "filename"])
    assert low, "the tiny competition should have low-rated clips"
    base = fold_data(_cfg(prepped_input_root, tmp_path), prep, 0)
    data = fold_data(_cfg(prepped_input_root, tmp_path, min_rating=3.0), prep, 0)
    focal_keys = set(data.train.table_df.loc[data.train.table_df["source"] == "focal", "key"])
    assert not focal_keys & low
    assert focal_keys and len(data.train) < len(base.train)
    assert len(data.val_focal) == len(base.val_focal)  # still validated


def test_soundscape_negatives_add_the_unlisted_windows_of_training_soundscapes(
        prep, prepped_input_root, tmp_path):
    import dataclasses

    # The tiny soundscapes are busy: unlist every other window so that negatives exist.
    sc_df = prep.soundscape_df.iloc[::2].reset_index(drop=True)
    sparse = dataclasses.replace(prep, soundscape_df=sc_df)
    train_files = set(sc_df.loc[sc_df["fold"] != 0, "filename"].astype(str))
    listed = int((sc_df["fold"] != 0).sum())

    def soundscape_rows(**changes):
        cfg = _cfg(prepped_input_root, tmp_path, soundscape_repeats=1, soundscape_weight=3.0,
                   **changes)
        train = fold_data(cfg, sparse, 0).train
        rows = train.table_df["source"].to_numpy() == "soundscape"
        return train.table_df[rows], train.targets[rows]

    only_calls, only_calls_y = soundscape_rows(soundscape_negatives=False)
    every, every_y = soundscape_rows(soundscape_negatives=True)
    assert len(only_calls) == listed and (only_calls_y.max(axis=1) > 0).all()
    assert set(every["key"].str.split("/").str[-1]) == train_files
    assert (every.groupby("key").size() == 12).all()  # whole 60-s files
    negatives = every_y.max(axis=1) == 0
    assert negatives.sum() == len(every) - listed > 0
    assert (every["weight"] == 3.0).all() and (only_calls["weight"] == 3.0).all()


def test_extra_windows_per_fold_placeholder_and_repeats(prep, prepped_input_root, tmp_path):
    from common.stages.train.layout import extra_windows_path

    assert extra_windows_path("/a/p_fold{fold}.csv", 3).name == "p_fold3.csv"
    for k in (0, 1):
        pd.DataFrame({"key": [f"train_soundscapes/x{k}.ogg"] * 2, "start_seconds": [0, 5],
                      "fold": [-1, k], prep.classes[0]: [0.7, 0.2]}).to_csv(
            tmp_path / f"extra_fold{k}.csv", index=False)
    cfg = _cfg(prepped_input_root, tmp_path, extra_repeats=3,
               extra_windows=(str(tmp_path / "extra_fold{fold}.csv"),))
    data = fold_data(cfg, prep, 1)
    extra = data.train.table_df["source"].str.startswith("extra:").to_numpy()
    assert extra.sum() == 3  # one row of fold 1's table is held out; the other x3
    assert set(data.train.table_df.loc[extra, "key"]) == {"train_soundscapes/x1.ogg"}
    assert data.train.targets[extra, 0].tolist() == pytest.approx([0.7] * 3)


def test_class_balance_weights_and_sampler():
    from common.data.loaders import make_loader
    from common.data.windows import WindowItems
    from common.stages.train.items import class_balance_weights

    targets = np.zeros((13, 3), np.float32)
    targets[:9, 0] = 1  # 9 rows of class 0
    targets[9:12, 1] = 1  # 3 rows of class 1
    # last row: no positive (its own group)
    items = WindowItems(pd.DataFrame({"key": ["k"] * 13, "crop": "window", "start_seconds": 0.0,
                                      "weight": 1.0, "source": "s", "fold": 0, "row_id": "r"}),
                        targets)
    w = class_balance_weights(items)
    assert w.sum() == pytest.approx(1.0)
    # per class mass ~ sqrt(count): 3 : sqrt(3) : 1
    mass = [w[:9].sum(), w[9:12].sum(), w[12:].sum()]
    assert mass[0] / mass[2] == pytest.approx(3.0) and mass[1] / mass[2] == pytest.approx(3 ** 0.5)

    class _Rows(torch.utils.data.Dataset):
        def __len__(self):
            return 13

        def __getitem__(self, i):
            return i

        def set_epoch(self, epoch):
            pass

    orders = [list(make_loader(_Rows(), 13, shuffle=True, seed=1, epoch=0,
                               sample_weights=w))[0].tolist() for _ in range(2)]
    assert orders[0] == orders[1]  # deterministic given the seed
    assert len(orders[0]) == 13 and len(set(orders[0])) < 13  # drawn with replacement


def test_warm_start_loads_the_teacher_weights(prep, prepped_input_root, tmp_path):
    from common.model.checkpoint import save_checkpoint
    from common.model.sed import build_model

    cfg = _cfg(prepped_input_root, tmp_path / "student", folds=(0,), epochs=1,
               max_steps_per_epoch=1, lr=0.0, ema=False, init_checkpoint=str(
                   tmp_path / "teacher_fold{fold}.pt"))
    teacher = build_model(cfg.model, cfg.frontend, len(prep.classes))
    with torch.no_grad():
        for p in teacher.head.parameters():
            p.fill_(0.125)
    save_checkpoint(tmp_path / "teacher_fold0.pt", teacher, classes=prep.classes,
                    model_cfg=cfg.model, frontend_cfg=cfg.frontend, fold=0, metrics={},
                    config={})
    train_fold(cfg, prep, 0)
    state, _ = load_checkpoint(checkpoint_path(cfg, 0, "last"))
    head = [v for k, v in state.items() if k.startswith("head.") and v.dtype.is_floating_point
            and "running" not in k]
    assert head and all(torch.allclose(v, torch.full_like(v, 0.125)) for v in head)
    with pytest.raises(FileNotFoundError, match="init_checkpoint"):
        train_fold(replace_dotted(cfg, {"working_dir": str(tmp_path / "x"), "folds": (1,)}),
                   prep, 1)


# ---------------------------------------------------------------------------------------------
# The single-label, whole-clip task (messy mashup) through the same training code.

GENRES = list(MASHUP.classes)
MASHUP_RATE = 22050


def _tone(genre_index: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A genre-coloured test signal: a harmonic tone pulsing at a genre tempo, plus noise."""
    t = np.arange(int(seconds * MASHUP_RATE)) / MASHUP_RATE
    f0 = 110.0 * 1.25 ** genre_index
    tone = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))
    pulse = 0.5 + 0.5 * np.sin(2 * np.pi * (1.0 + 0.2 * genre_index) * t) ** 2
    return (0.2 * tone * pulse + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def make_mashup_prep(prep_dir, clips_per_genre_fold: int = 1, n_folds: int = 2):
    """An nb01 output for the mashup task, by hand, following the contract: 30-s clips at
    22.05 kHz cached whole (kind "clip"), two noise clips (kind "background", one shorter than
    a window), and the CSVs nb02 reads."""
    from common.audio.cache import CacheWriter

    rng = np.random.default_rng(0)
    rows = []
    with CacheWriter(prep_dir / "cache", MASHUP_RATE) as writer:
        for g, genre in enumerate(GENRES):
            for fold in range(n_folds):
                for i in range(clips_per_genre_fold):
                    key = f"mashups/{genre}/{genre}_f{fold}_{i:03d}.wav"
                    writer.add(key, _tone(g, 30.0, rng), kind="clip")
                    rows.append({"filename": key, "primary_label": genre,
                                 "secondary_labels": "[]", "fold": fold,
                                 "duration_seconds": 30.0, "active_share": 1.0,
                                 "best_window_start_seconds": 0.0, "snr_db": 10.0})
        writer.add("noise/rain_0.wav", 0.05 * rng.standard_normal(5 * MASHUP_RATE), "background")
        writer.add("noise/wind_1.wav", 0.05 * rng.standard_normal(int(4.6 * MASHUP_RATE)),
                   "background")
    pd.DataFrame(rows).to_csv(prep_dir / "train_folds.csv", index=False)
    pd.DataFrame(columns=["filename", "start_seconds", "end_seconds", "row_id", "primary_label",
                          "fold"]).to_csv(prep_dir / "soundscape_labels_folds.csv", index=False)
    pd.DataFrame({"column_index": range(len(GENRES)), "primary_label": GENRES,
                  "class_name": "genre", "common_name": GENRES,
                  "n_focal_clips": clips_per_genre_fold * n_folds, "n_secondary": 0,
                  "n_soundscape_windows": 0}).to_csv(prep_dir / "species.csv", index=False)
    return prep_dir


def _mashup_cfg(input_root, working_dir, **changes):
    base = apply_preset(TrainConfig, "smoke", "messy-mashup")
    base = replace_dotted(base, {"input_root": str(input_root), "working_dir": str(working_dir)})
    return replace_dotted(base, changes)


@pytest.fixture(scope="module")
def mashup_input_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mashup_input")
    (root / "messy-mashup-prep").mkdir()
    make_mashup_prep(root / "messy-mashup-prep")
    return root


@pytest.fixture(scope="module")
def mashup_run(mashup_input_root, tmp_path_factory):
    cfg = _mashup_cfg(mashup_input_root, tmp_path_factory.mktemp("mashup_models"))
    return cfg, run_training(cfg)


def test_mashup_task_defaults_fit_the_task():
    for preset in ("default", "cpu", "smoke"):
        cfg = apply_preset(TrainConfig, preset, "messy-mashup")
        check_config(cfg)  # the loss fits, the simulator is off
        assert cfg.frontend.sample_rate == 22050 and cfg.frontend.f_max <= 22050 / 2
        assert (cfg.prep_slug, cfg.dataset_slug, cfg.competition) == (
            "messy-mashup-prep", "messy-mashup-models", "messy-mashup")
        assert (cfg.objective.loss, cfg.data.crop_mode, cfg.data.use_soundscapes,
                cfg.data.background_mixing) == (
            "cross_entropy", "random", False, True)
    assert build_criterion(cfg).__class__.__name__ == "CrossEntropy"
    birds = apply_preset(TrainConfig, "default")
    check_config(birds)
    assert (birds.objective.loss, birds.frontend.sample_rate) == ("asl", 32000)


@pytest.mark.parametrize("change, message", [
    ({"loss": "asl"}, "does not fit"),
    ({"loss": "bce"}, "does not fit"),
    ({"wave_augment.p_simulate": 0.3}, "p_simulate"),
    ({"wave_augment.label_smoothing": 0.1}, "label_smoothing"),
    ({"use_soundscapes": True}, "use_soundscapes"),
])
def test_mashup_task_refuses_multi_label_settings(mashup_input_root, tmp_path, change, message):
    cfg = _mashup_cfg(mashup_input_root, tmp_path, **change)
    with pytest.raises(ValueError, match=message):
        run_training(cfg)
    assert not (tmp_path / "train_config.json").exists(), "refused before anything is written"
    with pytest.raises(ValueError, match="does not fit"):
        build_criterion(_cfg(tmp_path, tmp_path, loss="cross_entropy"))


def test_cache_at_another_rate_than_the_frontend_is_an_error(mashup_input_root, tmp_path):
    cfg = _mashup_cfg(mashup_input_root, tmp_path, **{"frontend.sample_rate": 32000,
                                                      "frontend.f_max": 15000.0})
    with pytest.raises(ValueError, match="22050"):
        run_training(cfg)


def test_mashup_fold_data_trains_on_other_folds_and_validates_every_window(mashup_input_root,
                                                                          tmp_path):
    cfg = _mashup_cfg(mashup_input_root, tmp_path)
    prep = load_prep(mashup_input_root / "messy-mashup-prep")
    data = fold_data(cfg, prep, 1)
    assert (data.train.table_df["fold"] == 0).all() and len(data.train) == len(GENRES)
    assert (data.train.targets.sum(axis=1) == 1).all()  # one-hot: one genre per clip
    clips = data.val_clips.table_df
    assert len(clips) == 6 * len(GENRES) and clips["key"].nunique() == len(GENRES)
    assert (clips["fold"] == 1).all()
    assert sorted(data.background_df["key"]) == ["noise/rain_0.wav", "noise/wind_1.wav"]
    assert len(data.val_soundscapes) == 0


def test_mashup_smoke_run_selects_by_clip_macro_f1(mashup_run):
    cfg, result = mashup_run
    out = cfg.output_dir
    history = pd.read_csv(out / "training_log.csv")
    assert {"val_macro_f1", "val_accuracy", "train_loss"} <= set(history.columns)
    assert "val_soundscape_auc" not in history.columns
    assert (history["selection"] == "val_macro_f1").all()
    assert history["val_macro_f1"].between(0, 1).all()
    summary = pd.read_csv(out / "fold_summary.csv")
    assert sorted(summary["fold"]) == [0, 1]
    assert (summary["n_val_clips"] == len(GENRES)).all()
    assert (summary["n_val_windows"] == 6 * len(GENRES)).all()


def test_mashup_smoke_run_writes_clip_oof_and_genre_checkpoints(mashup_run):
    cfg, result = mashup_run
    out = cfg.output_dir
    oof = pd.read_csv(out / "oof_clips.csv", dtype={"key": str})
    assert list(oof.columns) == ["key", "fold", *GENRES]
    assert len(oof) == 2 * len(GENRES) and oof["key"].is_unique
    assert sorted(set(oof["fold"])) == [0, 1]
    probs = oof[GENRES].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)  # softmax, pooled
    per_fold = pd.read_csv(out / "folds" / "test_efficientnet_fold1" / "oof_clips.csv")
    assert (per_fold["fold"] == 1).all() and len(per_fold) == len(GENRES)
    for fold in (0, 1):
        model, meta = model_from_checkpoint(checkpoint_path(cfg, fold, "best"))
        assert meta["classes"] == GENRES
        assert meta["frontend"]["sample_rate"] == 22050
        assert meta["config"]["task"] == "messy-mashup"
        assert meta["config"]["objective"]["loss"] == "cross_entropy"
        assert "val_macro_f1" in meta["metrics"]
        with torch.no_grad():
            out_ = model(torch.zeros(1, cfg.frontend.clip_samples))
        assert out_["clip_logits"].shape == (1, len(GENRES))
    assert json.loads((out / "dataset-metadata.json").read_text())["id"].endswith(
        "/messy-mashup-models")


def test_mashup_smoke_run_fits_the_feature_baseline_and_blends(mashup_run):
    cfg, result = mashup_run
    out = cfg.output_dir
    features = pd.read_csv(out / "features.csv")
    assert list(features.columns[:3]) == ["key", "genre", "fold"]
    assert features.shape == (2 * len(GENRES), 3 + 194)
    for name in ("logreg", "extra_trees"):
        oof = pd.read_csv(out / f"oof_{name}.csv")
        assert list(oof.columns) == ["key", "fold", *GENRES] and len(oof) == 2 * len(GENRES)
    spec = json.loads((out / "blend.json").read_text())
    assert set(spec["weights"]) == {"cnn", "logreg", "extra_trees"}
    assert sum(spec["weights"].values()) == pytest.approx(1.0)
    assert set(spec["oof_macro_f1"]) == {"cnn", "logreg", "extra_trees", "blend"}
    # The blend is chosen on these very rows: it is never worse than its best member.
    assert spec["oof_macro_f1"]["blend"] >= max(spec["oof_macro_f1"][m] for m in spec["weights"])
    for name in ("cnn", "logreg", "extra_trees", "blend"):
        assert (out / "figures" / f"confusion_{name}.png").is_file()
    assert (out / "figures" / "per_class_f1.png").is_file()
    assert not (out / "figures" / "per_class_auc.png").exists()
    report = json.loads((out / "train_report.json").read_text())
    assert report["oof_macro_f1"] == pytest.approx(spec["oof_macro_f1"])
    assert report["task"] == "messy-mashup" and report["folds_done"] == [0, 1]
    assert list(result.model_scores_df["model"]) == ["cnn", "logreg", "extra_trees", "blend"]
    assert list(result.per_class_df["primary_label"]) == GENRES
    assert {"f1_cnn", "f1_blend"} <= set(result.weakest_classes_df.columns)


def test_mashup_feature_baseline_can_be_turned_off(mashup_input_root, tmp_path):
    cfg = _mashup_cfg(mashup_input_root, tmp_path, folds=(0,), feature_baseline=False)
    result = run_training(cfg)
    assert not (tmp_path / "features.csv").exists() and not (tmp_path / "blend.json").exists()
    assert list(result.model_scores_df["model"]) == ["cnn"]
    assert result.report["n_oof_clips"] == len(GENRES)  # fold 0's clips only
    assert (tmp_path / "figures" / "confusion_cnn.png").is_file()


def test_mashup_training_on_nb01s_output(mashup_prepped_input_root, tmp_path):
    """The contract with nb01 (real mashups, real noise clips as background), one fold."""
    cfg = _mashup_cfg(mashup_prepped_input_root, tmp_path, folds=(0,), feature_baseline=False)
    prep = load_prep(mashup_prepped_input_root / "messy-mashup-prep")
    assert prep.classes == GENRES
    data = fold_data(cfg, prep, 0)
    assert len(data.background_df) and data.background_df["key"].str.startswith("noise/").all()
    result = run_training(cfg)
    oof = pd.read_csv(tmp_path / "oof_clips.csv")
    assert sorted(oof["key"]) == sorted(prep.train_df.loc[prep.train_df["fold"] == 0,
                                                          "filename"])
    assert result.report["folds_done"] == [0]
    _, meta = load_checkpoint(checkpoint_path(cfg, 0, "best"))
    assert meta["classes"] == GENRES and meta["frontend"]["sample_rate"] == 22050
