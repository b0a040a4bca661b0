"""Messy mashup: the music genre of 30-s mashups of stems from different songs, over noise.

Single-label (softmax outputs, cross-entropy), one answer per test clip (``id, genre``), scored
by macro F1. Training data are songs as four stems plus noise clips; the lesson that won the
competition is to simulate the test domain, so nb01 renders training mashups the way the test
clips were made. A feature-model baseline (MFCC/chroma/spectral statistics with logistic
regression and extra trees) is blended with the CNN.

- ``task``: :class:`MashupTask` and ``TASK``, the registered instance; ``GENRES``;
- ``render``: the mashup generator (stems, tempo sync, gains, noise at an SNR);
- ``prep``: nb01 for this task (song folds, training mashups, the cache), with
  ``prep_songs`` (reading the songs, making the mashups, resumably) and ``prep_config``
  (:class:`MashupPrepConfig`, nb01's config with the mashup fields);
- ``features``, ``baselines``, ``feature_blend``: the feature models, their out-of-fold report
  and blend (nb02), and the blend refitted at inference (nb04);
- ``train``, ``train_config``: nb02's hooks (whole-clip validation, the clip OOF summary with
  the feature baseline) and :class:`MashupTrainConfig` (the baseline's fields).
"""

from common.tasks.mashup.facts import GENRES
from common.tasks.mashup.task import MashupTask

TASK = MashupTask()

__all__ = ["GENRES", "TASK", "MashupTask"]
