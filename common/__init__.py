"""Shared code for the BirdCLEF+ 2026 notebooks.

One module, one job: ``config`` (stage configs, presets, parameters), ``paths`` (Kaggle and local
layouts), ``competition`` (reading the competition files), ``audio`` (decoding and activity),
``folds``, ``cache`` (decoded-audio cache), ``prep`` (nb01), ``synthetic`` (a fake competition to
develop against), ``frontend``, ``model``, ``losses``, ``metrics``, ``augment``, ``crops``,
``checkpoint``, ``train`` and ``validation`` (nb02), ``pseudo`` and ``pseudo_tables`` (nb03),
``infer`` (nb04), ``kaggle`` and ``pipeline`` (runs all four stages).
"""

__version__ = "0.1.0"
