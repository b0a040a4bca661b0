"""nb04 for the mashup task: windows pooled per clip, the feature blend, one genre per clip.

:class:`ClipRows` is the task's :class:`common.stages.infer.rows.SubmissionRows`: before the
models run it refits nb02's feature models and extracts the test clips' features
(:mod:`common.tasks.mashup.feature_blend`); afterwards it averages each clip's window
probabilities (:func:`common.stages.infer.ensemble.pool_clips`, the rule nb02's validation
used), blends, and writes the arg-max genre per clip (:func:`build_clip_submission`: the
sample submission's ids first, ids = file stems) and ``clip_probs.csv`` (``id`` + the final
probability of each genre). Each single model (the CNN ensemble and every feature model of the
blend file, weight 0 included) also gets its own submission in
:data:`common.stages.infer.rows.MEMBER_SUBMISSIONS` (scored like the blend by the pipeline
runner), and ``model_scores.csv`` puts each one's blend weight and OOF macro F1 (nb02's) next
to the blend's, with its test agreement with the submission. Figures: clips per predicted genre
and the top-probability histogram; the report adds the predicted counts and the blend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.core.paths import find_dataset_dir
from common.core.runtime import resolve_workers
from common.report import prediction_plots as plots
from common.report.plots import save_figure
from common.stages.infer.ensemble import pool_clips
from common.stages.infer.rows import MEMBER_SUBMISSIONS, SubmissionRows
from common.tasks.mashup.feature_blend import FeatureBlend, load_feature_blend

if TYPE_CHECKING:
    from common.stages.infer.predictor import Predictions
    from common.tasks.mashup.infer_config import MashupInferConfig
    from common.tasks.mashup.task import MashupTask

__all__ = ["CLIP_PROBS_CSV", "MODEL_SCORES_CSV", "ClipRows", "build_clip_submission",
           "clip_table"]

log = logging.getLogger(__name__)

CLIP_PROBS_CSV = "clip_probs.csv"  # every clip's final probabilities, in the submission's order
MODEL_SCORES_CSV = "model_scores.csv"  # each single model next to the blend (see the module doc)


def build_clip_submission(task: MashupTask, ids: Sequence[str], clip_probs: np.ndarray,
                          classes: Sequence[str], sample_df: pd.DataFrame, prior: np.ndarray
                          ) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The submission of a whole-clip task (:meth:`common.tasks.base.Task.format_submission`).

    Args:
        ids: ``(clips,)`` clip ids (file stems); a repeated id keeps its later row (warned).
        clip_probs: ``(clips, classes)`` final probabilities, no NaN.
        sample_df: the sample submission: its ids come first, in its order; an id it lists
            with no clip gets ``prior`` (warned); clips it does not list follow (warned).
        prior: ``(classes,)`` probabilities for sample ids without a clip.

    Returns:
        ``(submission_df, probs, ids)``: probabilities and ids in the submission's row order.
    """
    ids = [str(i) for i in ids]
    clip_probs = np.asarray(clip_probs, dtype=np.float32).reshape(len(ids), len(classes))
    if len(set(ids)) != len(ids):
        log.warning("test files with the same stem share a clip id; the later file wins")
        keep = sorted({clip_id: k for k, clip_id in enumerate(ids)}.values())
        ids, clip_probs = [ids[k] for k in keep], clip_probs[keep]
    sample_ids = [str(i) for i in sample_df[task.id_column]]
    have = set(ids)
    missing = [i for i in sample_ids if i not in have]
    if missing:
        log.warning("%d sample submission ids have no test file (e.g. %s): they get the class "
                    "prior", len(missing), missing[0])
    extra = sorted(have - set(sample_ids))
    if extra and sample_ids:
        log.warning("%d test files are not in the sample submission (e.g. %s): written after "
                    "its rows", len(extra), extra[0])
    ids = ids + missing
    prior = np.asarray(prior, dtype=np.float32).reshape(1, len(classes))
    clip_probs = np.concatenate([clip_probs, np.repeat(prior, len(missing), axis=0)])
    submission_df = task.format_submission(ids, clip_probs, classes, sample_df)
    position = {clip_id: k for k, clip_id in enumerate(ids)}
    order = [position[i] for i in submission_df[task.id_column]]
    return submission_df, clip_probs[order], [ids[k] for k in order]


