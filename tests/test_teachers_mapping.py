"""Competition taxonomy -> teacher labels, the coverage table, and ``python -m common.teacher``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.teacher import main
from common.teachers.base import TeacherLabels
from common.teachers.mapping import (
    MAPPING_COLUMNS,
    coverage_table,
    map_taxonomy,
    normalize_name,
    project_to_competition,
    unmapped_species,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

TAXONOMY_DF = pd.DataFrame({
    "primary_label": ["toctou1", "grekis", "jabiru", "1491113", "47158son01"],
    "inat_taxon_id": [1, 2, 3, 1491113, 47158],
    "scientific_name": ["Ramphastos  toco", "pitangus sulphuratus", "Jabiru mycteria mycteria",
                        "Boana raniceps", "Insecta son01"],
    "common_name": ["Toco Toucan", "Great Kiskadee", "Jabiru", "Chaco Tree Frog", "Sonotype 1"],
    "class_name": ["Aves", "Aves", "Aves", "Amphibia", "Insecta"],
})


def _labels(names, codes=None) -> TeacherLabels:
    codes = codes or [""] * len(names)
    return TeacherLabels(tuple(names), ("",) * len(names), tuple(codes))


def test_normalize_name():
    assert normalize_name("  Pipilo \t Erythrophthalmus ") == "pipilo erythrophthalmus"


def test_map_by_scientific_name_binomial_and_ebird_code():
    labels = _labels(["Engine", "Ramphastos toco", "Jabiru mycteria", "Noise", "Other bird"],
                     ["", "", "", "", "grekis"])
    mapping_df = map_taxonomy(TAXONOMY_DF, labels)
    assert list(mapping_df.columns) == list(MAPPING_COLUMNS)
    assert mapping_df["teacher_index"].tolist() == [1, 4, 2, -1, -1]
    assert mapping_df["matched_by"].tolist() == ["scientific_name", "ebird_code", "binomial",
                                                 "", ""]
    assert mapping_df["teacher_label"].tolist() == ["Ramphastos toco", "Other bird",
                                                    "Jabiru mycteria", "", ""]
    assert unmapped_species(mapping_df)["primary_label"].tolist() == ["1491113", "47158son01"]


def test_coverage_table_counts_per_class_and_overall():
    mapping_df = map_taxonomy(TAXONOMY_DF, _labels(["Ramphastos toco", "Boana raniceps"]))
    coverage_df = coverage_table(mapping_df).set_index("class_name")
    assert coverage_df.loc["Aves", ["n_species", "n_mapped"]].tolist() == [3, 1]
    assert coverage_df.loc["Amphibia", "coverage"] == 1.0
    assert coverage_df.loc["Insecta", "n_mapped"] == 0
    assert coverage_df.loc["all", ["n_species", "n_mapped"]].tolist() == [5, 2]
    assert coverage_df.index[0] == "Aves" and coverage_df.index[-1] == "all"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="scientific_name"):
        map_taxonomy(TAXONOMY_DF[["primary_label"]], _labels(["x"]))


def test_project_to_competition_puts_nan_where_unmapped():
    mapping_df = map_taxonomy(TAXONOMY_DF, _labels(["Boana raniceps", "Ramphastos toco"]))
    teacher_probs = np.array([[0.1, 0.9], [0.4, 0.2]], dtype=np.float32)
    probs, covered = project_to_competition(teacher_probs, mapping_df)
    assert covered.tolist() == [True, False, False, True, False]
    np.testing.assert_allclose(probs[:, covered], [[0.9, 0.1], [0.2, 0.4]])
    assert np.isnan(probs[:, ~covered]).all()


def _competition(tmp_path: Path) -> Path:
    folder = tmp_path / "input" / "birdclef-2026"
    folder.mkdir(parents=True)
    TAXONOMY_DF.to_csv(folder / "taxonomy.csv", index=False)
    return folder


def test_coverage_command_prints_the_table_and_writes_the_mapping(tmp_path, capsys):
    folder = _competition(tmp_path)
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("Ramphastos toco_Toco Toucan\nPitangus sulphuratus_Great Kiskadee\n")
    out = tmp_path / "out" / "mapping.csv"
    # an input root works as well as the competition folder itself
    assert main(["coverage", "--teacher", "birdnet", "--competition-dir", str(folder.parent),
                 "--labels", str(labels_file), "--out", str(out),
                 "--show-unmapped", "1"]) == 0
    text = capsys.readouterr().out
    assert "birdnet: 2 labels" in text and "(5 species)" in text
    assert "unmapped (3):" in text and "... 2 more" in text
    written = pd.read_csv(out, dtype={"primary_label": str})
    assert written["teacher_index"].tolist() == [0, 1, -1, -1, -1]


def test_coverage_command_runs_as_a_module(tmp_path):
    folder = _competition(tmp_path)
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("Boana raniceps_Chaco Tree Frog\n")
    result = subprocess.run(
        [sys.executable, "-m", "common.teacher", "coverage", "--teacher", "birdnet",
         "--competition-dir", str(folder), "--labels", str(labels_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Amphibia" in result.stdout and "all" in result.stdout
