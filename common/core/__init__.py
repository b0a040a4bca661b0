"""The mechanisms every stage shares, none of them about audio.

- ``config``: frozen stage configs, presets, task defaults, ``--help`` and flag parsing;
- ``paths``: where the competition and each dataset are, on Kaggle and in a local mirror;
- ``runtime``: logging, CPU counts, seeding;
- ``parallel``: process pools that behave in notebooks and scripts alike;
- ``metrics``: the competition metrics (macro ROC-AUC, macro F1) and their array forms;
- ``resample``: those metrics under many bootstrap row weightings at once (resampled groups);
- ``kaggle``: ``dataset-metadata.json`` for a stage's output, slug checks, the Kaggle user;
- ``gpu``: the fail-fast check that this torch build can run the session's GPU.
"""
