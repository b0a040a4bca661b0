"""nb03 for the mashup task: pseudo labels per test clip, windows pooled per clip.

- The unlabelled audio is the competition's test clips (nb04's ``test_dir`` of the task),
  scored by nb04's engine (every 5-s window, the task's TTA views, softmax); the window
  probabilities are pooled per clip (mean, :func:`common.stages.infer.ensemble.pool_clips`, as
  nb04 does) and written for every scored clip to ``pseudo_clip_probs.csv``.
- A clip is pseudo-labelled when its top probability reaches the cut chosen on the teacher's
  OOF clips (:mod:`common.tasks.mashup.calibration`: the lowest cut at which nb02's OOF clips
  are right ``target_precision`` of the time; ``min_confidence``, the write-up's 0.95, when
  calibration is off or finds no cut); its target is the one-hot arg-max
  (``clip_targets="hard"``: at that precision a hard label is the recipe) or the pooled
  probabilities sharpened by ``target_power`` and renormalised (``"soft"``). The table
  (:data:`common.stages.pseudo.tables.CLIP_META_COLUMNS` then one column per class) has ``key``
  = the path relative to the competition folder (``test/<id>.wav``) and no ``start_seconds``,
  so nb02 crops the clip like a training clip; ``fold`` is -1 (test clips are never validated
  on: every student fold trains on them).
- The decoded clips are cached whole (the last window's padding trimmed) at the frontend's (=
  nb01's) sample rate; at the end the cache is pruned to the clips some published table uses.
- ``pseudo_labels_hard.csv`` is the one-hot arg-max view; ``pseudo_class_counts.csv`` counts
  per class the teacher's arg-max over every scored clip and the pseudo-labelled clips;
  figures: the top-probability histogram of every scored clip (the cut drawn) and the
  per-class counts.
- No curated positives or hard negatives (per-species notions of a multi-label task).
  Students are validated on held-out training clips with the task metric; ``rounds_summary.csv``
  compares teacher and students on it (``oof_macro_f1``: the CNN's out-of-fold macro F1;
  ``mean_fold_val_macro_f1``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.core.paths import find_dataset_dir
from common.core.resample import RESAMPLED_METRICS
from common.data import competition as comp
from common.report import prediction_plots as plots
from common.report.plots import save_figure
from common.stages.infer.decode import list_test_files
from common.stages.infer.ensemble import pool_clips
from common.stages.pseudo.cache import prune_cache, table_keys
from common.stages.pseudo.evidence import OofEvidence
from common.stages.pseudo.labels import PseudoAudio, PseudoLabeller
from common.stages.pseudo.tables import (
    CLIP_PROBS_NAME,
    clip_class_counts,
    clip_probs_table,
    clip_pseudo_label_table,
)
from common.tasks.mashup.calibration import Calibration, calibrated_threshold
from common.tasks.mashup.feature_models import encode_labels

if TYPE_CHECKING:
    from common.data.prep_data import PrepData
    from common.stages.pseudo.config import PseudoConfig
    from common.stages.pseudo.score import Scored

__all__ = ["ClipLabeller"]

log = logging.getLogger(__name__)


class ClipLabeller(PseudoLabeller):
    """Labels per test clip (top probability >= ``min_confidence``), hard or soft targets."""

    unit = "clip"
    trim_cache_padding = True  # a cached clip is the decoded file: nb02 crops inside it
    summary_keys = ("n_clips_scored", "n_clips", "share_kept", "min_confidence", "students")

    def __init__(self, cfg: PseudoConfig, prep: PrepData, competition_dir: Path,
                 test_dir: str) -> None:
        super().__init__(cfg, prep, competition_dir)
        self.test_dir = test_dir  # nb04's test folder: the unlabelled audio
        self.prefix = f"{test_dir.strip('/')}/"
        self.dataset_title = f"{self.cfg.task} pseudo labels (nb03)"
        self.calibration = self._calibrate()

    def _calibrate(self) -> Calibration:
        """The cut from nb02's OOF clips (``target_precision``; the task's config class adds
        it), else ``min_confidence``. Every round uses it: later teachers are students
        without OOF clips of their own."""
        cfg = self.cfg
        target = float(getattr(cfg, "target_precision", 0.0))
        models_dir = None
        if target > 0:
            try:
                models_dir = find_dataset_dir(cfg.input_root, cfg.models_slug)
            except FileNotFoundError:
                target = 0.0
        return calibrated_threshold(models_dir or Path("."), self.prep.train_df, self.classes,
                                    target, int(getattr(cfg, "min_calibration_clips", 1)),
                                    cfg.min_confidence)

    def audio(self) -> PseudoAudio:
        paths = list_test_files(self.competition_dir / self.test_dir, self.cfg.max_files)
        return PseudoAudio(self.test_dir, paths)

    def describe(self, audio: PseudoAudio) -> str:
        cfg = self.cfg
        return (f"{len(audio.paths)} {audio.audio_dir} clips to label (top probability >= "
                f"{self.calibration.threshold:.4g}, from {self.calibration.source}; "
                f"{cfg.clip_targets} targets)")

    @property
    def hard_name(self) -> str:
        """The one-hot arg-max view."""
        return "pseudo_labels_hard.csv"

    def _clips(self, scored: Scored, probs: np.ndarray) -> pd.DataFrame:
        """Every scored clip: windows pooled, top probability and label."""
        keys = [self.prefix + p.name for p in scored.paths]
        return clip_probs_table(keys, pool_clips(probs, scored.file_ids, len(keys)),
                                self.classes)

    def soft_table(self, scored: Scored, probs: np.ndarray) -> pd.DataFrame:
        cfg = self.cfg
        return clip_pseudo_label_table(
            self._clips(scored, probs), self.classes, min_confidence=self.calibration.threshold,
            targets=cfg.clip_targets, target_power=cfg.target_power, max_clips=cfg.max_windows,
            weight=cfg.pseudo_weight)

    def write_views(self, r: int, scored: Scored, soft_df: pd.DataFrame,
                    fold_rows: dict[int, int], out: Path) -> dict[str, Any]:
        cfg, classes = self.cfg, self.classes
        clips = self._clips(scored, scored.probs)
        clips.to_csv(out / f"r{r}_{CLIP_PROBS_NAME}", index=False, float_format="%.5g")
        hard = soft_df.copy()
        hard[classes] = (soft_df["label"].to_numpy()[:, None]
                         == np.array(classes, dtype=object)[None, :]).astype(np.int8)
        hard.to_csv(out / f"r{r}_{self.hard_name}", index=False, float_format="%.5g")
        counts = clip_class_counts(clips, soft_df, classes)
        counts.to_csv(out / f"r{r}_pseudo_class_counts.csv", index=False)
        summary = {
            "audio_dir": self.prefix.rstrip("/"), "n_files": len(scored.paths),
            "n_failed_files": len(scored.failed),
            "n_clips_scored": int(len(clips)), "n_clips": int(len(soft_df)),
            "share_kept": round(len(soft_df) / len(clips), 4) if len(clips) else None,
            "min_confidence": round(self.calibration.threshold, 6),
            **self.calibration.to_dict(), "clip_targets": cfg.clip_targets,
            "target_power": cfg.target_power,
            "mean_confidence": float(soft_df["confidence"].mean()) if len(soft_df) else None,
            "mean_confidence_scored": float(clips["confidence"].mean()) if len(clips) else None,
            "pseudo_labels_per_class": dict(zip(counts["primary_label"],
                                                counts["n_clips"].astype(int).tolist())),
            "n_clips_per_fold_table": {str(k): v for k, v in sorted(fold_rows.items())},
        }
        log.info("round %d pseudo labels: %d of %d clips with a top probability >= %.4g (%s)",
                 r, len(soft_df), len(clips), self.calibration.threshold,
                 ", ".join(f"{c} {v}" for c, v in summary["pseudo_labels_per_class"].items()))
        return summary

    def round_scores(self, report: dict[str, Any]) -> dict[str, Any]:
        """``oof_<metric>`` (the CNN's: nb02's report also scores its feature models and
        blend) and ``mean_fold_val_<metric>``, the score that chose each fold's epoch."""
        metric = self.cfg.task_spec.metric
        oof = report.get(f"oof_{metric}")
        return {f"oof_{metric}": oof.get("cnn") if isinstance(oof, dict) else oof,
                f"mean_fold_val_{metric}": report.get(f"mean_fold_val_{metric}")}

    def oof_evidence(self, run_dir: Path) -> OofEvidence | None:
        """The CNN's ``oof_clips.csv``, resampled by clip, scored by the task metric (None
        when the metric has no resampled version). Clips mixed from the same songs are
        correlated, so the spread is a lower bound."""
        metric = RESAMPLED_METRICS.get(self.cfg.task_spec.metric)
        path = run_dir / "oof_clips.csv"
        if metric is None or not path.is_file():
            return None
        oof_df = pd.read_csv(path, dtype={"row_id": str, "key": str})
        if oof_df.empty:
            return None
        oof_df.columns = [str(c) for c in oof_df.columns]
        labels = self.prep.train_df.set_index(self.prep.train_df["filename"].astype(str))[
            "primary_label"].astype(str)
        known = oof_df["key"].isin(labels.index)
        if not known.all():
            raise ValueError(f"{path}: {int((~known).sum())} clips are not in nb01's "
                             f"train_folds.csv, e.g. {oof_df['key'][~known].iloc[0]!r}: was it "
                             "made from another prep dataset?")
        truth = np.eye(len(self.classes))[encode_labels(labels.loc[oof_df["key"]],
                                                        self.classes)]
        keys = oof_df["key"].to_numpy()
        return OofEvidence(ids=keys, groups=keys, truth=truth,
                           probs=oof_df[self.classes].to_numpy(dtype=float), metric=metric,
                           unit="clip")

    def finish(self, out: Path, final: int, soft_df: pd.DataFrame, counts_df: pd.DataFrame
               ) -> tuple[dict[str, Path], pd.DataFrame, pd.DataFrame | None]:
        """Every scored clip, both figures, and the cache pruned to the published tables."""
        cfg, classes = self.cfg, self.classes
        clips_df = comp.read_csv_str(out / CLIP_PROBS_NAME)
        clips_df[[*classes, "confidence"]] = clips_df[[*classes, "confidence"]].astype(float)
        counts_df[["n_scored", "n_clips"]] = counts_df[["n_scored", "n_clips"]].astype(int)
        figures = {
            "confidence_histogram": save_figure(
                plots.confidence_histogram(clips_df["confidence"].to_numpy(),
                                           self.calibration.threshold,
                                           title=f"round {final} teacher", unit="clip"),
                out / "figures" / "confidence_histogram.png"),
            "pseudo_labels_per_class": save_figure(
                plots.pseudo_clip_counts(counts_df, self.calibration.threshold,
                                         title=f"(round {final})"),
                out / "figures" / "pseudo_labels_per_class.png"),
        }
        if cfg.cache_audio:
            prune_cache(out / "cache", table_keys(out))
        return figures, counts_df, clips_df
