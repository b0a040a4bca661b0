# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # nb04 · Inference (CPU, offline)
#
# **Inputs:** the competition folder, nb02's checkpoints (`<competition>-models`: every file
# matching `checkpoint_glob`, default `*_best.pt`) and, when attached, nb03's students
# (`<competition>-pseudo`).
# **Outputs** (working dir): `submission.csv` in the sample submission's column and row order,
# `infer_timings.csv` (one row per batch), `infer_report.json` (speed per model, budget
# decisions, the task's extras), `infer_config.json` and figures.
#
# Kaggle scores this notebook on 4 CPU cores with a hard 90-minute limit and no internet: the
# models are rebuilt from their checkpoints alone, and the run measures its own speed and keeps
# inside its time budget, always writing a submission.
#
# Runs three ways with the same parameters: on Kaggle top to bottom, locally as
# `python nb04_inference.py --input-root DIR --working-dir DIR [--preset smoke]` (see `--help`),
# or as an executed notebook with the `parameters` cell overridden.

# %% [markdown]
# On Kaggle, `common` comes from an attached code dataset; locally it sits next to this file.

# %%
import os
import sys
from pathlib import Path

# KAGGLE_INPUT_ROOT is unset on Kaggle; `python -m common.rehearse` sets it to its own tree.
sys.path[:0] = [
    str(p.parents[1])
    for pattern in ("*/common/__init__.py", "datasets/*/*/common/__init__.py")
    for p in Path(os.environ.get("KAGGLE_INPUT_ROOT", "/kaggle/input")).glob(pattern)
]

from common.report.show import show_figures, show_report, show_table  # noqa: E402
from common.stages.infer.config import InferConfig  # noqa: E402
from common.stages.infer.run import run_inference  # noqa: E402
from common.stages.start import start_stage  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: a laptop run with
# two TTA views; `default`: the Kaggle recipe, all the task's TTA views, mean of logits,
# 75-minute budget), `TASK` the competition and its defaults (slugs, test folder, TTA views).
# `OVERRIDES` changes any field of the stage config (e.g. `{"checkpoint_glob": "*_last.pt",
# "combine": "rank_mean"}`); command-line flags win over all three. `{"teacher": "birdnet"}`
# rank-blends a pretrained teacher (`teacher_weight`, 0.2) when its measured cost fits what the
# ensemble left of the budget.

# %% tags=["parameters"]
PRESET = "default"
TASK = "birdclef-2026"  # or "messy-mashup" (common.tasks)
INPUT_ROOT = "/kaggle/input"
WORKING_DIR = "/kaggle/working"
OVERRIDES = {}

# %% [markdown]
# The resolved configuration (only what differs from the defaults, and what set it), the log
# started in the working dir, and what this notebook does for the chosen competition.

# %%
cfg = start_stage(
    InferConfig, "nb04", PRESET, TASK, INPUT_ROOT, WORKING_DIR, OVERRIDES,
    description="nb04: ensemble inference on the test audio, CPU only.",
)

# %% [markdown]
# ## Predict every window
# Each file is decoded once (a thread decodes ahead of the models) and cut into 5-s windows;
# windows are batched across files; the spectrogram is computed once per batch and TTA view
# and shared by every model with the same frontend; views that per-window normalisation cancels
# are folded into the original instead of costing a pass. After the first files the run
# projects its own duration and, if the ensemble would not fit the time budget, drops TTA views
# and then the most expensive models (each decision is logged). Windows not reached before the
# deadline get the mean prediction, never NaN. The task turns the window probabilities into
# submission rows. The models run where `backend` says (`torch`; `onnxruntime`, `openvino`, or
# `auto`, the fastest on the first batch: each model is exported once, checked against PyTorch
# and installed offline from the code dataset's `wheels/` when the image lacks it, else torch).

# %%
result = run_inference(cfg)

# %% [markdown]
# ## The submission

# %%
show_table(result.submission_df.head(), title=f"submission.csv: {result.submission_df.shape}")
for title, table in result.tables.items():  # the task's own tables (e.g. single models vs blend)
    show_table(table, title=title)

# %% [markdown]
# ## Speed and budget decisions

# %%
show_table(result.timings_df.describe(), title="Per batch")
for event in result.report.get("budget_events", []):
    print(event)

# %% [markdown]
# ## Figures

# %%
show_figures(result.figures.values())

# %% [markdown]
# ## Summary
# nb04 rebuilt every model from its checkpoint, predicted the test audio within its time budget
# and wrote `submission.csv` in the sample submission's order; Kaggle scores that file.

# %%
show_report(result.report, result.output_dir)
