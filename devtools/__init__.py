"""Laptop-only tooling: never imported by the notebooks, never shipped to Kaggle.

- ``pipeline``: the stage list (``Stage``, ``STAGES``: notebook scripts and their task stage)
  and the local runner of the four stages on a mirror of ``/kaggle/input``;
- ``notebooks``: pairing, syncing and running the stage notebooks (jupytext, papermill);
- ``kernels``: each stage notebook's ``kernel-metadata.json`` (slugs, GPU, internet, sources);
- ``code_dataset``: the code dataset the push uploads (the runtime ``common/`` + vendored extras);
- ``push``: the push command (code dataset, then each notebook, with the kaggle CLI);
- ``sweep``: a grid of nb02 runs ranked in a leaderboard;
- ``ablate``: the recipe with each technique switched off in turn, over seeds (uses ``sweep``);
- ``synthetic/``: one synthetic competition generator per task.

Each command keeps its documented name through a thin front door, ``python -m common.<command>``
(``common/{pipeline,kaggle_push,notebooks,sweep,ablate,synthetic,synthetic_mashup}.py``).
"""
