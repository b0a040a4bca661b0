"""Window tables for nb02: one row per training or validation example, targets, background windows.

Everything the model trains or validates on is first a *window table* (OpenSoundscape style): one
row per example with where its audio is and what it holds, plus a ``(rows, classes)`` target
matrix, a loss mask and a per-row weight (:class:`WindowItems`). Three kinds of rows exist:

- ``crop = "clip"``: a focal clip; the loader picks a 5-s window inside the cached clip (energy
  crop with jitter for training, energy crop without jitter for validation).
- ``crop = "window"``: a fixed window ``[start_seconds, start_seconds + 5)`` of a source file, e.g.
  a labelled soundscape window, or a row of an extra windows table (pseudo labels from nb03).

Whole-clip tasks (one label per file, e.g. a music genre per clip) validate on every 5-s window of
their held-out cached clips (:func:`clip_window_items`) and pool the window probabilities per
clip (:func:`pool_clip_probs`), as nb04 does with the test files.

Targets (multi-label): a clip's primary label is 1; its secondary labels are ``secondary_value``
(``secondary_mode="soft"``) or dropped from the loss (``"mask"``: target 0, mask 0, because a
secondary species may not call in the cropped window). Soundscape windows are multi-hot over the
window's species, which is the only place the soundscape-only species (insect sonotypes, some
frogs) are ever positive.

Extra windows tables (the seam for nb03's pseudo labels and any other extra data) are CSVs with
columns ``key`` (a cache key such as ``train_soundscapes/<file>.ogg``, or a path relative to the
competition folder), ``start_seconds``, optional ``end_seconds``, ``weight``, ``fold`` (rows of
fold k are not trained on in fold k) and ``mask_<species>``, and one column per species holding a
soft target in [0, 1]; species columns that are absent are 0. A ``cache/`` folder next to the CSV
is searched for the audio before the prep cache.

The rows' audio is read by :class:`common.data.loaders.AudioSource` and served by the dataset and
loaders of :mod:`common.data.loaders`; nb01's tables are read by
:func:`common.data.prep_data.load_prep`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import competition as comp
from common.stages.infer.ensemble import pool_clips

log = logging.getLogger(__name__)

__all__ = [
    "WindowItems",
    "clip_targets",
    "focal_items",
    "soundscape_items",
    "soundscape_eval_items",
    "clip_window_items",
    "pool_clip_probs",
    "read_extra_windows",
    "background_windows",
    "SOUNDSCAPE_PREFIX",
    "SECONDARY_MODES",
]


SOUNDSCAPE_PREFIX = "train_soundscapes/"  # cache keys of soundscapes: prefix + file name
SECONDARY_MODES = ("soft", "mask")
TABLE_COLUMNS = ["key", "crop", "start_seconds", "weight", "source", "fold", "row_id"]


@dataclass
class WindowItems:
    """A window table: ``table_df`` (``TABLE_COLUMNS``), targets, loss mask; rows aligned.

    ``targets`` ``(rows, classes)`` float32 in [0, 1]; ``mask`` ``(rows, classes)`` float32, 1 =
    entry counts in the loss. ``table_df["weight"]`` is the per-row loss weight.
    """

    table_df: pd.DataFrame
    targets: np.ndarray
    mask: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.table_df = self.table_df.reset_index(drop=True)
        self.targets = np.asarray(self.targets, dtype=np.float32)
        if self.mask is None:
            self.mask = np.ones_like(self.targets)
        self.mask = np.asarray(self.mask, dtype=np.float32)
        if not (len(self.table_df) == len(self.targets) == len(self.mask)):
            raise ValueError("table, targets and mask must have the same number of rows")

    def __len__(self) -> int:
        return len(self.table_df)

    def select(self, rows: np.ndarray) -> WindowItems:
        """The rows at a boolean mask or integer index, in that order."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return WindowItems(self.table_df.iloc[rows], self.targets[rows], self.mask[rows])

    @staticmethod
    def concat(parts: Sequence[WindowItems], n_classes: int) -> WindowItems:
        """Rows of every part, in order (an empty table when ``parts`` is empty)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return WindowItems(pd.DataFrame(columns=TABLE_COLUMNS),
                               np.zeros((0, n_classes), np.float32))
        return WindowItems(pd.concat([p.table_df for p in parts], ignore_index=True),
                           np.concatenate([p.targets for p in parts]),
                           np.concatenate([p.mask for p in parts]))


def clip_targets(train_df: pd.DataFrame, classes: Sequence[str], secondary_mode: str = "soft",
                 secondary_value: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Targets and loss mask of focal clips.

    Args:
        train_df: ``primary_label`` (str) and ``secondary`` (list of str) per clip.
        classes: species in output order.
        secondary_mode: ``"soft"``: secondary species get ``secondary_value``; ``"mask"``: they
            get target 0 and mask 0 (no loss either way).
        secondary_value: soft target of a secondary species, in [0, 1].

    Returns:
        ``(targets, mask)``, both ``(clips, classes)`` float32. Labels not in ``classes`` are
        ignored; a species that is both primary and secondary stays 1.
    """
    if secondary_mode not in SECONDARY_MODES:
        raise ValueError(f"secondary_mode must be one of {SECONDARY_MODES}, got "
                         f"{secondary_mode!r}")
    if not 0.0 <= secondary_value <= 1.0:
        raise ValueError(f"secondary_value must be in [0, 1], got {secondary_value}")
    index = {c: i for i, c in enumerate(classes)}
    targets = np.zeros((len(train_df), len(classes)), np.float32)
    mask = np.ones_like(targets)
    for row, (primary, secondary) in enumerate(zip(train_df["primary_label"],
                                                   train_df["secondary"])):
        for label in secondary:
            j = index.get(str(label))
            if j is None:
                continue
            if secondary_mode == "soft":
                targets[row, j] = secondary_value
            else:
                mask[row, j] = 0.0
        j = index.get(str(primary))
        if j is not None:
            targets[row, j] = 1.0
            mask[row, j] = 1.0
    return targets, mask


