"""BirdCLEF+ 2026: which of 234 species call in each 5-s window of 60-s field soundscapes.

Multi-label (sigmoid outputs, ASL/BCE/focal losses), scored by macro ROC-AUC over the species
with a positive; the submission has a ``row_id`` (``<file>_<end second>``) per 5-s window and
one probability column per species, in the sample submission's column order. The species are
the sample submission's columns (several are numeric iNaturalist ids: strings everywhere).

- ``task``: :class:`BirdclefTask` and ``TASK``, the registered instance; ``notes``: what each
  notebook does for this competition;
- ``prep``: nb01 (clips and soundscapes cleaned, cached and folded);
- ``train``: nb02 (a fold's windows, window validation, the soundscape OOF summary);
- ``reference``: nb02's log-mel logistic-regression reference, scored on the same folds;
- ``pseudo``: nb03 (:class:`WindowLabeller`: soft labels per window of unlabelled soundscapes);
- ``infer``: nb04 (:class:`WindowRows`: a row per 5-s window, smoothing, sharpening);
- ``budget``: the budget planner's measure of a competition folder (``kaggle_facts.json``: the
  real competition's published sizes, with sources).
"""

from common.tasks.birdclef.task import BirdclefTask

TASK = BirdclefTask()

__all__ = ["TASK", "BirdclefTask"]
