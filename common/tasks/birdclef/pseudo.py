"""nb03 for BirdCLEF: soft pseudo labels per 5-s window of the unlabelled train soundscapes.

The recipe (2025 winners: soft pseudo labels, often sharpened by a power): targets are the
ensemble probabilities raised to ``target_power`` (1 = raw; > 1 pushes uncertain scores
towards 0, so noise from many weak scores does not add up), on windows whose top-class
probability is at least ``min_confidence`` (0 = keep every window: the low scores are
informative soft negatives), at most ``max_windows`` (most confident first).
``soundscapes="unlabelled"`` labels the files not in the labels file, ``"all"`` every file;
labelled files are scored too (round 1) when hard negatives come from their unlisted windows.

Tables (:mod:`common.stages.pseudo.tables`): ``pseudo_labels_soft*.csv`` has ``filename, start,
end`` (seconds), ``key``, ``start_seconds``, ``row_id``, ``fold`` (-1 for unlabelled files,
else the file's CV fold), ``weight``, ``confidence`` (top-class probability before the power)
and one column per species; ``pseudo_labels_hard_t050.csv`` is the 0/1 view at ``threshold``,
``pseudo_class_counts.csv`` the windows per species. Round 1 also writes the curated positive
and hard-negative subsets (:mod:`common.stages.pseudo.curate`). ``rounds_summary.csv``
compares the out-of-fold soundscape AUC of the teacher and students.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.core.resample import RESAMPLED_METRICS
from common.report import prediction_plots as plots
from common.report.plots import save_figure
from common.stages.infer.decode import list_test_files
from common.stages.pseudo.curate import write_subsets
from common.stages.pseudo.evidence import OofEvidence
from common.stages.pseudo.labels import PseudoAudio, PseudoLabeller
from common.stages.pseudo.tables import class_counts, hard_label_table, pseudo_label_table
from common.tasks.birdclef.train import soundscape_truth

if TYPE_CHECKING:
    from common.data.prep_data import PrepData
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.pseudo.score import Scored

__all__ = ["SOUNDSCAPE_DIR", "WindowLabeller", "soundscape_files"]

log = logging.getLogger(__name__)

SOUNDSCAPE_DIR = "train_soundscapes"


def soundscape_files(competition_dir: Path, labelled: set[str], mode: str, max_files: int = 0
                     ) -> list[Path]:
    """The train soundscapes to label: unlabelled ones, or all; sorted by name."""
    files = list_test_files(competition_dir / SOUNDSCAPE_DIR)
    if mode == "unlabelled":
        files = [p for p in files if p.name not in labelled]
    return files[:max_files] if max_files else files


def _pct(value: float) -> str:
    return f"{int(round(100 * value)):03d}"


class WindowLabeller(PseudoLabeller):
    """Soft labels per window of the train soundscapes; hard view at ``threshold``."""

    unit = "soundscape"
    dataset_title = "BirdCLEF 2026 pseudo labels (nb03)"
    summary_keys = ("n_windows", "n_windows_with_positive", "students")

    def __init__(self, cfg: PseudoConfig, prep: PrepData, competition_dir: Path) -> None:
        super().__init__(cfg, prep, competition_dir)
        soundscapes = prep.soundscape_df
        self.labelled = set(soundscapes["filename"].astype(str))
        self.file_folds = {str(f): int(k) for f, k in zip(soundscapes["filename"],
                                                          soundscapes["fold"])}
        self.pseudo_names: set[str] = set()

    def audio(self) -> PseudoAudio:
        cfg = self.cfg
        paths = soundscape_files(self.competition_dir, self.labelled, cfg.soundscapes,
                                 cfg.max_files)
        labelled_paths = [p for p in list_test_files(self.competition_dir / SOUNDSCAPE_DIR)
                          if p.name in self.labelled]
        need_unlisted = "unlisted" in cfg.negative_sources and len(cfg.negative_thresholds) > 0
        extra = [p for p in labelled_paths if p not in paths] if need_unlisted else []
        self.pseudo_names = {p.name for p in paths}
        return PseudoAudio(SOUNDSCAPE_DIR, paths, extra)

    def describe(self, audio: PseudoAudio) -> str:
        return (f"{len(audio.paths)} soundscapes to label ({self.cfg.soundscapes}), "
                f"{len(audio.extra_paths)} labelled ones scored for hard negatives")

    @property
    def hard_name(self) -> str:
        return f"pseudo_labels_hard_t{_pct(self.cfg.threshold)}.csv"

    def _in_pseudo(self, scored: Scored) -> np.ndarray:
        """``(windows,)`` bool: windows of the files being labelled (not the negatives')."""
        return scored.windows_df["filename"].isin(self.pseudo_names).to_numpy()

    def soft_table(self, scored: Scored, probs: np.ndarray) -> pd.DataFrame:
        cfg = self.cfg
        keep = self._in_pseudo(scored)
        windows = scored.windows_df[keep].reset_index(drop=True)
        return pseudo_label_table(windows, probs[keep], self.classes, self.file_folds,
                                  min_confidence=cfg.min_confidence,
                                  target_power=cfg.target_power, max_windows=cfg.max_windows,
                                  weight=cfg.pseudo_weight)

    def write_views(self, r: int, scored: Scored, soft_df: pd.DataFrame,
                    fold_rows: dict[int, int], out: Path) -> dict[str, Any]:
        cfg, classes = self.cfg, self.classes
        hard = hard_label_table(soft_df, classes, cfg.threshold)
        hard.to_csv(out / f"r{r}_{self.hard_name}", index=False)
        counts = class_counts(soft_df, classes, cfg.threshold)
        counts.to_csv(out / f"r{r}_pseudo_class_counts.csv", index=False)
        positive = hard[classes].to_numpy().any(axis=1) if len(hard) else np.zeros(0, bool)
        windows = scored.windows_df[self._in_pseudo(scored)]
        summary = {
            "soundscapes": cfg.soundscapes,
            "n_files": int(windows["filename"].nunique()), "n_failed_files": len(scored.failed),
            "n_windows_scored": int(len(windows)), "n_windows": int(len(soft_df)),
            "threshold": cfg.threshold, "n_windows_with_positive": int(positive.sum()),
            "n_species_with_positive": int((counts["n_windows"] > 0).sum()),
            "mean_confidence": float(soft_df["confidence"].mean()) if len(soft_df) else None,
            "min_confidence": cfg.min_confidence, "target_power": cfg.target_power,
        }
        log.info("round %d pseudo labels: %d windows of %d files, %d with a species >= %.2f", r,
                 len(soft_df), summary["n_files"], summary["n_windows_with_positive"],
                 cfg.threshold)
        return summary

    def round_scores(self, report: dict[str, Any]) -> dict[str, Any]:
        """Out-of-fold soundscape AUC over the finished folds and the mean of the folds'."""
        return {"oof_soundscape_auc": report.get("oof_soundscape_auc"),
                "mean_fold_soundscape_auc": report.get("mean_fold_soundscape_auc")}

    @functools.cached_property
    def _soundscape_truth(self) -> pd.DataFrame:
        """nb01's labels of every labelled soundscape window (the teacher and every student
        round are scored against them)."""
        return soundscape_truth(self.prep)

    def oof_evidence(self, run_dir: Path) -> OofEvidence | None:
        """``oof_soundscapes.csv``'s windows, resampled by soundscape file, scored by the
        competition's macro ROC-AUC."""
        path = run_dir / "oof_soundscapes.csv"
        if not path.is_file():
            return None
        oof_df = pd.read_csv(path, dtype={"row_id": str, "key": str})
        if oof_df.empty:
            return None
        oof_df.columns = [str(c) for c in oof_df.columns]
        truth = self._soundscape_truth
        known = oof_df["row_id"].isin(truth.index)
        if not known.all():
            raise ValueError(f"{path}: {int((~known).sum())} rows are not windows of nb01's "
                             f"labelled soundscapes, e.g. {oof_df['row_id'][~known].iloc[0]!r}: "
                             "was it made from another prep dataset?")
        return OofEvidence(
            ids=oof_df["row_id"].to_numpy(), groups=oof_df["key"].to_numpy(),
            truth=truth.loc[oof_df["row_id"], self.classes].to_numpy(dtype=float),
            probs=oof_df[self.classes].to_numpy(dtype=float),
            metric=RESAMPLED_METRICS["macro_roc_auc"],
            unit="soundscape")

    def write_subsets(self, models_dir: Path, scored: Scored, out: Path) -> pd.DataFrame:
        """Curated positives (nb02's out-of-fold focal scores) and hard negatives."""
        return write_subsets(self.cfg, self.prep, models_dir, scored, self.labelled, out)

    def finish(self, out: Path, final: int, soft_df: pd.DataFrame, counts_df: pd.DataFrame
               ) -> tuple[dict[str, Path], pd.DataFrame, pd.DataFrame | None]:
        """The top-class probability histogram of the final round's windows."""
        figure = save_figure(
            plots.confidence_histogram(soft_df["confidence"].astype(float).to_numpy(),
                                       self.cfg.threshold, title=f"round {final} teacher"),
            out / "figures" / "confidence_histogram.png")
        return {"confidence_histogram": figure}, counts_df, None
