"""Tests for common.stages.restore: a stage's previous output, attached as an input, is copied
back into an empty working dir, and nb02 then keeps its finished folds and resumes a cut one."""

import logging
import os
import shutil

import pandas as pd

from common.core.config import apply_preset, replace_dotted
from common.stages.restore import previous_output_dir, restore_previous_output
from common.stages.train.config import TrainConfig
from common.stages.train.layout import checkpoint_path, fold_dir, resume_path
from common.stages.train.run import run_training

SLUG = "birdclef-2026-models"


def write(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_restore_copies_what_the_working_dir_lacks(tmp_path):
    root = tmp_path / "input"
    previous = root / "notebooks" / "me" / SLUG  # Kaggle's mount of a notebook's own output
    write(previous / "b0_fold0_best.pt", "fold 0")
    write(previous / "folds" / "b0_fold0" / "done.json", "{}")
    write(previous / "resume" / "b0_fold1.pt", "state")
    write(previous / "resume" / ".b0_fold1.pt.tmp", "half written")
    write(previous / "nb02.log", "old log")
    work = tmp_path / "working"
    write(work / "nb02.log", "this session")

    restored = restore_previous_output(root, SLUG, work)
    assert restored.source == previous
    assert sorted(restored.copied) == ["b0_fold0_best.pt", "folds/b0_fold0/done.json",
                                       "resume/b0_fold1.pt"]
    assert restored.kept == ("nb02.log",) and (work / "nb02.log").read_text() == "this session"
    assert (work / "resume" / "b0_fold1.pt").read_text() == "state"
    assert not (work / "resume" / ".b0_fold1.pt.tmp").exists()  # a kill's leftover
    assert not os.path.samefile(work / "b0_fold0_best.pt", previous / "b0_fold0_best.pt")
    # Run again in the same session: nothing left to copy.
    assert restore_previous_output(root, SLUG, work).copied == ()


def test_a_resume_dataset_wins_and_nothing_attached_is_a_fresh_start(tmp_path):
    root = tmp_path / "input"
    assert previous_output_dir(root, SLUG) is None
    assert restore_previous_output(root, SLUG, tmp_path / "work") is None
    assert not (tmp_path / "work").exists()
    write(root / SLUG / "a.txt")
    dataset = write(root / "datasets" / "me" / f"{SLUG}-resume" / "a.txt").parent
    assert previous_output_dir(root, SLUG) == dataset
    # Locally a stage's working dir is <input_root>/<slug>: nothing to restore from itself.
    assert restore_previous_output(root, SLUG, root / SLUG) is not None  # the -resume dataset
    shutil.rmtree(dataset)
    assert restore_previous_output(root, SLUG, root / SLUG) is None


def _cfg(input_root, working_dir, **changes):
    base = replace_dotted(apply_preset(TrainConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(working_dir), "optim.epochs": 2,
        "optim.max_steps_per_epoch": 2, "optim.batch_size": 4})
    return replace_dotted(base, changes)


def test_nb02_continues_from_a_restored_previous_session(prepped_input_root, tmp_path, caplog):
    """Session 1 finished fold 0 and was cut after epoch 1 of fold 1; session 2 starts from an
    empty working dir with session 1's output attached, keeps fold 0, resumes fold 1."""
    root = tmp_path / "input"
    root.mkdir()
    for name in ("birdclef-2026", "birdclef-2026-prep"):
        (root / name).symlink_to((prepped_input_root / name).resolve())
    previous = root / "notebooks" / "me" / SLUG
    run_training(_cfg(root, previous, folds=(0,)))
    run_training(_cfg(root, previous, folds=(1,), **{"session.session_epochs": 1}))
    first = _cfg(root, previous)
    assert (fold_dir(first, 0) / "done.json").is_file()
    assert resume_path(first, 1).is_file() and not (fold_dir(first, 1) / "done.json").exists()
    fold0_bytes = checkpoint_path(first, 0, "best").read_bytes()

    cfg = _cfg(root, tmp_path / "working")
    caplog.set_level(logging.INFO, logger="common.stages.train.fold")
    restored = restore_previous_output(cfg.input_root, cfg.dataset_slug, cfg.output_dir)
    assert "resume/test_efficientnet_fold1.pt" in restored.copied
    result = run_training(cfg)

    assert checkpoint_path(cfg, 0, "best").read_bytes() == fold0_bytes  # kept, not retrained
    log = result.log_df
    assert log.loc[log["fold"] == 0, "epoch"].tolist() == [1, 2]  # from session 1's history
    assert log.loc[log["fold"] == 1, "epoch"].tolist() == [1, 2]
    history = pd.read_csv(fold_dir(cfg, 1) / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert (fold_dir(cfg, 1) / "done.json").is_file()
    assert not resume_path(cfg, 1).exists()  # finished: its resume state is dropped
    assert sorted(result.fold_summary_df["fold"]) == [0, 1]
    said = caplog.text
    assert "fold 0: already done" in said  # session 2 trained fold 0 no further
    assert "fold 1: resumed from" in said and "after epoch 1" in said
