"""Tests for ``devtools.synthetic.birdclef``: layout, schemas, planted defects, determinism,
learnability.

The "tiny" competition comes from conftest.py's session fixture; this module generates it once
more with ``empty_test`` and the same seed, which doubles as the determinism check.
"""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from devtools.synthetic import birdclef as synthetic
from devtools.synthetic.birdclef import (
    SAMPLE_RATE,
    SIZES,
    SyntheticCompetition,
    generate_competition,
)
from devtools.synthetic.birdclef.ogg import ogg_crc, set_ogg_serial
from devtools.synthetic.birdclef.plan import plan_competition
from devtools.synthetic.birdclef.render import audio_jobs, write_audio_job

TINY = SIZES["tiny"]
WINDOW_ENDS = range(5, int(TINY.soundscape_seconds) + 1, 5)  # row_id suffixes, seconds
SOUNDSCAPE_NAME = r"BC2026_{split}_\d{{4}}_S\d{{2}}_\d{{8}}_\d{{6}}\.ogg"
SCORED_CSVS = (
    "taxonomy.csv",
    "train.csv",
    "train_soundscapes_labels.csv",
    "sample_submission.csv",
)


@pytest.fixture(scope="module")
def competition(tiny_competition: SyntheticCompetition) -> SyntheticCompetition:
    """The session's tiny competition from conftest.py, shared with the other test modules."""
    return tiny_competition


@pytest.fixture(scope="module")
def seed(competition: SyntheticCompetition) -> int:
    manifest = _manifest(competition)
    assert manifest["size"] == "tiny"
    return manifest["seed"]


