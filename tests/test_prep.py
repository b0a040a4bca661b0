import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import make_input_root

import common.stages.prep.scan as scan
from common.audio.cache import AudioCache
from common.audio.io import load_audio
from common.core.config import apply_preset, replace_dotted
from common.data.competition import read_csv_str, read_sample_submission, species_columns
from common.stages.prep.config import PrepConfig
from common.stages.prep.run import run_prep


def _cfg(input_root, working_dir, **changes):
    base = replace_dotted(apply_preset(PrepConfig, "smoke"),
                          {"input_root": str(input_root), "working_dir": str(working_dir)})
    return replace_dotted(base, changes)


@pytest.fixture(scope="module")
def prep_dir(prepped_input_root):
    return prepped_input_root / "birdclef-2026-prep"


def test_outputs_exist_and_are_publishable(prep_dir):
    for name in ["train_folds.csv", "soundscape_labels_folds.csv", "species.csv",
                 "rare_species.csv", "bad_files.csv", "fold_summary.csv", "prep_config.json",
                 "prep_report.json", "cache/index.csv", "figures/class_distribution.png",
                 "figures/durations.png", "figures/taxon_counts.png"]:
        assert (prep_dir / name).is_file(), name
    meta = json.loads((prep_dir / "dataset-metadata.json").read_text())
    assert meta["id"].endswith("/birdclef-2026-prep") and meta["licenses"]


def test_bad_files_listed_with_reasons_and_excluded(prep_dir, tiny_competition):
    bad = read_csv_str(prep_dir / "bad_files.csv")
    train = read_csv_str(prep_dir / "train_folds.csv")
    raw = read_csv_str(tiny_competition.competition_dir / "train.csv")
    assert len(bad) >= 3  # the generator writes an empty, a garbage and a too-short file
    assert bad["reason"].str.len().gt(0).all()
    assert set(bad["filename"]).isdisjoint(train["filename"])
    assert len(train) + (bad["kind"] == "clip").sum() == len(raw)  # nothing silently dropped
    reasons = " ".join(bad["reason"])
    assert "unreadable" in reasons or "empty" in reasons
    assert "too short" in reasons


def test_species_in_submission_order_as_strings(prep_dir, tiny_competition):
    species = read_csv_str(prep_dir / "species.csv")
    sample = read_sample_submission(tiny_competition.competition_dir)
    assert list(species["primary_label"]) == species_columns(sample)
    assert all(isinstance(s, str) for s in species["primary_label"])
    assert any(s.isdigit() for s in species["primary_label"])  # numeric iNat ids kept as text
    assert (species["n_focal_clips"] == 0).any()  # soundscape-only species are listed too


def test_folds_and_measurements(prep_dir):
    train = read_csv_str(prep_dir / "train_folds.csv")
    assert set(train["fold"]) <= {-1, 0, 1}
    assert (train["duration_seconds"] >= 0.5).all()
    assert train["active_share"].between(0, 1).all()
    rare = read_csv_str(prep_dir / "rare_species.csv")
    assert (train.loc[train["primary_label"].isin(rare["primary_label"]), "fold"] == -1).all()
    sc = read_csv_str(prep_dir / "soundscape_labels_folds.csv")
    assert (sc.groupby("filename")["fold"].nunique() == 1).all()  # a file never spans folds
    assert not sc.duplicated(["filename", "start_seconds"]).any()


def test_cache_matches_decoded_audio(prep_dir, tiny_competition):
    cache = AudioCache(prep_dir / "cache")
    train = read_csv_str(prep_dir / "train_folds.csv")
    cfg = json.loads((prep_dir / "prep_config.json").read_text())
    for fn in train["filename"][:3]:
        # The cache holds cache_seconds from where the entry says it starts (cache_region
        # "active": around the clip's loudest window, not always its first seconds).
        wave = load_audio(tiny_competition.competition_dir / "train_audio" / fn, 32000,
                          offset_seconds=cache.entry(fn).start_seconds,
                          max_seconds=cfg["cache_seconds"])
        np.testing.assert_allclose(cache.get(fn).astype(np.float32), wave, atol=2e-3)
    assert cache.keys("soundscape")  # labelled soundscapes cached in full
    sc = cache.get(cache.keys("soundscape")[0])
    assert len(sc) == 60 * 32000


def test_crash_then_resume_loses_nothing_and_redoes_nothing(tmp_path, tiny_competition,
                                                            monkeypatch):
    input_root = make_input_root(tmp_path, tiny_competition.competition_dir)
    cfg = _cfg(input_root, tmp_path / "out", workers=1, shard_mb=0.5)
    calls: list[str] = []
    real = scan.scan_file

    def crashing(path, key, *args):
        calls.append(key)
        if len(calls) == 25:
            raise KeyboardInterrupt("simulated Kaggle time-out")
        return real(path, key, *args)

    monkeypatch.setattr(scan, "scan_file", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_prep(cfg)
    scanned_before = set(pd.read_csv(tmp_path / "out" / "scan.csv", dtype=str)["key"])
    assert 0 < len(scanned_before) < 25
    calls.clear()
    monkeypatch.setattr(scan, "scan_file", lambda path, key, *a: (calls.append(key),
                                                                 real(path, key, *a))[1])
    result = run_prep(cfg)
    assert scanned_before.isdisjoint(calls)  # flushed work is not decoded again
    full = run_prep(_cfg(input_root, tmp_path / "fresh", workers=1))
    assert sorted(result.train_df["filename"]) == sorted(full.train_df["filename"])
    assert result.bad_df["filename"].tolist() == full.bad_df["filename"].tolist()


def test_a_finished_cache_reports_every_focal_clip_done_and_no_more(tmp_path, tiny_competition,
                                                                     caplog):
    # The scan also holds soundscapes; the focal-clip line must not count them as clips.
    input_root = make_input_root(tmp_path, tiny_competition.competition_dir)
    cfg = _cfg(input_root, tmp_path / "out", workers=1)
    run_prep(cfg)
    caplog.clear()  # the first run's lines, if a logger was already at INFO, are not the rerun's
    with caplog.at_level("INFO"):
        run_prep(cfg)
    line = next(r.getMessage() for r in caplog.records if "cache budget:" in r.getMessage())
    clips, done = (int(x) for x in re.findall(r"(\d+) clips \((\d+) already done\)", line)[0])
    assert clips == done > 0, line


def test_cache_budget_fails_early_with_the_fix(tmp_path, tiny_competition):
    input_root = make_input_root(tmp_path, tiny_competition.competition_dir)
    with pytest.raises(ValueError, match="lower --cache-seconds"):
        run_prep(_cfg(input_root, tmp_path / "out", max_cache_gb=1e-6))