def focal_items(train_df: pd.DataFrame, classes: Sequence[str], secondary_mode: str = "soft",
                secondary_value: float = 0.5, weight: float = 1.0) -> WindowItems:
    """One ``crop="clip"`` row per focal clip (cache key = train.csv ``filename``)."""
    targets, mask = clip_targets(train_df, classes, secondary_mode, secondary_value)
    table = pd.DataFrame({
        "key": train_df["filename"].astype(str).to_numpy(),
        "crop": "clip",
        "start_seconds": 0.0,
        "weight": float(weight),
        "source": "focal",
        "fold": train_df["fold"].astype(int).to_numpy(),
        "row_id": train_df["filename"].astype(str).to_numpy(),
    })
    return WindowItems(table, targets, mask)


def _label_lists(text_column: pd.Series) -> list[list[str]]:
    return [[s for s in str(t).split(";") if s] for t in text_column]


def soundscape_items(soundscape_df: pd.DataFrame, classes: Sequence[str],
                     weight: float = 1.0) -> WindowItems:
    """One ``crop="window"`` row per listed soundscape window, multi-hot over its species.

    Args:
        soundscape_df: ``soundscape_labels_folds.csv`` (``filename, start_seconds, row_id,
            primary_label`` ";"-joined, ``fold``).
        weight: loss weight of these rows relative to focal clips.
    """
    table = pd.DataFrame({
        "key": [SOUNDSCAPE_PREFIX + str(f) for f in soundscape_df["filename"]],
        "crop": "window",
        "start_seconds": soundscape_df["start_seconds"].astype(float).to_numpy(),
        "weight": float(weight),
        "source": "soundscape",
        "fold": soundscape_df["fold"].astype(int).to_numpy(),
        "row_id": soundscape_df["row_id"].astype(str).to_numpy(),
    })
    return WindowItems(table, comp.multi_hot(_label_lists(soundscape_df["primary_label"]),
                                             list(classes)))


def _cached_seconds(index_df: pd.DataFrame, key: str) -> float:
    rows = index_df[index_df["key"] == key]
    if rows.empty:
        raise KeyError(f"{key!r} is not in the prep cache; re-run nb01 so it decodes the file")
    row = rows.iloc[-1]
    return float(row["length"]) / float(row["sample_rate"])


