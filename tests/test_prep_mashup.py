"""Tests for common.tasks.mashup.prep: nb01 on the tiny synthetic messy-mashup competition."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import make_input_root

import common.stages.prep.scan as scan
import common.tasks.mashup.prep_songs as prep_songs
from common.audio.cache import AudioCache
from common.audio.io import load_audio
from common.core.config import (
    apply_preset,
    build_parser,
    replace_dotted,
    resolve_config,
)
from common.data.competition import read_csv_str
from common.stages.prep.config import PrepConfig
from common.stages.prep.run import run_prep
from common.tasks.mashup import GENRES
from common.tasks.mashup.prep_config import MashupPrepConfig
from common.tasks.mashup.recipe import STEM_TYPES

CONTRACT_COLUMNS = ["filename", "primary_label", "secondary_labels", "fold", "duration_seconds",
                    "active_share", "best_window_start_seconds"]


def _cfg(input_root, working_dir, **changes):
    base = replace_dotted(apply_preset(PrepConfig, "smoke", "messy-mashup"),
                          {"input_root": str(input_root), "working_dir": str(working_dir)})
    return replace_dotted(base, changes)


@pytest.fixture(scope="module")
def prep_dir(mashup_prepped_input_root):
    return mashup_prepped_input_root / "messy-mashup-prep"


@pytest.fixture()
def prep_copy(tmp_path, prep_dir, mashup_prepped_input_root):
    """A writable copy of the prepped folder and a config that works in it."""
    work = tmp_path / "prep"
    shutil.copytree(prep_dir, work)
    return _cfg(mashup_prepped_input_root, work, workers=1)


def test_task_defaults_and_help():
    birds = resolve_config(PrepConfig, "smoke", argv=[])
    assert (birds.sample_rate, birds.cache_seconds, birds.dataset_slug) == (
        32000, 6.0, "birdclef-2026-prep")
    cfg = resolve_config(PrepConfig, "smoke", argv=["--task", "messy-mashup",
                                                    "--mashup.snr-db-range", "5,10"])
    assert (cfg.competition, cfg.dataset_slug, cfg.sample_rate, cfg.cache_seconds) == (
        "messy-mashup", "messy-mashup-prep", 22050, 0.0)
    assert cfg.mashups_per_genre_per_fold == 1 and cfg.mashup.snr_db_range == (5.0, 10.0)
    assert MashupPrepConfig().mashups_per_genre_per_fold == 40  # the real recipe by default
    text = build_parser(MashupPrepConfig).format_help()
    assert "--mashups-per-genre-per-fold" in text and "--mashup.tempo-bpm-range" in text


def test_outputs_match_the_contract(prep_dir):
    for name in ["train_folds.csv", "soundscape_labels_folds.csv", "species.csv",
                 "rare_species.csv", "bad_files.csv", "fold_summary.csv", "songs_folds.csv",
                 "prep_config.json", "prep_report.json", "cache/index.csv",
                 "mashups/mashups.csv", "figures/genre_fold_counts.png",
                 "figures/mashup_recipes.png", "figures/bad_files.png"]:
        assert (prep_dir / name).is_file(), name
    meta = json.loads((prep_dir / "dataset-metadata.json").read_text())
    assert meta["id"].endswith("/messy-mashup-prep")
    assert json.loads((prep_dir / "prep_config.json").read_text())["task"] == "messy-mashup"

    train = read_csv_str(prep_dir / "train_folds.csv")
    assert list(train.columns[:7]) == CONTRACT_COLUMNS
    assert {"tempo_bpm", "snr_db", "noise_file", "songs"} <= set(train.columns)
    assert len(train) == 2 * len(GENRES)  # smoke: 2 folds x 1 mashup per genre
    assert set(train["primary_label"]) == set(GENRES)
    assert all(isinstance(g, str) for g in train["primary_label"])
    assert (train["secondary_labels"] == "[]").all() and (train["fold"] >= 0).all()
    assert train["filename"].str.match(r"^mashups/[a-z]+/[a-z]+_f\d_\d{5}\.wav$").all()
    assert all((prep_dir / f).is_file() for f in train["filename"])
    np.testing.assert_allclose(train["duration_seconds"], 30.0)

    sc = pd.read_csv(prep_dir / "soundscape_labels_folds.csv")
    assert list(sc.columns) == ["filename", "start_seconds", "end_seconds", "row_id",
                                "primary_label", "fold"] and sc.empty
    assert read_csv_str(prep_dir / "rare_species.csv").empty
    species = read_csv_str(prep_dir / "species.csv")
    assert list(species["primary_label"]) == list(GENRES)
    assert list(species["column_index"]) == list(range(len(GENRES)))
    assert (species["class_name"] == "genre").all()
    assert (species[["n_secondary", "n_soundscape_windows"]] == 0).all().all()
    assert species["n_focal_clips"].sum() == len(train)


def test_folds_are_song_level_with_every_genre_in_every_fold(prep_dir, tiny_mashup_competition):
    songs = pd.read_csv(prep_dir / "songs_folds.csv", dtype={"song_id": str, "genre": str})
    listed = pd.read_csv(tiny_mashup_competition.competition_dir / "train.csv", dtype=str)
    assert sorted(songs["song_id"]) == sorted(listed["song_id"])
    assert not songs["song_id"].duplicated().any()  # one fold per song
    fold_of = dict(zip(songs["song_id"], songs["fold"]))
    train = read_csv_str(prep_dir / "train_folds.csv")
    for genre, fold, used in zip(train["primary_label"], train["fold"], train["songs"]):
        for song in used.split(";"):
            assert fold_of[song] == fold and song.startswith(f"{genre}.")  # no leakage
    assert (train.groupby("fold")["primary_label"].nunique() == len(GENRES)).all()
    assert (songs.groupby("fold")["genre"].nunique() == len(GENRES)).all()
    summary = read_csv_str(prep_dir / "fold_summary.csv")
    assert (summary["val_species"] == len(GENRES)).all()
    assert (summary["min_val_clips_per_genre"] >= 1).all()


def test_bad_stems_are_listed_never_silently_dropped(prep_dir, tiny_mashup_competition):
    bad = read_csv_str(prep_dir / "bad_files.csv")
    manifest = json.loads(tiny_mashup_competition.manifest_path.read_text())
    reasons = dict(zip(bad["filename"], bad["reason"]))
    for planted in manifest["corrupt_stems"]:
        assert reasons[planted["path"]].startswith("corrupt")
    for path in manifest["silent_vocal_stems"]:
        assert reasons[path].startswith("silent")
    assert (bad["kind"] == "stem").sum() == len(bad)
    # Every stem of every song is either usable or listed with its reason.
    songs = pd.read_csv(prep_dir / "songs_folds.csv", dtype=str, keep_default_na=False)
    for genre, song_id, usable in zip(songs["genre"], songs["song_id"], songs["usable_stems"]):
        for stem in STEM_TYPES:
            listed = f"train/{genre}/{song_id}/{stem}.wav" in reasons
            assert listed != (stem in usable.split(";")), (song_id, stem)


def test_mashups_cached_whole_and_noise_as_background(prep_dir, tiny_mashup_competition):
    cache = AudioCache(prep_dir / "cache")
    train = read_csv_str(prep_dir / "train_folds.csv")
    assert sorted(cache.keys("clip")) == sorted(train["filename"])
    for key in train["filename"][:2]:
        entry = cache.entry(key)
        assert (entry.length, entry.sample_rate) == (30 * 22050, 22050)
        wave, rate = sf.read(prep_dir / key, dtype="float32")
        np.testing.assert_allclose(cache.get(key).astype(np.float32), wave, atol=1e-3)
    noise_dir = tiny_mashup_competition.competition_dir / "noise"
    names = sorted(p.name for p in noise_dir.glob("*.wav"))
    assert sorted(cache.keys("background")) == [f"noise/{n}" for n in names]
    np.testing.assert_allclose(cache.get(f"noise/{names[0]}").astype(np.float32),
                               load_audio(noise_dir / names[0], 22050), atol=2e-3)
    assert set(train["noise_file"]) <= set(cache.keys("background"))


def test_finished_run_resumes_without_regenerating_or_decoding(prep_copy, prep_dir,
                                                               monkeypatch):
    def no_generation(*args, **kwargs):
        raise AssertionError("generate_mashups called on a finished run")

    decoded: list[str] = []
    real_scan = scan.scan_file
    monkeypatch.setattr(prep_songs, "generate_mashups", no_generation)
    monkeypatch.setattr(scan, "scan_file", lambda path, key, *a: (decoded.append(key),
                                                                 real_scan(path, key, *a))[1])
    result = run_prep(prep_copy)
    assert decoded == []
    pd.testing.assert_frame_equal(read_csv_str(prep_copy.output_dir / "train_folds.csv"),
                                  read_csv_str(prep_dir / "train_folds.csv"))
    assert len(result.bad_df) == len(read_csv_str(prep_dir / "bad_files.csv"))


def test_stopped_caching_resumes_where_it_was(prep_copy, prep_dir, monkeypatch):
    shutil.rmtree(prep_copy.output_dir / "cache")
    (prep_copy.output_dir / scan.SCAN_NAME).unlink()
    calls: list[str] = []
    real_scan = scan.scan_file

    def crashing(path, key, *args):
        calls.append(key)
        if len(calls) == 6:
            raise KeyboardInterrupt("simulated Kaggle time-out")
        return real_scan(path, key, *args)

    monkeypatch.setattr(scan, "scan_file", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_prep(prep_copy)
    cached_before = set(AudioCache(prep_copy.cache_dir).keys())
    assert 0 < len(cached_before) < 6  # every mashup (1.3 MB) filled a 1-MB shard
    calls.clear()
    monkeypatch.setattr(scan, "scan_file", lambda path, key, *a: (calls.append(key),
                                                                 real_scan(path, key, *a))[1])
    run_prep(prep_copy)
    assert cached_before.isdisjoint(calls)
    assert len(cached_before) + len(calls) == len(AudioCache(prep_dir / "cache"))
    pd.testing.assert_frame_equal(read_csv_str(prep_copy.output_dir / "train_folds.csv"),
                                  read_csv_str(prep_dir / "train_folds.csv"))


def test_unfinished_mashups_go_back_to_the_generator(prep_copy, monkeypatch):
    (prep_copy.output_dir / "mashups" / "mashups.csv").unlink()  # stopped while rendering
    called = []

    def fake_generate(*args, **kwargs):
        called.append(args)
        raise RuntimeError("stop here")

    monkeypatch.setattr(prep_songs, "generate_mashups", fake_generate)
    with pytest.raises(RuntimeError, match="stop here"):
        run_prep(prep_copy)
    assert len(called) == 1


def test_other_folds_over_old_mashups_are_refused(prep_copy):
    with pytest.raises(FileExistsError, match="other song folds"):
        run_prep(replace_dotted(prep_copy, {"n_folds": 3}))


def test_a_folder_that_is_not_a_mashup_competition_is_a_clear_error(tmp_path):
    birds = tmp_path / "birds"
    (birds / "train_audio").mkdir(parents=True)
    (birds / "train.csv").write_text("primary_label,filename\n")
    input_root = make_input_root(tmp_path, birds, name="messy-mashup")
    with pytest.raises(FileNotFoundError, match="not a messy-mashup competition.*"
                                                "--task birdclef-2026"):
        run_prep(_cfg(input_root, tmp_path / "out"))

    wrong = tmp_path / "wrong" / "input"
    for genre in ("blues", "polka"):
        (wrong / "messy-mashup" / "train" / genre / f"{genre}.1").mkdir(parents=True)
    (wrong / "messy-mashup" / "train.csv").write_text("song_id,genre\n")
    with pytest.raises(ValueError, match="differ from the task's"):
        run_prep(_cfg(wrong, tmp_path / "out2"))
    with pytest.raises(FileNotFoundError, match="not found"):
        run_prep(_cfg(tmp_path / "nowhere", tmp_path / "out3"))


def test_mismatched_sample_rates_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mashup.sample_rate"):
        run_prep(_cfg(tmp_path, tmp_path / "out", sample_rate=32000))


def test_train_csv_disagreements_are_reported(tmp_path):
    comp = tmp_path / "messy-mashup"
    for genre, song in (("blues", "00001"), ("blues", "00002"), ("rock", "00003")):
        (comp / "train" / genre / song).mkdir(parents=True)
    (comp / "train.csv").write_text("song_id,genre\n00001,blues\n00002,jazz\n00009,pop\n")
    songs, bad = prep_songs.read_songs(comp)
    assert list(songs["song_id"]) == ["00001", "00003"]  # ids stay strings; 00002 in doubt
    reasons = {row["filename"]: row["reason"] for row in bad}
    assert "train.csv says genre 'jazz'" in reasons["train/blues/00002"]
    assert "no folder" in reasons["train/pop/00009"]
    assert {row["kind"] for row in bad} == {"song"}
