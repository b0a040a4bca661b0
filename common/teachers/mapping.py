"""Map the competition's species to a teacher's labels, and say how much of it the teacher knows.

A competition species (a ``taxonomy.csv`` row: ``primary_label, scientific_name, common_name,
class_name``) maps to a teacher column by, in order:

1. scientific name, compared case- and whitespace-insensitively;
2. the binomial (first two words) of the competition name, so a subspecies still maps;
3. eBird code (``primary_label``) for teachers whose labels carry codes (Perch; BirdNET has none).

Unmatched species keep ``teacher_index = -1``: a teacher says nothing about them, and the uses
(pseudo-label blend, distillation, submission blend) must leave their columns to our model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.teachers.base import TeacherLabels

MAPPING_COLUMNS = ("primary_label", "scientific_name", "common_name", "class_name",
                   "teacher_index", "teacher_label", "matched_by")


def normalize_name(name: object) -> str:
    """``'  Pipilo   Erythrophthalmus '`` -> ``'pipilo erythrophthalmus'``."""
    return " ".join(str(name).split()).casefold()


def _binomial(name: str) -> str:
    return " ".join(name.split()[:2])


def _first_index(keys: tuple[str, ...]) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, key in enumerate(keys):
        if key:
            index.setdefault(key, position)
    return index


def map_taxonomy(taxonomy_df: pd.DataFrame, labels: TeacherLabels) -> pd.DataFrame:
    """One row per competition species, in taxonomy order, with its teacher column.

    Args:
        taxonomy_df: needs ``primary_label`` and ``scientific_name``; ``common_name`` and
            ``class_name`` are carried when present (``class_name`` defaults to 'unknown').
        labels: the teacher's labels.

    Returns:
        ``mapping_df`` with columns :data:`MAPPING_COLUMNS`: ``teacher_index`` (int, -1 when
        unmapped), ``teacher_label`` (the teacher's scientific name or code, '' when
        unmapped), ``matched_by`` ('scientific_name', 'binomial', 'ebird_code' or '').
    """
    missing = {"primary_label", "scientific_name"} - set(taxonomy_df.columns)
    if missing:
        raise ValueError(f"taxonomy lacks columns {sorted(missing)}")
    names = tuple(normalize_name(n) for n in labels.scientific_names)
    by_name = _first_index(names)
    by_binomial = _first_index(tuple(_binomial(n) for n in names))
    by_code = _first_index(tuple(normalize_name(c) for c in labels.ebird_codes))

    rows = []
    for record in taxonomy_df.to_dict("records"):
        name = normalize_name(record.get("scientific_name", ""))
        code = normalize_name(record["primary_label"])
        index, how = by_name.get(name, -1), "scientific_name"
        if index < 0 and name:
            index, how = by_binomial.get(_binomial(name), -1), "binomial"
        if index < 0:
            index, how = by_code.get(code, -1), "ebird_code"
        label = ""
        if index >= 0:
            label = labels.scientific_names[index] or labels.ebird_codes[index]
        rows.append({
            "primary_label": str(record["primary_label"]),
            "scientific_name": str(record.get("scientific_name", "")),
            "common_name": str(record.get("common_name", "")),
            "class_name": str(record.get("class_name", "unknown")),
            "teacher_index": int(index),
            "teacher_label": label,
            "matched_by": how if index >= 0 else "",
        })
    return pd.DataFrame(rows, columns=list(MAPPING_COLUMNS))


def coverage_table(mapping_df: pd.DataFrame) -> pd.DataFrame:
    """Species and mapped species per ``class_name``, plus an ``all`` row.

    Returns ``coverage_df`` with columns ``class_name, n_species, n_mapped, coverage``
    (fraction in [0, 1]), classes ordered by number of species.
    """
    mapped = mapping_df["teacher_index"] >= 0
    grouped = (mapping_df.assign(mapped=mapped).groupby("class_name", sort=False)
               .agg(n_species=("mapped", "size"), n_mapped=("mapped", "sum")).reset_index())
    grouped = grouped.sort_values(["n_species", "class_name"], ascending=[False, True])
    total = pd.DataFrame([{"class_name": "all", "n_species": int(len(mapping_df)),
                           "n_mapped": int(mapped.sum())}])
    coverage_df = pd.concat([grouped, total], ignore_index=True)
    coverage_df["n_mapped"] = coverage_df["n_mapped"].astype(int)
    coverage_df["coverage"] = (coverage_df["n_mapped"]
                               / coverage_df["n_species"].clip(lower=1)).round(3)
    return coverage_df


def unmapped_species(mapping_df: pd.DataFrame) -> pd.DataFrame:
    """The species the teacher does not know: ``primary_label, scientific_name, class_name``."""
    rows = mapping_df[mapping_df["teacher_index"] < 0]
    return rows[["primary_label", "scientific_name", "class_name"]].reset_index(drop=True)


def project_to_competition(teacher_probs: np.ndarray,
                           mapping_df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Teacher probabilities in the competition's columns.

    Args:
        teacher_probs: ``(n_windows, n_teacher_labels)``.
        mapping_df: from :func:`map_taxonomy`; its row order is the competition column order.

    Returns:
        ``(probs, covered)``: ``(n_windows, n_species)`` float32 with NaN in unmapped columns,
        and the ``(n_species,)`` bool mask of mapped columns.
    """
    index = mapping_df["teacher_index"].to_numpy(dtype=np.int64)
    covered = index >= 0
    probs = np.full((len(teacher_probs), len(index)), np.nan, dtype=np.float32)
    probs[:, covered] = np.asarray(teacher_probs, dtype=np.float32)[:, index[covered]]
    return probs, covered
