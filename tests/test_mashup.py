"""Tests for the mashup generator (common.tasks.mashup.stems, .render and .generation): per-genre
mashups built from stems, with folds and bad files."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from common.tasks.mashup.generation import generate_mashups
from common.tasks.mashup.recipe import STEM_TYPES, MashupConfig, SongInfo
from common.tasks.mashup.render import _stretch_rate as stretch_rate
from common.tasks.mashup.render import plan_mashups, render_mashup
from common.tasks.mashup.stems import (
    assign_song_folds,
    check_audio,
    estimate_tempo,
    list_songs,
    scan_song,
)
from devtools.synthetic.mashup.songs import write_corrupt_stem, write_noise, write_song
from devtools.synthetic.mashup.styles import plan_song

GENRES = ("jazz", "rock")
SONG_SECONDS = 4.0
SILENT = ("jazz", "jazz.00000")  # vocals: digital silence
CORRUPT = ("rock", "rock.00001")  # bass: < 4 KB garbage; other: truncated WAV < 4 KB


@pytest.fixture(scope="module")
def stems(tmp_path_factory):
    """``(stems_root, noise_dir, folds_df)``: 2 genres x 4 songs of 4 s, two folds, bad files.

    Every song has vocals and drums (so each genre-fold has every stem type) except the planted
    silent vocal stem; the planted corrupt stems each have a usable twin in the same fold.
    """
    root = tmp_path_factory.mktemp("stems")
    stems_root, noise_dir = root / "train", root / "noise"
    for g, genre in enumerate(GENRES):
        for i in range(4):
            rng = np.random.default_rng([7, g, i])
            plan = plan_song(genre, f"{genre}.{i:05d}", SONG_SECONDS, rng)
            plan = dataclasses.replace(plan, vocals="sung", vocal_density=0.9, drum_pattern=(
                "ride_swing" if genre == "jazz" else "backbeat"))
            write_song(plan, str(stems_root / genre / plan.song_id), (7, g, i))
    song_dir = stems_root / SILENT[0] / SILENT[1]
    sf.write(str(song_dir / "vocals.wav"), np.zeros((44100 * 4, 2), np.float32), 44100)
    song_dir = stems_root / CORRUPT[0] / CORRUPT[1]
    write_corrupt_stem(song_dir / "bass.wav", "garbage", np.random.default_rng(1))
    write_corrupt_stem(song_dir / "other.wav", "truncated", np.random.default_rng(2))
    for k, category in enumerate(("rain", "dog")):
        write_noise(category, 3.0, str(noise_dir / f"{category}.wav"), (7, 99, k))
    (noise_dir / "broken.wav").write_bytes(b"RIFF" + bytes(100))
    # Folds by hand: songs 0, 1 -> fold 0 and 2, 3 -> fold 1, so each planted bad stem has a
    # usable twin in its fold.
    folds_df = list_songs(stems_root).assign(fold=lambda d: d["song_id"].map(
        lambda s: int(s.split(".")[1]) // 2))
    return stems_root, noise_dir, folds_df


@pytest.fixture(scope="module")
def made(stems, tmp_path_factory):
    """One run of generate_mashups: 2 mashups per genre per fold, default recipe (30 s)."""
    stems_root, noise_dir, folds_df = stems
    out = tmp_path_factory.mktemp("mashups")
    df = generate_mashups(stems_root, noise_dir, out, folds_df, 2, MashupConfig(), seed=3,
                          workers=1)
    return out, df


def test_mashups_are_22k_mono_30_s_with_the_genre_label(stems, made):
    out, df = made
    _, _, folds_df = stems
    assert len(df) == len(GENRES) * 2 * 2
    assert sorted(df.columns) == sorted(pd.read_csv(out / "mashups.csv").columns)
    genre_of = dict(zip(folds_df["song_id"], folds_df["genre"]))
    for row in df.itertuples():
        info = sf.info(str(out / row.filename))
        assert (info.samplerate, info.channels, info.frames) == (22050, 1, 30 * 22050)
        assert {genre_of[s] for s in row.songs.split(";")} == {row.genre}
        assert row.filename.startswith(f"{row.genre}/")


def test_every_mashup_uses_all_four_stem_types_from_distinct_songs(made):
    _, df = made
    for stem_type in STEM_TYPES:
        assert (df[f"{stem_type}_song"].fillna("") != "").all(), stem_type
    assert (df["n_stems"] == 4).all()
    # Two songs per genre-fold: four stem types cover both.
    assert (df["songs"].str.split(";").map(len) == 2).all()


def test_no_fold_leakage(stems, made):
    _, _, folds_df = stems
    _, df = made
    fold_of = dict(zip(folds_df["song_id"], folds_df["fold"]))
    for row in df.itertuples():
        assert {fold_of[s] for s in row.songs.split(";")} == {row.fold}


def test_bad_stems_and_noise_are_skipped_and_reported(made):
    out, df = made
    skipped = pd.read_csv(out / "skipped_files.csv", dtype=str)
    reasons = {(r.song_id if r.stem != "noise" else Path(r.path).name, r.stem): r.reason
               for r in skipped.itertuples()}
    assert reasons[(SILENT[1], "vocals")].startswith("silent")
    assert reasons[(CORRUPT[1], "bass")].startswith("corrupt")
    assert reasons[(CORRUPT[1], "other")].startswith("corrupt")
    assert reasons[("broken.wav", "noise")].startswith("corrupt")
    assert len(reasons) == 4
    assert not (df["vocals_song"] == SILENT[1]).any()
    assert not (df["bass_song"] == CORRUPT[1]).any()
    assert not (df["noise_file"] == "broken.wav").any()
    assert set(df["noise_file"]) <= {"rain.wav", "dog.wav"}


def test_check_audio_reasons(tmp_path):
    cfg = MashupConfig()
    big_garbage = tmp_path / "garbage.wav"
    big_garbage.write_bytes(bytes(range(256)) * 40)
    assert check_audio(big_garbage, cfg)[1].startswith("undecodable")
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), np.full(22050, 1e-4, np.float32), 22050)
    assert check_audio(quiet, cfg)[1].startswith("silent")
    ok = tmp_path / "ok.wav"
    sf.write(str(ok), 0.1 * np.ones((44100, 2), np.float32), 44100)
    wave, reason = check_audio(ok, cfg)
    assert reason == "" and wave.shape == (22050,)  # stereo 44.1 kHz -> mono 22.05 kHz


def test_render_achieves_the_planned_snr_and_normalises(stems):
    stems_root, noise_dir, folds_df = stems
    cfg = MashupConfig(clip_seconds=8.0, snr_db_range=(-5.0, 25.0))
    songs = [scan_song(g, s, k, str(stems_root / g / s), cfg)[0]
             for g, s, k in folds_df[["genre", "song_id", "fold"]].itertuples(index=False)]
    recipes = plan_mashups(songs, [str(noise_dir / "rain.wav")], 3, cfg, seed=5)
    for recipe in recipes[:3]:
        audio = render_mashup(recipe, cfg)
        assert audio.mixture.shape == (8 * 22050,) and audio.mixture.dtype == np.float32
        assert audio.snr_db == pytest.approx(recipe.snr_db, abs=0.01)
        np.testing.assert_allclose(audio.mixture, audio.music + audio.noise, atol=1e-6)
        assert np.abs(audio.mixture).max() == pytest.approx(cfg.peak, rel=1e-6)


def test_stretch_rate_picks_the_nearest_tempo_octave_and_clamps():
    cfg = MashupConfig(stretch_rate_range=(0.6, 1.7))
    assert stretch_rate(60.0, 120.0, cfg) == pytest.approx(1.0)  # double-time reading
    assert stretch_rate(100.0, 170.0, cfg) == pytest.approx(0.85)  # 170 / 200
    assert stretch_rate(100.0, 130.0, cfg) == pytest.approx(1.3)
    narrow = MashupConfig(stretch_rate_range=(0.9, 1.1))
    assert stretch_rate(100.0, 130.0, narrow) == pytest.approx(1.1)


def test_tempo_is_estimated_and_warped_to_the_target(stems):
    stems_root, _, _ = stems
    cfg = MashupConfig(stem_types=("drums",), tempo_bpm_range=(150.0, 150.0), clip_seconds=12.0,
                       stretch_rate_range=(0.5, 2.0))
    song, _ = scan_song("rock", "rock.00000", 0, str(stems_root / "rock" / "rock.00000"), cfg)
    assert song.tempo_source == "drums"
    planned = plan_song("rock", "rock.00000", SONG_SECONDS,
                        np.random.default_rng([7, GENRES.index("rock"), 0])).tempo_bpm
    assert _octave_error(song.tempo_bpm, planned) < 0.05
    (recipe,) = plan_mashups([song], [], 1, cfg, seed=0)
    assert recipe.noise_path is None and recipe.snr_db is None
    audio = render_mashup(recipe, cfg)
    assert math.isinf(audio.snr_db)
    warped, _, found = estimate_tempo(audio.mixture, cfg.sample_rate, 120.0)
    assert found and _octave_error(warped, 150.0) < 0.05


def _octave_error(tempo: float, target: float) -> float:
    """Relative tempo error, forgiving the half/double readings beat trackers make."""
    return min(abs(tempo * k / target - 1.0) for k in (0.5, 1.0, 2.0))


def test_beatless_drums_fall_back_to_the_mix(stems, tmp_path):
    stems_root, _, _ = stems
    source = stems_root / "rock" / "rock.00000"
    song_dir = tmp_path / "rock" / "drone"
    song_dir.mkdir(parents=True)
    t = np.arange(44100 * 4) / 44100
    drone = 0.3 * np.sin(2 * np.pi * 110 * t).astype(np.float32)  # audible, but no beat
    sf.write(str(song_dir / "drums.wav"), np.stack([drone, drone], axis=1), 44100)
    for stem_type in ("vocals", "bass", "other"):
        (song_dir / f"{stem_type}.wav").write_bytes((source / f"{stem_type}.wav").read_bytes())
    song, _ = scan_song("rock", "drone", 0, str(song_dir), MashupConfig())
    assert song.tempo_source == "mix" and len(song.beats) >= 2
    only_drone, _ = scan_song("rock", "drone", 0, str(song_dir),
                              MashupConfig(stem_types=("drums",), fallback_tempo_bpm=99.0))
    assert (only_drone.tempo_source, only_drone.tempo_bpm, only_drone.beats) == (
        "fallback", 99.0, ())


def test_estimate_tempo_falls_back_on_silence():
    tempo, beats, found = estimate_tempo(np.zeros(22050 * 3, np.float32), 22050, 111.0)
    assert (tempo, beats, found) == (111.0, (), False)


def _song(genre, song_id, fold, stems=STEM_TYPES):
    return SongInfo(genre, song_id, fold, tuple((t, f"/x/{song_id}/{t}.wav") for t in stems),
                    10.0, 100.0, "drums", (0.0, 0.6, 1.2, 1.8, 2.4))


def test_plan_is_deterministic_per_item_and_never_crosses_folds():
    songs = [_song(g, f"{g}.{i}", i % 3) for g in ("blues", "pop") for i in range(9)]
    songs.append(_song("pop", "pop.novocals", 0, ("drums", "bass", "other")))
    cfg = MashupConfig()
    recipes = plan_mashups(songs, ["/n/a.wav", "/n/b.wav"], 5, cfg, seed=11)
    assert len(recipes) == 2 * 3 * 5
    fold_of = {s.song_id: (s.genre, s.fold) for s in songs}
    for recipe in recipes:
        assert {fold_of[p.song_id] for p in recipe.parts} == {(recipe.genre, recipe.fold)}
        assert [p.stem_type for p in recipe.parts] == list(STEM_TYPES)
        group = [s for s in songs if (s.genre, s.fold) == (recipe.genre, recipe.fold)]
        assert len({p.song_id for p in recipe.parts}) == min(4, len(group))  # distinct songs
        assert cfg.tempo_bpm_range[0] <= recipe.tempo_bpm <= cfg.tempo_bpm_range[1]
        assert all(p.start_seconds in (0.0, 0.6, 1.2, 1.8, 2.4) for p in recipe.parts)
    # The same item draws the same recipe whatever else is planned; items differ.
    alone = plan_mashups([s for s in songs if s.genre == "pop"], ["/n/a.wav", "/n/b.wav"], 5,
                         cfg, seed=11)
    assert alone == [r for r in recipes if r.genre == "pop"]
    assert len({r.tempo_bpm for r in recipes}) == len(recipes)
    assert plan_mashups(songs, [], 5, cfg, seed=12) != recipes


def test_assign_song_folds_is_stratified_and_deterministic():
    songs_df = pd.DataFrame({"genre": ["a"] * 10 + ["b"] * 7,
                             "song_id": [f"s{i}" for i in range(17)]})
    folds = assign_song_folds(songs_df, 3, seed=1)
    assert folds.groupby("genre")["fold"].nunique().tolist() == [3, 3]
    assert folds.groupby("genre")["fold"].value_counts().min() >= 2
    assert folds.equals(assign_song_folds(songs_df, 3, seed=1))
    with pytest.raises(ValueError, match="fewer songs than folds"):
        assign_song_folds(songs_df, 8, seed=1)


def test_same_files_on_any_worker_count_and_resume(stems, tmp_path):
    stems_root, noise_dir, folds_df = stems
    cfg = MashupConfig(clip_seconds=5.0)
    subset = folds_df[folds_df["genre"] == "rock"]
    one = generate_mashups(stems_root, noise_dir, tmp_path / "w1", subset, 1, cfg, 4, workers=1)
    two = generate_mashups(stems_root, noise_dir, tmp_path / "w2", subset, 1, cfg, 4, workers=2)
    assert one.equals(two)
    for name in one["filename"]:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    # A second run with the same config keeps the files; another seed refuses the folder.
    before = {n: (tmp_path / "w1" / n).stat().st_mtime_ns for n in one["filename"]}
    again = generate_mashups(stems_root, noise_dir, tmp_path / "w1", subset, 1, cfg, 4)
    assert again.equals(one)
    assert before == {n: (tmp_path / "w1" / n).stat().st_mtime_ns for n in one["filename"]}
    with pytest.raises(FileExistsError, match="another config or seed"):
        generate_mashups(stems_root, noise_dir, tmp_path / "w1", subset, 1, cfg, 5)


def test_a_genre_fold_without_any_usable_stem_is_an_error(tmp_path):
    song = tmp_path / "train" / "pop" / "pop.1"
    song.mkdir(parents=True)
    for stem_type in STEM_TYPES:
        (song / f"{stem_type}.wav").write_bytes(b"junk")
    folds_df = pd.DataFrame({"genre": ["pop"], "song_id": ["pop.1"], "fold": [0]})
    with pytest.raises(ValueError, match="no usable stem"):
        generate_mashups(tmp_path / "train", None, tmp_path / "out", folds_df, 1)
    assert len(pd.read_csv(tmp_path / "out" / "skipped_files.csv")) == 4
    with pytest.raises(FileNotFoundError, match="no folder"):
        generate_mashups(tmp_path / "train", None, tmp_path / "out2",
                         folds_df.assign(song_id="pop.2"), 1)
