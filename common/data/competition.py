"""Reading the BirdCLEF competition files, with species labels kept as strings.

Several species are numeric iNaturalist ids (``65448``) or sonotypes (``47158son16``): every
reader here passes ``dtype=str`` for label columns so pandas never turns them into numbers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd

WINDOW_SECONDS = 5
SOUNDSCAPE_SECONDS = 60

# Columns that hold labels or identifiers and must never be parsed as numbers.
_STRING_COLUMNS = {
    "primary_label": str, "secondary_labels": str, "filename": str, "inat_taxon_id": str,
    "row_id": str, "type": str, "collection": str, "class_name": str, "url": str,
}


def read_csv_str(path: str | Path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with every label/id column read as ``str``.

    The header is read first so that the dtype map names only columns present; a submission's
    species columns are probabilities and stay floats.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    header = pd.read_csv(path, nrows=0).columns
    dtype = {c: str for c in header if c in _STRING_COLUMNS}
    return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""], **kwargs)


def parse_label_list(text: object, source: str = "") -> list[str]:
    """Parse a secondary-labels cell such as ``"['grekis', '65448']"`` into strings.

    Uses ``ast.literal_eval`` (never ``eval``). Empty cells, ``"[]"`` and ``"['']"`` give ``[]``.
    A malformed cell raises ``ValueError`` naming ``source`` (the row it came from).
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    text = str(text).strip()
    if text in ("", "[]", "nan"):
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"cannot parse label list {text!r} {source}".strip()) from err
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"label list {text!r} {source} is not a list".strip())
    return [str(v).strip() for v in value if str(v).strip()]


def read_taxonomy(competition_dir: str | Path) -> pd.DataFrame:
    """``taxonomy.csv`` with ``primary_label`` as strings, in file order."""
    df = read_csv_str(Path(competition_dir) / "taxonomy.csv")
    missing = {"primary_label", "class_name"} - set(df.columns)
    if missing:
        raise ValueError(f"taxonomy.csv lacks columns {sorted(missing)}")
    df["primary_label"] = df["primary_label"].astype(str)
    return df


def read_train_metadata(competition_dir: str | Path) -> pd.DataFrame:
    """``train.csv`` with a parsed ``secondary`` column (list of str) next to the raw text."""
    path = Path(competition_dir) / "train.csv"
    df = read_csv_str(path)
    for column in ("primary_label", "filename"):
        if column not in df.columns:
            raise ValueError(f"{path} lacks the column {column!r}")
    if "secondary_labels" not in df.columns:
        df["secondary_labels"] = "[]"
    df["secondary_labels"] = df["secondary_labels"].fillna("[]")
    df["secondary"] = [
        parse_label_list(text, f"(train.csv row {i}, {fn})")
        for i, (text, fn) in enumerate(zip(df["secondary_labels"], df["filename"]))
    ]
    if "rating" in df.columns:
        df["rating"] = pd.to_numeric(df["rating"], errors="coerce").fillna(0.0)
    return df


def read_sample_submission(competition_dir: str | Path) -> pd.DataFrame:
    """``sample_submission.csv``; its species columns define the submission's order."""
    df = read_csv_str(Path(competition_dir) / "sample_submission.csv")
    if df.columns[0] != "row_id":
        raise ValueError("sample_submission.csv must start with a row_id column")
    return df


def species_columns(sample_submission_df: pd.DataFrame) -> list[str]:
    """Species column names in submission order (everything after ``row_id``), as strings."""
    return [str(c) for c in sample_submission_df.columns[1:]]


def hms_to_seconds(text: str) -> int:
    """``"00:01:05"`` -> 65. Plain numbers of seconds are accepted too."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(round(float(text)))
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"cannot read time {text!r}: expected HH:MM:SS")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def read_soundscape_labels(competition_dir: str | Path) -> pd.DataFrame:
    """``train_soundscapes_labels.csv`` deduplicated, one row per labelled 5-s window.

    The real file lists every row twice; duplicates are dropped and windows that appear on
    several rows have their labels merged. Returns columns ``filename, start_seconds,
    end_seconds, row_id, primary_label`` (``;``-joined sorted species), sorted by file and time.
    """
    path = Path(competition_dir) / "train_soundscapes_labels.csv"
    columns = ["filename", "start_seconds", "end_seconds", "row_id", "primary_label"]
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    raw = read_csv_str(path)
    if raw.empty:
        return pd.DataFrame(columns=columns)
    raw = raw.drop_duplicates()
    raw["start_seconds"] = [hms_to_seconds(t) for t in raw["start"]]
    raw["end_seconds"] = [hms_to_seconds(t) for t in raw["end"]]
    raw["labels"] = [
        [s.strip() for s in str(text).split(";") if s.strip()] for text in raw["primary_label"]
    ]
    merged = (
        raw.groupby(["filename", "start_seconds", "end_seconds"], sort=True)["labels"]
        .agg(lambda rows: sorted({s for labels in rows for s in labels}))
        .reset_index()
    )
    merged["row_id"] = [
        make_row_id(fn, end) for fn, end in zip(merged["filename"], merged["end_seconds"])
    ]
    merged["primary_label"] = [";".join(labels) for labels in merged["labels"]]
    return merged[columns].reset_index(drop=True)


def make_row_id(filename: str | Path, end_seconds: int) -> str:
    """Kaggle's row id: ``<file stem>_<end second>``, e.g. ``BC2026_Test_0001_S05_..._5``."""
    return f"{Path(str(filename)).stem}_{int(end_seconds)}"


def window_table(filenames: list[str], duration_seconds: float = SOUNDSCAPE_SECONDS,
                 window_seconds: int = WINDOW_SECONDS) -> pd.DataFrame:
    """One row per 5-s window of each file: ``filename, start_seconds, end_seconds, row_id``.

    Files are listed in the given order and windows in time order, the layout of a submission.
    """
    n_windows = int(duration_seconds // window_seconds)
    rows = [
        (fn, k * window_seconds, (k + 1) * window_seconds,
         make_row_id(fn, (k + 1) * window_seconds))
        for fn in filenames
        for k in range(n_windows)
    ]
    return pd.DataFrame(rows, columns=["filename", "start_seconds", "end_seconds", "row_id"])


def multi_hot(label_lists: list[list[str]], classes: list[str]) -> np.ndarray:
    """``(n_rows, n_classes)`` float32 0/1 matrix; labels not in ``classes`` are ignored."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(label_lists), len(classes)), dtype=np.float32)
    for row, labels in enumerate(label_lists):
        for label in labels:
            j = index.get(str(label))
            if j is not None:
                out[row, j] = 1.0
    return out
