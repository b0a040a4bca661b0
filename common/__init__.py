"""The runtime the four notebooks import (shipped to Kaggle as a code dataset).

Sub-packages by role, each with a docstring naming its modules:

- ``core``: stage configs and presets, paths, logging, process pools, metrics, dataset metadata;
- ``audio``: decoding, the float16 cache, crops, waveform and spectrogram augmentation;
- ``data``: competition tables, folds, nb01's output, window tables, loaders;
- ``model``: frontend (waveform -> spectrogram), SED model, losses, self-describing checkpoints;
- ``report``: figures, tables and configs shown alike in Jupyter and logs; experiment tracking;
- ``stages``: ``prep`` (nb01), ``train`` (nb02), ``pseudo`` (nb03), ``infer`` (nb04);
- ``tasks``: one task object per competition (a sub-package each), called by the stages;
- ``teachers``: pretrained bioacoustic classifiers (BirdNET, Perch) and their label mapping;
- ``budget``: every stage's time and output projected on Kaggle's hardware, the knobs fitted to
  the limits, the deadline from the notebook's start (``python -m common.budget``).

The top-level modules are command front doors. ``teacher`` (``python -m common.teacher``) is
runtime; ``pipeline``, ``kaggle_push``, ``rehearse``, ``notebooks``, ``sweep``, ``ablate`` and the
``synthetic*`` generators call laptop tooling in ``devtools/`` and are left out of the upload.
"""

__version__ = "0.1.0"
