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
# # nb02 · K-fold training
#
# **Inputs:** the competition folder and nb01's output (`<competition>-prep`: folds, class
# list, decoded audio cache); optionally extra windows tables (nb03's pseudo labels and named
# subsets, `--extra-windows`).
# **Outputs** (this notebook's working dir, published as the `<competition>-models` dataset):
# one self-describing checkpoint per fold, `<backbone>_fold<k>_best.pt` (the epoch the
# checkpoint rule kept) and `_last.pt`, the training log, out-of-fold predictions and scores,
# figures, the resolved config, the tracked run (`tracking/`) and a `dataset-metadata.json`.
#
# Runs three ways with the same parameters: on Kaggle top to bottom (GPU), locally as
# `python nb02_training.py --input-root DIR --working-dir DIR [--preset smoke|cpu]` (see
# `--help`), or as an executed notebook with the `parameters` cell overridden.
#
# Long runs: `--folds 0,1` trains a subset, so 5 folds can be split across Kaggle sessions; a
# session that stops (12-hour limit) resumes from its last epoch when run again with its
# previous output attached (Kaggle) or with the same working dir (locally).

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
from common.stages.restore import restore_previous_output  # noqa: E402
from common.stages.start import start_stage  # noqa: E402
from common.stages.train.config import TrainConfig  # noqa: E402
from common.stages.train.run import run_training  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: a small real model
# on a laptop; `default`: the Kaggle recipe, tf_efficientnet_b0, 5 folds x 30 epochs, fp16),
# `TASK` the competition. `OVERRIDES` changes any field of the stage config (nested ones with
# dots, e.g. `{"model.backbone": "eca_nfnet_l0", "folds": (0, 1)}`; a unique last part works
# alone, e.g. `"epochs"`); command-line flags win over both. `--tracker wandb` also logs the run
# to Weights & Biases (offline by default). `{"teacher": "birdnet"}` adds a distillation term
# toward a pretrained teacher on the soundscape windows (`teacher_weight`, 0.3).

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
    TrainConfig, "nb02", PRESET, TASK, INPUT_ROOT, WORKING_DIR, OVERRIDES,
    description="nb02: train K-fold models on nb01's folds.",
)

# %% [markdown]
# ## Continue an earlier session
# A new Kaggle session starts with an empty working dir; when this notebook's previous output
# is attached (`python -m common.kaggle_push --resume`), its finished folds and resume states
# are copied back, so finished folds are skipped and a cut fold resumes from its last epoch.

# %%
restored = restore_previous_output(cfg.input_root, cfg.dataset_slug, cfg.output_dir)

# %% [markdown]
# ## Train every requested fold
# Each fold trains on the other folds' rows with waveform augmentation and SpecAugment on the
# GPU, AdamW with layer-wise LR decay, warm-up and a cosine schedule and an EMA of the weights,
# and is scored every epoch on its held-out rows with the task's metric. With several GPUs the
# folds train in parallel, one process per GPU.

# %%
result = run_training(cfg)

# %% [markdown]
# ## Per fold
# The epoch each fold kept and its validation scores; `checkpoint_rule` says which rule kept it
# (`best` epoch, or `last` when the fold had too few validation rows to choose by).

# %%
show_table(result.fold_summary_df)

# %% [markdown]
# ## Training log (one row per fold and epoch)

# %%
show_table(result.log_df)

# %% [markdown]
# ## Models compared out of fold
# The out-of-fold score of every model the task trains on the same rows (the CNN, and any
# baseline and blend; BirdCLEF: a log-mel logistic regression, the floor the CNN must clear).

# %%
show_table(result.model_scores_df, title="Out-of-fold scores per model")

# %% [markdown]
# ## Figures
# Learning curves per fold and the out-of-fold score of every class.

# %%
show_figures(result.figures.values())

# %% [markdown]
# ## Weakest classes (out of fold)
# Worst first, by the task's main per-class score.

# %%
show_table(result.weakest_classes_df.head(15))

# %% [markdown]
# ## Summary
# nb02 trained the requested folds from nb01's cache and saved one checkpoint per fold with its
# classes, frontend and config inside, so nb03 and nb04 rebuild each model from the file alone.

# %%
show_report(result.report, result.output_dir)
