"""Tests for devtools.synthetic.mashup: the fake messy-mashup competition and its answer key."""

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from common.tasks.mashup import GENRES
from common.tasks.mashup import TASK as MASHUP
from devtools.synthetic.mashup import (
    SIZES,
    STYLES,
    main,
    plan_song,
    plan_songs,
    render_song,
)
from devtools.synthetic.mashup.noise import NOISE_RENDERERS, render_noise


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny competition, generated once through the CLI entry point (in-process)."""
    return main(["--out", str(tmp_path_factory.mktemp("mashup")), "--size", "tiny",
                 "--seed", "0", "--workers", "1"])


def test_layout_and_formats(tiny):
    size = SIZES["tiny"]
    comp = tiny.competition_dir
    assert comp.name == "messy-mashup" and tiny.answer_key_path.parent.parent == tiny.root
    assert not tiny.answer_key_path.is_relative_to(comp)
    assert MASHUP.read_classes(comp) == list(GENRES)
    train_df = pd.read_csv(comp / "train.csv", dtype=str)
    assert len(train_df) == 10 * size.n_train_songs_per_genre
    corrupt = {c["path"] for c in json.loads(tiny.manifest_path.read_text())["corrupt_stems"]}
    for song_id, genre in zip(train_df["song_id"], train_df["genre"]):
        assert song_id.startswith(f"{genre}.")
        for stem in ("drums", "vocals", "bass", "other"):
            path = comp / "train" / genre / song_id / f"{stem}.wav"
            if str(path.relative_to(comp)) in corrupt:
                continue
            info = sf.info(str(path))
            assert (info.samplerate, info.channels) == (44100, 2)
            assert size.song_seconds[0] - 0.01 <= info.duration <= size.song_seconds[1] + 0.01
    noise = sorted((comp / "noise").glob("*.wav"))
    assert len(noise) == 6 * size.n_noise_per_category
    assert {sf.info(str(p)).channels for p in noise} == {1}
    tests = sorted((comp / "test").glob("*.wav"))
    assert len(tests) == 10 * size.n_test_per_genre
    for path in tests:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 30 * 22050)


def test_sample_submission_and_answer_key(tiny):
    sample = pd.read_csv(tiny.competition_dir / "sample_submission.csv", dtype=str)
    solution = pd.read_csv(tiny.answer_key_path, dtype=str)
    assert list(sample.columns) == ["id", "genre"] == list(solution.columns)
    test_ids = sorted(p.stem for p in (tiny.competition_dir / "test").glob("*.wav"))
    assert sorted(sample["id"]) == test_ids == sorted(solution["id"])
    assert Counter(solution["genre"]) == dict.fromkeys(GENRES, SIZES["tiny"].n_test_per_genre)


def test_test_clips_come_from_hidden_songs_of_their_genre(tiny):
    made = pd.read_csv(tiny.answer_dir / "test_mashups.csv", dtype=str, keep_default_na=False)
    train_ids = set(pd.read_csv(tiny.competition_dir / "train.csv", dtype=str)["song_id"])
    solution = pd.read_csv(tiny.answer_key_path, dtype=str).set_index("id")["genre"]
    for row in made.itertuples():
        songs = row.songs.split(";")
        assert not set(songs) & train_ids
        assert {s.split(".")[0] for s in songs} == {row.genre} == {solution[row.id]}
        assert row.noise_file and not (tiny.competition_dir / "noise" / row.noise_file).exists()
        assert 0.0 <= float(row.snr_db) <= 20.0
    assert (made["songs"].str.count(";") >= 1).all()  # stems of several songs per clip


def test_planted_bad_files(tiny):
    manifest = json.loads(tiny.manifest_path.read_text())
    kinds = Counter(c["kind"] for c in manifest["corrupt_stems"])
    assert kinds == {"garbage": 1, "truncated": 1}
    for record in manifest["corrupt_stems"]:
        path = tiny.competition_dir / record["path"]
        assert path.stat().st_size < 4096
        if record["kind"] == "garbage":
            with pytest.raises(sf.LibsndfileError):
                sf.info(str(path))
    assert manifest["silent_vocal_stems"]
    for relative in manifest["silent_vocal_stems"]:
        audio, _ = sf.read(str(tiny.competition_dir / relative))
        if str(relative) not in {c["path"] for c in manifest["corrupt_stems"]}:
            assert 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12) < -60


def test_rendering_is_a_pure_function_of_the_seed():
    assert plan_songs("train", 2, (5.0, 6.0), seed=3) == plan_songs("train", 2, (5.0, 6.0), 3)
    assert plan_songs("train", 2, (5.0, 6.0), seed=3) != plan_songs("train", 2, (5.0, 6.0), 4)
    plan = plan_songs("train", 1, (2.0, 2.0), seed=3)[GENRES.index("metal")]
    first = render_song(plan, np.random.default_rng([3, 1]))
    second = render_song(plan, np.random.default_rng([3, 1]))
    assert set(first) == {"drums", "vocals", "bass", "other"}
    for stem, audio in first.items():
        assert audio.shape == (88200, 2) and audio.dtype == np.float32
        np.testing.assert_array_equal(audio, second[stem])
        assert np.abs(audio).max() <= 1.0


def test_noise_categories_render():
    for category in NOISE_RENDERERS:
        clip = render_noise(category, 1.0, np.random.default_rng(0))
        assert clip.shape == (44100,) and np.isfinite(clip).all()
        assert 0.3 <= np.abs(clip).max() <= 0.9


def test_genres_overlap_but_are_learnable_from_a_combination_of_cues():
    """No single ingredient names the genre; all of them together mostly do (plans, no audio)."""
    plans = [plan_song(g, "x", 5.0, np.random.default_rng([0, i, k]))
             for i, g in enumerate(GENRES) for k in range(150)]
    frame = pd.DataFrame([{**p.__dict__, "tempo": round(p.tempo_bpm / 20)} for p in plans])

    def best_accuracy(columns):
        """Accuracy of predicting the majority genre of each value of ``columns``."""
        return frame.groupby(columns)["genre"].agg(
            lambda g: g.value_counts().iloc[0]).sum() / len(frame)

    for single in ("drum_pattern", "bass_style", "chord_style", "vocals", "tempo"):
        assert best_accuracy([single]) < 0.7, single
    assert best_accuracy(["drum_pattern", "bass_style", "chord_style", "vocals"]) > 0.8
    assert set(STYLES) == set(GENRES)
