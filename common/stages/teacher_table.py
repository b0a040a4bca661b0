"""A teacher's opinion of every 5-s window of some audio, computed once and cached as a table.

Pretrained teachers are slow on a CPU (BirdNET: a few windows per second per core), so their
output over a set of files is scored once per stage run and kept as
``<working_dir>/teacher/<teacher>_windows.csv``: ``filename, start_seconds, row_id`` and one
column per competition species the teacher maps to (:mod:`common.teachers.mapping`), in the
competition's column order. Later rounds, students and re-runs read it back; a run cut short
(time limit, Ctrl-C) resumes at the first file not in the table, because every file is appended
as soon as it is scored. Files that fail to decode are skipped, listed in ``failed`` and in
``<teacher>_bad_files.csv``, never dropped in silence.

The windows are nb04's (:func:`common.stages.infer.decode.decode_file`), so the row ids are the
submission's and a table joins any stage's windows by ``row_id``
(:func:`common.teachers.blend.align_teacher`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from common.core.runtime import resolve_workers
from common.data import competition as comp
from common.data.competition import read_taxonomy
from common.stages.infer.decode import decode_file
from common.stages.infer.submission import file_row_ids
from common.teachers import Teacher, get_teacher, load_teacher_labels
from common.teachers.config import TeacherConfig
from common.teachers.mapping import coverage_table, map_taxonomy, project_to_competition

__all__ = ["KEY_COLUMNS", "TeacherTable", "coverage_summary", "teacher_mapping",
           "teacher_table"]

log = logging.getLogger(__name__)

KEY_COLUMNS = ["filename", "start_seconds", "row_id"]
FLOAT_FORMAT = "%.5g"


@dataclass
class TeacherTable:
    """A teacher's cached window table and what it covers."""

    path: Path
    table_df: pd.DataFrame  # KEY_COLUMNS + one column per mapped species
    mapping_df: pd.DataFrame  # common.teachers.mapping.map_taxonomy's table
    failed: list[str] = field(default_factory=list)  # files that could not be decoded
    scored_now: int = 0  # files scored in this call (the rest came from the cache)
    windows_per_second: float = 0.0  # measured on the files scored now (0 if none)

    @property
    def species(self) -> list[str]:
        """The competition species the teacher maps to, in competition order."""
        return [c for c in self.table_df.columns if c not in KEY_COLUMNS]


def teacher_mapping(cfg: TeacherConfig, competition_dir: Path, classes: Sequence[str]
                    ) -> pd.DataFrame:
    """The mapping of ``classes`` (our column order) to the teacher's labels, from the
    competition's ``taxonomy.csv``; a class missing from the taxonomy stays unmapped."""
    if not (Path(competition_dir) / "taxonomy.csv").is_file():
        raise ValueError(
            f"a teacher maps species by scientific name from taxonomy.csv, and "
            f"{competition_dir} has none: this competition cannot use a teacher; set teacher=''")
    taxonomy = read_taxonomy(competition_dir).drop_duplicates("primary_label")
    taxonomy["primary_label"] = taxonomy["primary_label"].astype(str)
    rows = pd.DataFrame({"primary_label": [str(c) for c in classes]}).merge(
        taxonomy, on="primary_label", how="left")
    rows["scientific_name"] = rows["scientific_name"].fillna("")
    rows["class_name"] = rows.get("class_name", pd.Series("unknown", index=rows.index)
                                  ).fillna("unknown")
    labels = load_teacher_labels(cfg.teacher, cfg.teacher_labels or cfg.teacher_model or None)
    return map_taxonomy(rows, labels)


def coverage_summary(cfg: TeacherConfig, mapping_df: pd.DataFrame) -> dict[str, object]:
    """What a report says of a teacher: name, weight, species covered, coverage by class."""
    coverage_df = coverage_table(mapping_df)
    return {
        "teacher": cfg.teacher, "teacher_weight": cfg.teacher_weight,
        "n_species": int(len(mapping_df)),
        "n_species_covered": int((mapping_df["teacher_index"] >= 0).sum()),
        "coverage_by_class": {str(r.class_name): f"{int(r.n_mapped)}/{int(r.n_species)}"
                              for r in coverage_df.itertuples()},
    }