def clip_table(ids: list[str], probs: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """``id`` + one probability column per class: ``clip_probs.csv``."""
    table = pd.DataFrame(np.asarray(probs, np.float32), columns=pd.Index(classes, dtype=object))
    table.insert(0, "id", pd.Series(ids, dtype=object))
    return table


class ClipRows(SubmissionRows):
    """Pool windows per clip, blend with the feature models, one genre per clip."""

    cfg: MashupInferConfig

    def __init__(self, task: MashupTask, cfg: MashupInferConfig, classes: Sequence[str]
                 ) -> None:
        super().__init__(cfg, classes)
        self.task = task
        self.blend: FeatureBlend | None = None
        self.feature_probs: dict[str, np.ndarray] = {}
        self.blend_info: dict[str, Any] = {}
        self.submission_df = pd.DataFrame()
        self.clip_probs = np.zeros((0, len(self.classes)), np.float32)
        self.models_df = pd.DataFrame()

    def prepare(self, paths: list[Path]) -> None:
        """Refit the feature models and extract the test clips' features (when asked for and
        nb02 published them)."""
        cfg, task = self.cfg, self.task
        if cfg.feature_blend and paths:
            workers = resolve_workers(cfg.feature_workers)
            self.blend, note = load_feature_blend(
                find_dataset_dir(cfg.input_root, cfg.models_slug), self.classes,
                task.label_column, cfg.feature_seed, n_jobs=workers)
            self.blend_info["note"] = note
            if self.blend is not None:
                self.feature_probs, failed = self.blend.predict(paths, task.sample_rate, workers)
                self.blend_info["failed_feature_files"] = failed
        else:
            self.blend_info["note"] = ("feature_blend is off" if not cfg.feature_blend
                                       else "no test audio")

    def build(self, predictions: Predictions | None, probs: np.ndarray,
              sample_df: pd.DataFrame, out: Path) -> pd.DataFrame:
        """Pool, blend, one row per clip; writes ``clip_probs.csv``.

        Clips no model reached (undecodable, or past the deadline) take the mean of the other
        clips (a class prior) before the blend, so the feature models still speak for them;
        sample ids without a test file take that prior too.
        """
        classes = self.classes
        if predictions is not None:
            ids = [p.stem for p in predictions.paths]
            clip_probs = pool_clips(probs, predictions.file_ids, len(ids))
        else:
            ids, clip_probs = [], np.zeros((0, len(classes)), np.float32)
        seen = ~np.isnan(clip_probs).any(axis=1)
        prior = (clip_probs[seen].mean(axis=0) if seen.any()
                 else np.full(len(classes), self.cfg.fallback_probability, np.float32))
        clip_probs = np.where(seen[:, None], clip_probs, prior[None, :]).astype(np.float32)
        members = {"cnn": clip_probs}
        if self.blend is not None:
            members.update(self.feature_probs)
            cnn_labels = clip_probs.argmax(axis=1)
            clip_probs = self.blend.combine(clip_probs, self.feature_probs)
            self.blend_info["labels_changed"] = int(
                (clip_probs.argmax(axis=1) != cnn_labels).sum())
        submission_df, clip_probs, clip_ids = build_clip_submission(
            self.task, ids, clip_probs, classes, sample_df, prior)
        clip_table(clip_ids, clip_probs, classes).to_csv(out / CLIP_PROBS_CSV, index=False,
                                                         float_format="%.6g")
        self.submission_df, self.clip_probs = submission_df, clip_probs
        self.models_df = self._member_submissions(ids, members, sample_df, prior, out)
        return submission_df

    def _member_submissions(self, ids: list[str], members: dict[str, np.ndarray],
                            sample_df: pd.DataFrame, prior: np.ndarray, out: Path
                            ) -> pd.DataFrame:
        """Each single model's submission (``MEMBER_SUBMISSIONS/<name>.csv``) and the table of
        models: blend weight, nb02's OOF macro F1, share of test clips labelled like the
        submission (``model_scores.csv``; the blend's row last)."""
        folder = out / MEMBER_SUBMISSIONS
        folder.mkdir(parents=True, exist_ok=True)
        blend = self.blend
        weights = blend.weights if blend else {"cnn": 1.0}
        oof = blend.oof_macro_f1 if blend else {}
        label = self.task.label_column
        final = self.submission_df.set_index(self.task.id_column)[label]
        rows = []
        for name, probs in members.items():
            member_df, _, _ = build_clip_submission(self.task, ids, probs, self.classes,
                                                    sample_df, prior)
            member_df.to_csv(folder / f"{name}.csv", index=False)
            same = member_df.set_index(self.task.id_column)[label].reindex(final.index) == final
            rows.append({"model": name, "blend_weight": round(float(weights.get(name, 0.0)), 4),
                         "oof_macro_f1": oof.get(name), "test_agreement": float(same.mean())
                         if len(final) else None})
        rows.append({"model": "blend" if blend else "submission", "blend_weight": 1.0,
                     "oof_macro_f1": oof.get("blend"), "test_agreement": 1.0})
        table = pd.DataFrame(rows)
        table.to_csv(out / MODEL_SCORES_CSV, index=False)
        return table

    def figures(self, out: Path) -> dict[str, Path]:
        """Predicted class counts and the top-probability histogram of the clips."""
        labels = self.submission_df[self.task.label_column].astype(str).tolist()
        top = self.clip_probs.max(axis=1) if len(self.clip_probs) else np.zeros(0)
        fig = plots.clip_predictions(labels, top, self.classes, title=f"nb04 {self.task.name}")
        return {"clip_predictions": save_figure(fig, out / "figures" / "clip_predictions.png")}

    def tables(self) -> dict[str, pd.DataFrame]:
        """Each single model next to the blend (``model_scores.csv``)."""
        return {"Single models and the blend (OOF macro F1 from nb02)": self.models_df}

    def report(self) -> dict[str, Any]:
        """Clips, predicted counts per class and the blend (members, weights, what changed)."""
        blend = self.blend
        counts = self.submission_df[self.task.label_column].astype(str).value_counts()
        return {
            "n_clips": int(len(self.submission_df)),
            "predicted_counts": {c: int(counts.get(c, 0)) for c in self.classes},
            "feature_blend": {
                "members": blend.members if blend else ["cnn"],
                "weights": blend.weights if blend else {"cnn": 1.0},
                "dropped": blend.dropped if blend else [],
                "n_train_rows": blend.n_train_rows if blend else 0,
                "oof_macro_f1": blend.oof_macro_f1 if blend else {},
                **self.blend_info,
            },
        }
