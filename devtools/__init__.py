"""Laptop-only tooling: never imported by the notebooks, never shipped to Kaggle.

- ``pipeline``: the stage list (``Stage``, ``STAGES``: notebook scripts and their task stage)
  and the local runner of the four stages on a mirror of ``/kaggle/input``;
- ``notebooks``: pairing, syncing and running the stage notebooks (jupytext, papermill);
- ``kernels``: each stage notebook's ``kernel-metadata.json`` (slugs, GPU, internet, sources);
- ``code_dataset``: the code dataset the push uploads (the runtime ``common/`` + vendored extras);
- ``wheels``: the inference backends' wheels for Kaggle's offline nb04 (``--wheels``);
- ``push``: the push command (code dataset, then each notebook, with the kaggle CLI);
- ``rehearse``: the Kaggle rehearsal (the push's files run in a Kaggle-shaped tree, offline
  where Kaggle is), with ``kaggle_tree`` (``/kaggle/input`` laid out from kernel metadata, the
  code dataset unpacked as Kaggle serves it), ``rehearse_kernel`` (one notebook in its own
  process, optionally without network), ``rehearse_probe`` (what the kernel saw) and
  ``rehearse_checks`` (Kaggle's limits, the kernels' records judged, the report);
- ``sweep``: a grid of nb02 runs ranked in a leaderboard;
- ``ablate``: the recipe with each technique switched off in turn, over seeds (uses ``sweep``);
- ``synthetic/``: one synthetic competition generator per task.

Each command keeps its documented name through a thin front door, ``python -m common.<command>``
(``common/{pipeline,kaggle_push,rehearse,notebooks,sweep,ablate,synthetic,
synthetic_mashup}.py``).
"""