def soundscape_eval_items(soundscape_df: pd.DataFrame, index_df: pd.DataFrame,
                          classes: Sequence[str], files: Sequence[str],
                          window_seconds: int = comp.WINDOW_SECONDS) -> WindowItems:
    """Every 5-s window of the given labelled soundscapes, as the test set is scored.

    Windows not listed in ``soundscape_df`` had nothing heard and are all-negative rows. The
    ``row_id`` column is Kaggle's ``<stem>_<end second>``, so predictions on these rows are
    scored with :func:`common.core.metrics.macro_roc_auc` exactly like a submission.
    """
    parts = []
    listed = {(str(f), int(s)): labels for f, s, labels in zip(
        soundscape_df["filename"], soundscape_df["start_seconds"],
        _label_lists(soundscape_df["primary_label"]))}
    folds = dict(zip(soundscape_df["filename"].astype(str), soundscape_df["fold"].astype(int)))
    for name in files:
        seconds = _cached_seconds(index_df, SOUNDSCAPE_PREFIX + str(name))
        windows = comp.window_table([str(name)], seconds, window_seconds)
        labels = [listed.get((str(name), int(s)), []) for s in windows["start_seconds"]]
        table = pd.DataFrame({
            "key": SOUNDSCAPE_PREFIX + str(name),
            "crop": "window",
            "start_seconds": windows["start_seconds"].astype(float).to_numpy(),
            "weight": 1.0,
            "source": "soundscape",
            "fold": folds.get(str(name), -1),
            "row_id": windows["row_id"].to_numpy(),
        })
        parts.append(WindowItems(table, comp.multi_hot(labels, list(classes))))
    return WindowItems.concat(parts, len(classes))


def clip_window_items(clips_df: pd.DataFrame, index_df: pd.DataFrame, classes: Sequence[str],
                      window_seconds: float = comp.WINDOW_SECONDS) -> WindowItems:
    """Every window of cached clips, one-hot on each clip's label: whole-clip validation.

    The counterpart of :func:`soundscape_eval_items` for tasks scored once per file: each clip
    is cut into consecutive windows the way nb04 cuts a test file (whole windows plus a tail of
    at least half a second, :func:`common.stages.infer.submission.n_windows_for`), and predictions
    on the
    windows are pooled back per clip with :func:`pool_clip_probs`.

    Args:
        clips_df: ``filename`` (the cache key, e.g. ``<folder>/<label>/<file>.wav``),
            ``primary_label`` and ``fold`` per clip (rows of ``train_folds.csv``).
        index_df: the cache index (``key, length, sample_rate, start_seconds``).
        classes: class labels in output order.
        window_seconds: window length, seconds.

    Returns:
        ``crop="window"`` rows in clip order, windows in time order; ``key`` = the clip's key,
        ``start_seconds`` in source time, ``row_id`` = ``<key>_<end second>``.
    """
    from common.stages.infer.submission import n_windows_for

    index = index_df.drop_duplicates("key", keep="last").set_index("key")
    keys = clips_df["filename"].astype(str).tolist()
    missing = [k for k in keys if k not in index.index]
    if missing:
        raise KeyError(f"{len(missing)} clips are not in the prep cache, e.g. {missing[0]!r}; "
                       "re-run nb01 so it decodes them")
    parts = []
    labels = clips_df["primary_label"].astype(str).tolist()
    folds = clips_df["fold"].astype(int).tolist()
    for key, label, fold in zip(keys, labels, folds):
        entry = index.loc[key]
        rate = int(entry["sample_rate"])
        window_samples = int(round(window_seconds * rate))
        n = n_windows_for(int(entry["length"]), window_samples)
        offset = float(entry["start_seconds"])
        starts = offset + window_seconds * np.arange(n)
        table = pd.DataFrame({
            "key": key,
            "crop": "window",
            "start_seconds": starts,
            "weight": 1.0,
            "source": "clip_window",
            "fold": fold,
            "row_id": [f"{key}_{end:g}" for end in starts - offset + window_seconds],
        })
        parts.append(WindowItems(table, comp.multi_hot([[label]] * n, list(classes))))
    return WindowItems.concat(parts, len(classes))


