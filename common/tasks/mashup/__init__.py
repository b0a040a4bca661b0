"""Messy mashup: the music genre of 30-s mashups of stems from different songs, over noise.

Single-label (softmax outputs, cross-entropy), one answer per test clip (``id, genre``), scored
by macro F1. Training data are songs as four stems plus noise clips; the lesson that won the
competition is to simulate the test domain, so nb01 renders training mashups the way the test
clips were made. A feature-model baseline (MFCC/chroma/spectral statistics with logistic
regression and extra trees) is blended with the CNN.

- ``task``: :class:`MashupTask` and ``TASK``, the registered instance; ``facts``: the test
  clips' sample rate, length and the genres, stated once; ``notes``: what each notebook does here;
- mashup generation: ``recipe`` (:class:`MashupConfig`, the records), ``stems`` (songs, folds,
  tempo, audio checks), ``render`` (one mashup), ``generation`` (many, in parallel, resumable);
- nb01: ``prep`` (song folds, training mashups, the cache), ``prep_songs`` (reading the songs,
  making the mashups), ``prep_config`` (:class:`MashupPrepConfig`), ``plots`` (its figures);
- nb02: ``train`` (whole-clip validation, the clip OOF summary), ``train_config``
  (:class:`MashupTrainConfig`: the baseline's fields), ``features`` (194 clip statistics),
  ``feature_models`` (logistic regression, extra trees, OOF, blend weights), ``baselines`` (their
  out-of-fold report and the blend);
- nb03: ``pseudo`` (:class:`ClipLabeller`: confident test clips become one-hot labels),
  ``pseudo_config`` (:class:`MashupPseudoConfig`: the target precision), ``calibration`` (the
  confidence cut read from nb02's OOF clips);
- nb04: ``infer`` (:class:`ClipRows`: windows pooled per clip, the blend, one genre per clip),
  ``infer_config`` (:class:`MashupInferConfig`), ``feature_blend`` (the blend refitted).
"""

from common.tasks.mashup.facts import GENRES
from common.tasks.mashup.task import MashupTask

TASK = MashupTask()

__all__ = ["GENRES", "TASK", "MashupTask"]