@pytest.fixture(scope="module")
def empty_test_competition(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> SyntheticCompetition:
    return generate_competition(
        tmp_path_factory.mktemp("tiny_empty"), size="tiny", seed=seed, empty_test=True, workers=2
    )


def _read(competition: SyntheticCompetition, name: str) -> pd.DataFrame:
    return pd.read_csv(competition.competition_dir / name, dtype=str, keep_default_na=False)


def _manifest(competition: SyntheticCompetition) -> dict:
    return json.loads(competition.manifest_path.read_text())


def _taxonomy_labels(competition: SyntheticCompetition) -> list[str]:
    return _read(competition, "taxonomy.csv")["primary_label"].tolist()


def _test_stems(competition: SyntheticCompetition) -> list[str]:
    return sorted(p.stem for p in (competition.competition_dir / "test_soundscapes").glob("*.ogg"))


# ---------------------------------------------------------------- layout and schemas


def test_layout_mirrors_kaggle(competition: SyntheticCompetition) -> None:
    comp = competition.competition_dir
    assert comp == competition.root / "birdclef-2026"
    assert sorted(p.name for p in comp.iterdir()) == [
        "sample_submission.csv",
        "taxonomy.csv",
        "test_soundscapes",
        "train.csv",
        "train_audio",
        "train_soundscapes",
        "train_soundscapes_labels.csv",
    ]
    train_names = [p.name for p in (comp / "train_soundscapes").iterdir()]
    test_names = [p.name for p in (comp / "test_soundscapes").iterdir()]
    assert len(train_names) == TINY.n_train_soundscapes
    assert len(test_names) == TINY.n_test_soundscapes
    assert all(re.fullmatch(SOUNDSCAPE_NAME.format(split="Train"), n) for n in train_names)
    assert all(re.fullmatch(SOUNDSCAPE_NAME.format(split="Test"), n) for n in test_names)
    assert len(list((comp / "train_audio").rglob("*.ogg"))) == TINY.n_focal_clips

    # The answer key lives outside the competition folder, like Kaggle's hidden labels.
    assert competition.answer_key_path == competition.root / "answer_key" / "solution.csv"
    assert comp not in competition.answer_key_path.parents
    assert (competition.root / "answer_key" / "README.txt").read_text().strip()
    assert competition.manifest_path.is_file()


def test_taxonomy_schema_and_string_labels(competition: SyntheticCompetition) -> None:
    taxonomy_df = _read(competition, "taxonomy.csv")
    assert list(taxonomy_df.columns) == synthetic.TAXONOMY_COLUMNS
    assert len(taxonomy_df) == TINY.n_species
    labels = taxonomy_df["primary_label"].tolist()
    assert labels == sorted(labels)  # string order: numeric ids before eBird codes
    assert taxonomy_df["primary_label"].is_unique
    assert set(taxonomy_df["class_name"]) == set(synthetic.CLASS_NAMES)
    assert taxonomy_df["inat_taxon_id"].str.fullmatch(r"[1-9]\d*").all()

    birds = taxonomy_df["class_name"] == "Aves"
    assert taxonomy_df.loc[birds, "primary_label"].str.fullmatch(r"[a-z]{6}\d?").all()
    others = taxonomy_df.loc[~birds, "primary_label"]
    assert others.str.fullmatch(r"\d+|\d+son\d{2}").all()
    assert others.str.fullmatch(r"\d+").any()
    sonotypes = taxonomy_df[taxonomy_df["primary_label"].str.contains("son")]
    assert len(sonotypes) >= 1
    assert (sonotypes["class_name"] == "Insecta").all()
    assert all(
        lab.startswith(i) for lab, i in zip(sonotypes.primary_label, sonotypes.inat_taxon_id)
    )


def test_train_csv_schema(competition: SyntheticCompetition) -> None:
    train_df = _read(competition, "train.csv")
    assert list(train_df.columns) == synthetic.TRAIN_COLUMNS
    assert len(train_df) == TINY.n_focal_clips
    labels = set(_taxonomy_labels(competition))
    assert set(train_df["primary_label"]) <= labels
    assert train_df["primary_label"].tolist() == sorted(train_df["primary_label"])
    assert set(train_df["collection"]) == {"XC", "iNat"}
    for row in train_df.itertuples():
        assert re.fullmatch(
            rf"{re.escape(row.primary_label)}/{row.collection}\d+\.ogg", row.filename
        )
        secondary = ast.literal_eval(row.secondary_labels)
        assert isinstance(secondary, list) and all(isinstance(s, str) for s in secondary)
        assert set(secondary) <= labels and row.primary_label not in secondary
        assert re.fullmatch(r"\[('[a-z ]+'(, )?)*\]", row.type)
        assert (competition.competition_dir / "train_audio" / row.filename).is_file()
    assert (train_df["secondary_labels"] != "[]").any()

    rating = train_df["rating"].astype(float)
    assert (rating[train_df["collection"] == "iNat"] == 0.0).all()
    assert rating.between(0.0, 5.0).all() and ((rating * 2) % 1 == 0).all()
    taxonomy_df = _read(competition, "taxonomy.csv").set_index("primary_label")
    joined = taxonomy_df.loc[train_df["primary_label"]]
    for column in ("scientific_name", "common_name", "class_name", "inat_taxon_id"):
        assert (joined[column].to_numpy() == train_df[column].to_numpy()).all()


def test_clip_counts_are_long_tailed(competition: SyntheticCompetition) -> None:
    counts = _read(competition, "train.csv")["primary_label"].value_counts()
    assert counts.max() >= 4 * counts.min()
    assert counts.min() == 1


def test_soundscape_labels(competition: SyntheticCompetition) -> None:
    labels_df = _read(competition, "train_soundscapes_labels.csv")
    assert list(labels_df.columns) == synthetic.SOUNDSCAPE_LABEL_COLUMNS
    # The real file lists every row twice.
    assert (labels_df.value_counts() == 2).all()
    assert len(labels_df) == 2 * len(labels_df.drop_duplicates())

    assert labels_df["start"].str.fullmatch(r"\d\d:\d\d:\d\d").all()
    start_s = pd.to_timedelta(labels_df["start"]).dt.total_seconds()
    end_s = pd.to_timedelta(labels_df["end"]).dt.total_seconds()
    assert ((end_s - start_s) == 5).all() and (start_s % 5 == 0).all()
    assert end_s.max() <= TINY.soundscape_seconds

    taxonomy = set(_taxonomy_labels(competition))
    species = {s for cell in labels_df["primary_label"] for s in cell.split(";")}
    assert species <= taxonomy
    assert any(";" in cell for cell in labels_df["primary_label"])  # overlapping species
    assert all(cell.split(";") == sorted(cell.split(";")) for cell in labels_df["primary_label"])

    train_files = {p.name for p in (competition.competition_dir / "train_soundscapes").iterdir()}
    labelled = set(labels_df["filename"])
    assert labelled <= train_files
    assert labelled == set(_manifest(competition)["labelled_soundscapes"])
    assert len(labelled) < len(train_files) / 2  # most soundscapes are unlabelled


def test_sample_submission(competition: SyntheticCompetition) -> None:
    sample_df = _read(competition, "sample_submission.csv")
    assert list(sample_df.columns) == ["row_id", *_taxonomy_labels(competition)]
    first_three = _test_stems(competition)[:3]
    expected = [f"{stem}_{end}" for stem in first_three for end in WINDOW_ENDS]
    assert sample_df["row_id"].tolist() == expected
    values = sample_df.drop(columns="row_id").astype(float).to_numpy()
    assert np.allclose(values, 1.0 / TINY.n_species)


def test_answer_key_covers_every_test_window(competition: SyntheticCompetition) -> None:
    solution_df = pd.read_csv(competition.answer_key_path, dtype=str)
    labels = _taxonomy_labels(competition)
    assert list(solution_df.columns) == ["row_id", *labels]
    expected = [f"{s}_{end}" for s in _test_stems(competition) for end in WINDOW_ENDS]
    assert solution_df["row_id"].tolist() == expected
    truth = solution_df[labels].astype(int).to_numpy()
    assert set(np.unique(truth)) == {0, 1}
    assert truth.sum(axis=1).mean() >= 1.0  # several species per window on average


def test_soundscape_only_species(competition: SyntheticCompetition) -> None:
    only = _manifest(competition)["soundscape_only_species"]
    assert 1 <= len(only) <= 0.2 * TINY.n_species
    train_df = _read(competition, "train.csv")
    secondary = {s for cell in train_df["secondary_labels"] for s in ast.literal_eval(cell)}
    assert not set(only) & (set(train_df["primary_label"]) | secondary)
    assert not any((competition.competition_dir / "train_audio" / s).exists() for s in only)

    labels_df = _read(competition, "train_soundscapes_labels.csv")
    in_labels = {s for cell in labels_df["primary_label"] for s in cell.split(";")}
    solution_df = pd.read_csv(competition.answer_key_path, dtype=str)
    for species in only:
        assert species in in_labels
        assert solution_df[species].astype(int).sum() > 0
    # Every other species has at least one focal clip.
    assert set(train_df["primary_label"]) | set(only) == set(_taxonomy_labels(competition))


# ---------------------------------------------------------------- audio


def test_audio_decodes_to_32khz_mono(competition: SyntheticCompetition) -> None:
    comp = competition.competition_dir
    manifest = _manifest(competition)
    broken = set(manifest["corrupt_files"].values()) | set(manifest["silent_files"])
    durations = []
    for path in sorted((comp / "train_audio").rglob("*.ogg")):
        if path.relative_to(comp / "train_audio").as_posix() in broken:
            continue
        audio, sample_rate = sf.read(path, dtype="float32")
        assert sample_rate == SAMPLE_RATE and audio.ndim == 1, path
        assert 0.0 < np.abs(audio).max() <= 1.0, path
        durations.append(audio.size / SAMPLE_RATE)
    assert min(durations) < 5.0 < 10.0 < max(durations)
    for path in sorted(comp.glob("*_soundscapes/*.ogg")):
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1), path
        assert info.frames == TINY.soundscape_seconds * SAMPLE_RATE, path


