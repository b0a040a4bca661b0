import pytest

from common.core.paths import find_competition_dir, find_dataset_dir


@pytest.mark.parametrize("layout", ["birdclef-2026", "competitions/birdclef-2026"])
def test_both_kaggle_competition_layouts(tmp_path, layout):
    folder = tmp_path / layout
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text("primary_label,filename\n")
    assert find_competition_dir(tmp_path) == folder


def test_missing_competition_names_places_tried(tmp_path):
    with pytest.raises(FileNotFoundError, match="competitions/birdclef-2026"):
        find_competition_dir(tmp_path)


def test_dataset_layouts_and_required_file(tmp_path):
    nested = tmp_path / "datasets" / "someone" / "birdclef-2026-prep"
    nested.mkdir(parents=True)
    (nested / "species.csv").write_text("x\n")
    assert find_dataset_dir(tmp_path, "birdclef-2026-prep", "species.csv") == nested
    with pytest.raises(FileNotFoundError, match="has no train_folds.csv"):
        find_dataset_dir(tmp_path, "birdclef-2026-prep", "train_folds.csv")
    with pytest.raises(FileNotFoundError, match="Attach the earlier stage"):
        find_dataset_dir(tmp_path, "birdclef-2026-models")
