"""nb03's named data subsets, from the nb02 teacher: curated positives and hard negatives.

:func:`write_subsets` writes ``subset_<name>.csv`` and ``subsets_summary.csv`` from the pure
table functions of :mod:`common.stages.pseudo.subsets`: curated positives from nb02's
out-of-fold focal predictions, hard negatives from scored windows known to hold none of the
classes (:func:`negative_windows`: unlisted windows of labelled soundscapes, unlabelled ones,
and the recordings of ``negative_dir``). Both are per-class notions of a multi-label task; a
task's labeller decides whether it curates them
(:meth:`common.stages.pseudo.labels.PseudoLabeller.write_subsets`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from common.core.paths import find_dataset_dir
from common.data import competition as comp
from common.data.prep_data import PrepData
from common.data.windows import SOUNDSCAPE_PREFIX
from common.stages.infer.decode import list_test_files
from common.stages.infer.members import find_checkpoints, load_members
from common.stages.pseudo.config import PseudoConfig
from common.stages.pseudo.score import Scored, resolve_device, score_files
from common.stages.pseudo.subsets import curate_positive_subsets, mine_hard_negatives

__all__ = ["negative_windows", "write_subsets"]

log = logging.getLogger(__name__)


def write_subsets(cfg: PseudoConfig, prep: PrepData, models_dir: Path, scored: Scored,
                  labelled: set[str], out: Path) -> pd.DataFrame:
    """Curated positive and hard-negative subsets from the nb02 teacher (``name, rows, path``).

    ``labelled``: file names of the labelled soundscapes (nb01's soundscape table).
    """
    classes = prep.classes
    tables: dict[str, pd.DataFrame] = {}
    oof_path = models_dir / "oof_focal.csv"
    if cfg.positive_fractions and oof_path.is_file():
        scores = comp.read_csv_str(oof_path)
        scores[classes] = scores[classes].astype(float)
        pool = prep.train_df
        if cfg.curate_below_rating > 0 and "rating" in pool:
            pool = pool[pd.to_numeric(pool["rating"], errors="coerce").fillna(0.0)
                        < cfg.curate_below_rating]
        tables.update(curate_positive_subsets(scores, pool, cfg.positive_fractions))
    elif cfg.positive_fractions:
        log.warning("%s is missing: no curated positive subsets", oof_path)
    if cfg.negative_thresholds:
        negatives = negative_windows(cfg, prep, scored, labelled)
        if len(negatives):
            tables.update(mine_hard_negatives(negatives, cfg.negative_thresholds, classes))
    rows = []
    for name, table in tables.items():
        path = out / f"subset_{name}.csv"
        table.to_csv(path, index=False, float_format="%.5g")
        rows.append({"name": name, "rows": len(table), "path": path.name})
    subsets_df = pd.DataFrame(rows, columns=["name", "rows", "path"])
    subsets_df.to_csv(out / "subsets_summary.csv", index=False)
    log.info("subsets: %s", dict(zip(subsets_df["name"], subsets_df["rows"])))
    return subsets_df


def negative_windows(cfg: PseudoConfig, prep: PrepData, scored: Scored, labelled: set[str]
                     ) -> pd.DataFrame:
    """Scored windows known to hold none of the classes, as ``key, start_seconds, fold`` and
    one probability column per class."""
    classes = prep.classes
    listed = {(str(f), float(s)) for f, s in zip(prep.soundscape_df["filename"],
                                                   prep.soundscape_df["start_seconds"])}
    folds = dict(zip(prep.soundscape_df["filename"].astype(str),
                     prep.soundscape_df["fold"].astype(int)))
    w = scored.windows_df
    is_labelled = w["filename"].isin(labelled).to_numpy()
    unlisted = np.array([(f, float(s)) not in listed for f, s in zip(w["filename"], w["start"])],
                        dtype=bool)
    keep = np.zeros(len(w), bool)
    if "unlisted" in cfg.negative_sources:
        keep |= is_labelled & unlisted
    if "unlabelled" in cfg.negative_sources:
        keep |= ~is_labelled
    keep &= ~np.isnan(scored.probs).any(axis=1)
    frame = pd.DataFrame({"key": SOUNDSCAPE_PREFIX + w["filename"][keep].astype(str),
                          "start_seconds": w["start"][keep].to_numpy(),
                          "fold": [folds.get(f, -1) for f in w["filename"][keep]]})
    frame = pd.concat([frame.reset_index(drop=True),
                       pd.DataFrame(scored.probs[keep], columns=classes)], axis=1)
    if cfg.negative_dir:
        frame = pd.concat([frame, _score_negative_dir(cfg, prep)], ignore_index=True)
    return frame


def _score_negative_dir(cfg: PseudoConfig, prep: PrepData) -> pd.DataFrame:
    """Windows of every recording in ``negative_dir``, scored by the nb02 teacher."""
    folder = Path(cfg.negative_dir)
    paths = list_test_files(folder)
    if not paths:
        log.warning("negative_dir %s holds no audio file", folder)
        return pd.DataFrame()
    models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
    members = load_members(find_checkpoints(models_dir, cfg.checkpoint_glob), prep.classes,
                           root=models_dir)
    scored = score_files(cfg, members, paths, prep.classes, resolve_device(cfg.device))
    w = scored.windows_df
    frame = pd.DataFrame({"key": [str(folder.resolve() / f) for f in w["filename"]],
                          "start_seconds": w["start"].to_numpy(), "fold": -1})
    return pd.concat([frame, pd.DataFrame(scored.probs, columns=prep.classes)], axis=1)
