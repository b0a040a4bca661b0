"""nb01's outputs for training: the prep tables and the cache index, read once per run.

:func:`load_prep` reads ``species.csv`` (the class order), ``train_folds.csv`` (focal clips with
folds and parsed secondary labels), ``soundscape_labels_folds.csv`` (listed soundscape windows
with folds) and ``cache/index.csv`` into a :class:`PrepData`; the window tables of
:mod:`common.data.windows` are built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.audio.cache import read_index
from common.data import competition as comp

__all__ = ["PrepData", "load_prep"]



@dataclass
class PrepData:
    """nb01's outputs, read once per run.

    ``classes`` are the species in submission column order (``species.csv``): the model's output
    columns and ``meta["classes"]`` of every checkpoint.
    """

    prep_dir: Path
    classes: list[str]
    species_df: pd.DataFrame
    train_df: pd.DataFrame  # train_folds.csv plus ``secondary`` (list of str)
    soundscape_df: pd.DataFrame  # soundscape_labels_folds.csv: listed (call) windows with fold
    index_df: pd.DataFrame  # cache/index.csv

    @property
    def cache_dir(self) -> Path:
        return self.prep_dir / "cache"

    @property
    def n_folds(self) -> int:
        """Folds nb01 made (largest fold id + 1 over clips and soundscapes)."""
        folds = [*self.train_df["fold"].tolist(), *self.soundscape_df["fold"].tolist()]
        return int(max(folds)) + 1 if folds else 0


def load_prep(prep_dir: str | Path) -> PrepData:
    """Read ``train_folds.csv``, ``soundscape_labels_folds.csv``, ``species.csv`` and the index."""
    prep_dir = Path(prep_dir)
    for name in ("train_folds.csv", "soundscape_labels_folds.csv", "species.csv",
                 "cache/index.csv"):
        if not (prep_dir / name).is_file():
            raise FileNotFoundError(
                f"{prep_dir / name} is missing: attach nb01's output (the prep dataset) or run "
                "nb01_data_prep.py with --working-dir pointing there")
    species_df = comp.read_csv_str(prep_dir / "species.csv")
    species_df["primary_label"] = species_df["primary_label"].astype(str)
    species_df = species_df.sort_values("column_index").reset_index(drop=True)
    train_df = comp.read_csv_str(prep_dir / "train_folds.csv")
    train_df["primary_label"] = train_df["primary_label"].astype(str)
    if "secondary_labels" not in train_df:
        train_df["secondary_labels"] = "[]"
    train_df["secondary"] = [
        comp.parse_label_list(text, f"(train_folds.csv row {i})")
        for i, text in enumerate(train_df["secondary_labels"])
    ]
    soundscape_df = comp.read_csv_str(prep_dir / "soundscape_labels_folds.csv")
    soundscape_df["primary_label"] = soundscape_df["primary_label"].fillna("").astype(str)
    return PrepData(prep_dir, list(species_df["primary_label"]), species_df, train_df,
                    soundscape_df, read_index(prep_dir / "cache"))