def pool_clip_probs(keys: Sequence[str], probs: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Mean window probabilities per clip.

    Args:
        keys: ``(windows,)`` the clip of each window.
        probs: ``(windows, classes)`` probabilities (after the task's activation).

    Returns:
        ``(clip_keys, pooled)``: clips in order of first appearance, ``pooled`` ``(clips,
        classes)`` float64. The mean of probabilities rather than of logits: a softmax
        average stays a distribution, and one confident window cannot outvote five. Windows
        with NaN probabilities are left out, as in nb04.
    """
    codes, uniques = pd.factorize(pd.Series([str(k) for k in keys], dtype=object))
    if len(codes) != len(probs):
        raise ValueError(f"{len(codes)} keys but {len(probs)} rows of probabilities")
    # nb04's pooling (common.stages.infer.ensemble.pool_clips), so validation scores what the test
    # gets.
    return [str(u) for u in uniques], pool_clips(probs, codes, len(uniques), np.float64)


def read_extra_windows(path: str | Path, classes: Sequence[str], name: str = "") -> WindowItems:
    """An extra windows table (pseudo labels, named positive/negative subsets); see module doc.

    Returns ``crop="window"`` rows (``crop="clip"`` where ``start_seconds`` is empty: the loader
    then crops the cached clip as for focal clips) with ``source = "extra:<name>"``.
    """
    path = Path(path)
    df = comp.read_csv_str(path)
    if "key" not in df.columns:
        raise ValueError(f"{path}: an extra windows table needs a 'key' column (cache key or "
                         "path relative to the competition folder)")
    classes = list(classes)
    known = [c for c in classes if c in df.columns]
    if not known:
        raise ValueError(f"{path}: no species column matches the class list; columns must be "
                         "species labels as in sample_submission.csv")
    targets = np.zeros((len(df), len(classes)), np.float32)
    mask = np.ones_like(targets)
    for j, c in enumerate(classes):
        if c in df.columns:
            targets[:, j] = pd.to_numeric(df[c], errors="coerce").fillna(0.0).to_numpy()
        if f"mask_{c}" in df.columns:
            mask[:, j] = pd.to_numeric(df[f"mask_{c}"], errors="coerce").fillna(1.0).to_numpy()
    if targets.min() < 0 or targets.max() > 1:
        raise ValueError(f"{path}: soft targets must lie in [0, 1]")
    start = pd.to_numeric(df.get("start_seconds", pd.Series(np.nan, index=df.index)),
                          errors="coerce")
    table = pd.DataFrame({
        "key": df["key"].astype(str).to_numpy(),
        "crop": np.where(start.isna(), "clip", "window"),
        "start_seconds": start.fillna(0.0).to_numpy(dtype=float),
        "weight": pd.to_numeric(df.get("weight", 1.0), errors="coerce"),
        "source": f"extra:{name or path.stem}",
        "fold": pd.to_numeric(df.get("fold", -1), errors="coerce"),
        "row_id": df["row_id"].astype(str) if "row_id" in df else df["key"].astype(str),
    })
    table["weight"] = table["weight"].fillna(1.0).astype(float)
    table["fold"] = table["fold"].fillna(-1).astype(int)
    return WindowItems(table, targets, mask)


def background_windows(soundscape_df: pd.DataFrame, index_df: pd.DataFrame,
                       exclude_files: Sequence[str] = (),
                       window_seconds: int = comp.WINDOW_SECONDS) -> pd.DataFrame:
    """Windows of real field audio with no labelled call, for background mixing.

    Two sources, both from the prep cache: every window of the unlabelled ``background``
    soundscapes, and the windows of labelled soundscapes that are not listed in
    ``soundscape_df`` (nothing heard there). Listed (call) windows are never background, and
    files in ``exclude_files`` (a fold's validation soundscapes) are left out entirely. A
    ``background`` entry shorter than one window (a task's noise clips may be ~5 s, some a
    little less) still gives one window at its start, repeated to length by
    :meth:`common.data.loaders.AudioSource.window`.

    Returns:
        ``key, start_seconds`` per window.
    """
    exclude = {SOUNDSCAPE_PREFIX + str(f) for f in exclude_files}
    listed = {(SOUNDSCAPE_PREFIX + str(f), int(s))
              for f, s in zip(soundscape_df["filename"], soundscape_df["start_seconds"])}
    rows = []
    kinds = index_df[index_df["kind"].isin(["soundscape", "background"])]
    for key, kind, length, rate in zip(kinds["key"], kinds["kind"], kinds["length"],
                                       kinds["sample_rate"]):
        if key in exclude:
            continue
        n_windows = int(int(length) // (window_seconds * int(rate)))
        if kind == "background" and n_windows == 0 and int(length) > 0:
            n_windows = 1
        for w in range(n_windows):
            start = w * window_seconds
            if (key, start) not in listed:
                rows.append((key, float(start)))
    return pd.DataFrame(rows, columns=["key", "start_seconds"])

