"""nb04's blend of the CNN ensemble with nb02's feature models (whole-clip tasks).

nb02 publishes, next to its checkpoints, ``features.csv`` (``key, <label>, fold`` and the
:data:`common.tasks.mashup.features.FEATURE_NAMES` columns of every training clip) and
``blend.json`` (``{"weights": {"cnn": w, "logreg": w, "extra_trees": w}, "oof_macro_f1":
{...}}``: weights chosen on out-of-fold predictions). Here every feature model of the blend
file is refitted on every training row (those with weight 0 too: nb04 reports each single
model's test predictions next to the blend's, :mod:`common.tasks.mashup.infer`)
(:func:`common.tasks.mashup.feature_models.fit_final_feature_models`, fixed seed), the test
clips' features are extracted in parallel, and the clip probabilities are blended with those
weights (:func:`common.tasks.mashup.feature_models.blend`) before the arg-max.

Missing files mean "CNN only" (logged, not an error). A file that is there but unusable (no
feature column, an unknown label, no weight left for a feature model) is a warning naming it,
and the submission falls back to the CNN rather than failing on Kaggle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# nb02 writes these files (common.tasks.mashup.baselines); the names are its.
from common.tasks.mashup.baselines import BLEND_JSON, CNN, FEATURES_CSV
from common.tasks.mashup.feature_models import (
    MODEL_BUILDERS,
    FeatureModels,
    blend,
    encode_labels,
    fit_final_feature_models,
    predict_feature_models,
)
from common.tasks.mashup.features import FEATURE_NAMES, extract_file_features

__all__ = ["FeatureBlend", "load_feature_blend"]

log = logging.getLogger(__name__)


@dataclass
class FeatureBlend:
    """Refitted feature models and the blend weights nb04 applies to test clips."""

    weights: dict[str, float]  # member -> weight ("cnn" + feature models), summing to 1
    models: FeatureModels  # fitted on every training row (zero-weight models too)
    oof_macro_f1: dict[str, float] = field(default_factory=dict)  # from blend.json, reported
    n_train_rows: int = 0
    dropped: list[str] = field(default_factory=list)  # members of blend.json left out, why

    @property
    def members(self) -> list[str]:
        """Blended members, in blend.json's order."""
        return list(self.weights)

    def predict(self, paths: Sequence[Path], sample_rate: int, workers: int = 1
                ) -> tuple[dict[str, np.ndarray], list[str]]:
        """Feature-model probabilities of test clips.

        Returns:
            ``({model: (clips, classes)}, failed)``: ``failed`` names the clips that did not
            decode (their features are those of silence; see ``extract_file_features``).
        """
        X, failed = extract_file_features(paths, sample_rate, workers)
        return predict_feature_models(self.models, X), failed

    def combine(self, cnn_probs: np.ndarray, feature_probs: dict[str, np.ndarray]
                ) -> np.ndarray:
        """``sum_m w_m p_m`` over the members, ``(clips, classes)`` float32 (rows sum to 1)."""
        probs = [cnn_probs if name == CNN else feature_probs[name] for name in self.weights]
        return blend(probs, list(self.weights.values())).astype(np.float32)


def _unusable(path: Path, why: str) -> tuple[None, str]:
    note = f"{path}: {why}; blending skipped, CNN only"
    log.warning(note)
    return None, note


def load_feature_blend(models_dir: str | Path, classes: Sequence[str], label_column: str,
                       seed: int = 0, n_jobs: int = 1) -> tuple[FeatureBlend | None, str]:
    """Read nb02's blend files from ``models_dir`` and refit the feature models they weight.

    Args:
        models_dir: nb02's output (the models dataset).
        classes: class labels in output order (the checkpoints' classes).
        label_column: the class-label column of ``features.csv`` (the task's, e.g. ``genre``).
        seed: random state of the refitted models (deterministic fits).
        n_jobs: threads for the tree ensemble's fit.

    Returns:
        ``(blend, note)``: ``blend`` is ``None`` when the files are absent or unusable, and
        ``note`` says which (for the report); otherwise it names the members blended.
    """
    models_dir = Path(models_dir)
    blend_path, features_path = models_dir / BLEND_JSON, models_dir / FEATURES_CSV
    if not blend_path.is_file() or not features_path.is_file():
        note = (f"no {BLEND_JSON} + {FEATURES_CSV} in {models_dir}: CNN only (nb02 writes them "
                "for whole-clip tasks)")
        log.info(note)
        return None, note
    try:
        spec = json.loads(blend_path.read_text())
        raw = {str(k): float(v) for k, v in spec["weights"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return _unusable(blend_path, f"not a blend file ({err!r})")
    unknown = [name for name, w in raw.items()
               if w > 0 and name != CNN and name not in MODEL_BUILDERS]
    if unknown:
        log.warning("%s: members %s are not feature models of common.tasks.mashup.features; "
                    "blending the others with their weights renormalised", blend_path, unknown)
    dropped = [f"{name} (weight {w:g})" for name, w in raw.items() if w <= 0]
    dropped += [f"{name} (unknown model)" for name in unknown]
    weights = {name: w for name, w in raw.items()
               if w > 0 and (name == CNN or name in MODEL_BUILDERS)}
    if not [name for name in weights if name != CNN]:
        return _unusable(blend_path, f"no feature model has a positive weight in {raw}")
    # Zero-weight members are refitted too (they add nothing to the blend): their test
    # predictions are reported as single models.
    feature_models = [name for name in raw if name != CNN and name in MODEL_BUILDERS]
    total = sum(weights.values())
    weights = {name: w / total for name, w in weights.items()}

    # Labels and keys as strings (a numeric-looking label must not become a number).
    df = pd.read_csv(features_path, dtype={label_column: str, "key": str},
                     keep_default_na=False, na_values=[""])
    missing = [c for c in (label_column, *FEATURE_NAMES) if c not in df.columns]
    if missing:
        return _unusable(features_path, f"lacks columns {missing[:5]} ({len(missing)} in all)")
    X = df[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        log.warning("%s: %d rows with non-finite features left out of the refit",
                    features_path, int((~finite).sum()))
    try:
        y = encode_labels(df[label_column].astype(str), classes)
    except ValueError as err:
        return _unusable(features_path, str(err))
    if len(np.unique(y[finite])) < 2:
        return _unusable(features_path, "fewer than two classes among its rows")
    models = fit_final_feature_models(X[finite], y[finite], classes, feature_models, seed,
                                      n_jobs)
    oof = {str(k): float(v) for k, v in dict(spec.get("oof_macro_f1") or {}).items()}
    result = FeatureBlend(weights, models, oof, int(finite.sum()), dropped)
    note = "blend of " + ", ".join(f"{n} {w:.2f}" for n, w in weights.items())
    log.info("%s (feature models refitted on %d rows of %s)", note, result.n_train_rows,
             features_path)
    return result, note