def _read_cached(path: Path, species: list[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=KEY_COLUMNS + species)
    cached = comp.read_csv_str(path)
    if list(cached.columns) != KEY_COLUMNS + species:
        log.warning("%s was made for another mapping: scoring again", path)
        path.unlink()
        return pd.DataFrame(columns=KEY_COLUMNS + species)
    cached[species] = cached[species].astype(np.float32)
    cached["start_seconds"] = cached["start_seconds"].astype(float)
    return cached


def _score_file(teacher: Teacher, path: Path, sample_rate: int, covered: np.ndarray,
                mapping_df: pd.DataFrame, species: list[str]) -> pd.DataFrame | str:
    window_samples = int(round(comp.WINDOW_SECONDS * sample_rate))
    decoded = decode_file(0, path, sample_rate, window_samples)
    if decoded.windows is None:
        return decoded.error
    probs, _ = project_to_competition(teacher.predict_windows(decoded.windows, sample_rate),
                                      mapping_df)
    n = len(decoded.windows)
    frame = pd.DataFrame({"filename": path.name,
                          "start_seconds": np.arange(n, dtype=float) * comp.WINDOW_SECONDS,
                          "row_id": file_row_ids(path.name, n)})
    return pd.concat([frame, pd.DataFrame(probs[:, covered], columns=species)], axis=1)


def teacher_table(cfg: TeacherConfig, paths: Sequence[Path], competition_dir: Path,
                  classes: Sequence[str], out_dir: Path, sample_rate: int,
                  deadline: float | None = None, max_new_files: int = 0) -> TeacherTable:
    """Score every window of ``paths`` with the teacher, reusing and extending the cache.

    Args:
        cfg: which teacher (``cfg.enabled`` must hold), its files, batch, threads, file cap.
        paths: the audio files, in order (``teacher_max_files`` keeps the first N).
        competition_dir: its ``taxonomy.csv`` maps the species.
        classes: our species, in column order.
        out_dir: the stage's working dir; the table goes to ``out_dir/teacher/``.
        sample_rate: Hz the files are decoded at (the competition's; the teacher resamples).
        deadline: a ``time.monotonic()`` instant; files not started by then are left out.
        max_new_files: score at most this many files not in the cache (0 = all); nb04 scores
            one to measure the teacher's speed before it commits to the rest.

    Returns:
        The :class:`TeacherTable`, rows in file then time order.
    """
    if not cfg.enabled:
        raise ValueError("teacher_table needs a teacher (cfg.teacher) with a weight above 0")
    mapping_df = teacher_mapping(cfg, competition_dir, classes)
    covered = (mapping_df["teacher_index"] >= 0).to_numpy()
    species = [str(c) for c, on in zip(classes, covered) if on]
    folder = Path(out_dir) / "teacher"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cfg.teacher}_windows.csv"
    cached = _read_cached(path, species)
    done = set(cached["filename"].astype(str))
    paths = list(paths)[:cfg.teacher_max_files or None]
    todo = [p for p in paths if p.name not in done][:max_new_files or None]
    failed: list[str] = []
    new_frames: list[pd.DataFrame] = []
    scored = 0
    seconds = 0.0
    windows = 0
    if todo and species:
        teacher = get_teacher(cfg.teacher, **cfg.options(resolve_workers(cfg.teacher_threads)))
        log.info("%s: %d files to score (%d of %d cached), %d of %d species mapped",
                 cfg.teacher, len(todo), len(done & {p.name for p in paths}), len(paths),
                 len(species), len(classes))
        for p in tqdm(todo, desc=f"{cfg.teacher} teacher", unit="file"):
            if deadline is not None and time.monotonic() > deadline:
                log.warning("%s: deadline reached; %d files left unscored", cfg.teacher,
                            len(todo) - scored - len(failed))
                break
            start = time.perf_counter()
            result = _score_file(teacher, p, sample_rate, covered, mapping_df, species)
            if isinstance(result, str):
                failed.append(result)
                log.warning("%s: %s skipped: %s", cfg.teacher, p.name, result)
                continue
            seconds += time.perf_counter() - start
            windows += len(result)
            result.to_csv(path, mode="a", header=not path.is_file(), index=False,
                          float_format=FLOAT_FORMAT)
            new_frames.append(result)
            scored += 1
    elif todo:
        log.warning("%s maps none of the %d species: nothing to score", cfg.teacher, len(classes))
    if failed:
        pd.DataFrame({"error": failed}).to_csv(folder / f"{cfg.teacher}_bad_files.csv",
                                               index=False)
    # The cache as read plus what was appended: the file is not read a second time.
    table_df = pd.concat([cached, *new_frames], ignore_index=True) if new_frames else cached
    wanted = {p.name for p in paths}
    table_df = table_df[table_df["filename"].astype(str).isin(wanted)].reset_index(drop=True)
    return TeacherTable(path, table_df, mapping_df, failed, scored,
                        windows / seconds if seconds else 0.0)