def test_planted_corrupt_files(competition: SyntheticCompetition) -> None:
    manifest = _manifest(competition)
    assert set(manifest["corrupt_files"]) == {"empty", "garbage", "truncated"}
    train_files = set(_read(competition, "train.csv")["filename"])
    for kind, filename in manifest["corrupt_files"].items():
        assert filename in train_files, kind  # listed in train.csv like a good file
        path = competition.competition_dir / "train_audio" / filename
        assert path.is_file(), kind
        try:
            audio, _ = sf.read(path)
        except sf.LibsndfileError:
            continue
        assert audio.size < 0.1 * SAMPLE_RATE, kind
    assert (competition.competition_dir / "train_audio" / manifest["corrupt_files"]["empty"]
            ).stat().st_size == 0  # fmt: skip


def test_ogg_checksums_match_libogg() -> None:
    buffer = io.BytesIO()
    tone = 0.1 * np.sin(np.arange(3 * SAMPLE_RATE) * 0.3).astype(np.float32)
    sf.write(buffer, tone, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    data, pos, n_pages = buffer.getvalue(), 0, 0
    while pos < len(data):
        n_segments = data[pos + 26]
        page = bytearray(
            data[pos : pos + 27 + n_segments + sum(data[pos + 27 : pos + 27 + n_segments])]
        )
        stored = int.from_bytes(page[22:26], "little")
        page[22:26] = bytes(4)
        assert ogg_crc(bytes(page)) == stored
        pos, n_pages = pos + len(page), n_pages + 1
    assert n_pages > 2
    rewritten = set_ogg_serial(data, 1234)
    decoded, _ = sf.read(io.BytesIO(rewritten), dtype="float32")
    original, _ = sf.read(io.BytesIO(data), dtype="float32")
    assert np.array_equal(decoded, original)


# ---------------------------------------------------------------- determinism and modes


def test_same_seed_gives_identical_files(
    competition: SyntheticCompetition, empty_test_competition: SyntheticCompetition
) -> None:
    for name in SCORED_CSVS:
        a = (competition.competition_dir / name).read_bytes()
        assert a == (empty_test_competition.competition_dir / name).read_bytes(), name
    assert competition.answer_key_path.read_bytes() == (
        empty_test_competition.answer_key_path.read_bytes()
    )
    train_df = _read(competition, "train.csv")
    some_files = [f"train_audio/{f}" for f in train_df["filename"].iloc[[0, -1]]]
    some_files += [
        f"train_soundscapes/{p.name}"
        for p in sorted((competition.competition_dir / "train_soundscapes").iterdir())[:1]
    ]
    for relative in some_files:
        a = (competition.competition_dir / relative).read_bytes()
        assert a == (empty_test_competition.competition_dir / relative).read_bytes(), relative


def test_output_does_not_depend_on_worker_process(
    competition: SyntheticCompetition, seed: int, tmp_path: Path
) -> None:
    plan = plan_competition(TINY, seed)
    jobs = audio_jobs(plan, tmp_path, seed, empty_test=False)
    job = next(j for j in jobs if "test_soundscapes" in j.path.parts)
    job.path.parent.mkdir(parents=True)
    write_audio_job(job, plan.voices)  # in this process, not in the pool
    relative = job.path.relative_to(tmp_path)
    assert job.path.read_bytes() == (competition.competition_dir / relative).read_bytes()


def test_different_seed_differs(
    competition: SyntheticCompetition, seed: int, tmp_path: Path
) -> None:
    plan = plan_competition(TINY, seed + 1)
    assert [s.label for s in plan.species] != _taxonomy_labels(competition)
    job = audio_jobs(plan, tmp_path, seed + 1, empty_test=False)[0]
    job.path.parent.mkdir(parents=True)
    write_audio_job(job, plan.voices)
    seed0_files = {p.read_bytes() for p in (competition.competition_dir / "train_audio").rglob("*")
                   if p.is_file()}  # fmt: skip
    assert job.path.read_bytes() not in seed0_files


def test_empty_test_mode(
    competition: SyntheticCompetition, empty_test_competition: SyntheticCompetition
) -> None:
    test_dir = empty_test_competition.competition_dir / "test_soundscapes"
    assert [p.name for p in test_dir.iterdir()] == ["readme.txt"]
    sample_df = _read(empty_test_competition, "sample_submission.csv")
    stems = sorted({row_id.rsplit("_", 1)[0] for row_id in sample_df["row_id"]})
    # Same three stems as the full run, whose files do not exist here: like Kaggle's public data.
    assert stems == _test_stems(competition)[:3]
    assert not any((test_dir / f"{stem}.ogg").exists() for stem in stems)
    assert len(list((empty_test_competition.competition_dir / "train_soundscapes").iterdir())) == (
        TINY.n_train_soundscapes
    )
    assert _manifest(empty_test_competition)["empty_test"] is True


def test_refuses_non_empty_folder_and_unknown_size(competition: SyntheticCompetition) -> None:
    with pytest.raises(FileExistsError, match="not empty"):
        generate_competition(competition.root)
    with pytest.raises(ValueError, match="unknown size"):
        generate_competition(competition.root / "new", size="huge")


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert all(option in usage for option in ("--out", "--size", "--seed", "--empty-test"))


# ---------------------------------------------------------------- learnability


def _active_log_spectrum(path: Path, n_fft: int = 1024) -> np.ndarray:
    """Mean log power spectrum (n_fft // 2 + 1,) of the loudest 20 % of frames, unit norm."""
    audio, _ = sf.read(path, dtype="float32")
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[:: n_fft // 2]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    energy = power.sum(axis=1)
    loud = power[energy >= np.quantile(energy, 0.8)]
    spectrum = np.log10(loud.mean(axis=0) + 1e-10)
    spectrum -= spectrum.mean()
    return spectrum / np.linalg.norm(spectrum)


def test_species_are_learnable(competition: SyntheticCompetition) -> None:
    train_df = _read(competition, "train.csv")
    manifest = _manifest(competition)
    broken = set(manifest["corrupt_files"].values()) | set(manifest["silent_files"])
    clean_df = train_df[(train_df["secondary_labels"] == "[]") & ~train_df["filename"].isin(broken)]
    counts = clean_df["primary_label"].value_counts()
    bird = counts.index[0]  # the commonest species is a bird by construction
    assert clean_df.loc[clean_df["primary_label"] == bird, "class_name"].iloc[0] == "Aves"
    other = clean_df[clean_df["class_name"] != "Aves"]["primary_label"].value_counts().index[0]

    def spectra(label: str) -> np.ndarray:
        files = clean_df.loc[clean_df["primary_label"] == label, "filename"].iloc[:6]
        comp = competition.competition_dir / "train_audio"
        return np.stack([_active_log_spectrum(comp / f) for f in files])

    birds, others = spectra(bird), spectra(other)
    within = birds @ birds.T
    within_mean = within[~np.eye(len(birds), dtype=bool)].mean()
    across_mean = (birds @ others.T).mean()
    assert within_mean > across_mean + 0.2  # cosine similarity of log spectra
    assert (birds.mean(axis=0) @ others.mean(axis=0)) < 0.8


def test_a_demo_is_reused_only_while_the_generator_makes_the_same(competition, tmp_path):
    from devtools.synthetic.current import is_current, main

    root = competition.competition_dir.parent
    assert is_current("birdclef-2026", root, "tiny", 0)
    assert not is_current("birdclef-2026", root, "tiny", 1)
    assert not is_current("birdclef-2026", root, "demo", 0)
    assert main(["birdclef-2026", str(tmp_path), "tiny"]) == 1  # nothing generated there
    (tmp_path / "answer_key").mkdir()
    (tmp_path / "answer_key" / "solution.csv").write_text("row_id\n")
    manifest = json.loads(competition.manifest_path.read_text())
    manifest["size_parameters"]["n_labelled_soundscapes"] += 1  # an older generator's size
    (tmp_path / "answer_key" / "manifest.json").write_text(json.dumps(manifest))
    assert not is_current("birdclef-2026", tmp_path, "tiny", 0)
