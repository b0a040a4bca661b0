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
# # BirdCLEF+ 2026 · nb02 · K-fold training
#
# **Inputs:** the competition data (`birdclef-2026`) and nb01's output (`birdclef-2026-prep`:
# folds, species list, decoded audio cache). Optionally local timm weights
# (`--model.pretrained-path`, never downloaded) and extra windows tables (nb03 pseudo labels).
# **Outputs** (this notebook's working dir, published as the `models` dataset): one
# self-describing checkpoint per fold, `<backbone>_fold<k>_best.pt` (best validation epoch) and
# `_last.pt`, the training log, out-of-fold predictions, per-class AUC, learning curves, the
# resolved config and a `dataset-metadata.json` for `kaggle datasets create -p`.
#
# Runs three ways with the same parameters: on Kaggle top to bottom, locally as
# `python nb02_training.py --input-root DIR --working-dir DIR [--preset smoke|cpu]` (see
# `--help`), or as an executed notebook with the `parameters` cell overridden.
#
# Long runs: `--folds 0,1` trains a subset, so 5 folds can be split across Kaggle sessions; a
# session that stops (12-hour limit) resumes from its last epoch when run again with the
# previous output attached as the working dir.
#
# With `TASK = "messy-mashup"` the same notebook trains the music-genre competition from
# `messy-mashup-prep` (published as `messy-mashup-models`): softmax and cross-entropy on random
# 5-s crops of the training mashups over real noise, validation on every 5-s window of the
# held-out mashups pooled per clip, macro F1 choosing the epoch; then the feature baseline
# (194 summary statistics per clip, logistic regression and extra trees) on the same folds and
# the OOF blend of the three, with confusion matrices. Checkpoints keep the same names.

# %% [markdown]
# On Kaggle, `common` comes from an attached code dataset; locally it sits next to this file.

# %%
import sys
from pathlib import Path

sys.path[:0] = [
    str(p.parents[1])
    for pattern in ("*/common/__init__.py", "datasets/*/*/common/__init__.py")
    for p in Path("/kaggle/input").glob(pattern)
]

from common.core.config import resolve_config  # noqa: E402
from common.core.runtime import setup_logging  # noqa: E402
from common.report.show import show_figures, show_table  # noqa: E402
from common.stages.train.config import TrainConfig  # noqa: E402
from common.stages.train.run import run_training  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: a small real model
# on a laptop; `default`: the Kaggle recipe, tf_efficientnet_b0, 5 folds x 30 epochs, fp16).
# `OVERRIDES` changes any field of `TrainConfig` (nested ones with dots, e.g.
# `{"model.backbone": "eca_nfnet_l0", "folds": (0, 1)}`); command-line flags win over both.

# %% tags=["parameters"]
PRESET = "default"
TASK = "birdclef-2026"  # or "messy-mashup" (common.tasks.base)
INPUT_ROOT = "/kaggle/input"
WORKING_DIR = "/kaggle/working"
OVERRIDES = {}

# %%
cfg = resolve_config(
    TrainConfig, PRESET, {"input_root": INPUT_ROOT, "working_dir": WORKING_DIR, **OVERRIDES},
    task=TASK, description="nb02: train K-fold SED models on focal clips and soundscape windows.",
)
setup_logging(Path(cfg.working_dir) / "nb02.log")
print(cfg)

# %% [markdown]
# ## Train every requested fold
# Each fold trains on focal clips and labelled soundscape windows of the other folds, with
# waveform augmentation (in-batch soundscape simulation over real background, coloured noise,
# gain, roll) and SpecAugment on the GPU, AdamW with layer-wise LR decay, a cosine schedule and
# an EMA of the weights. Every epoch is scored on the fold's held-out soundscapes with the
# competition metric, which picks the best epoch. With several GPUs the folds train in
# parallel, one process per GPU. Mashup task: the other folds' mashups (no simulation: it would
# mix genres), scored per held-out clip; the feature baseline and the blend follow the folds.

# %%
result = run_training(cfg)

# %% [markdown]
# ## Per fold
# Best epoch and its validation scores; the `selection` column says which metric chose it
# (BirdCLEF: the focal-clip AUC only for a fold without labelled soundscapes; mashup task: the
# per-clip macro F1).

# %%
show_table(result.fold_summary_df)

# %% [markdown]
# ## Training log (one row per fold and epoch)

# %%
show_table(result.log_df)

# %% [markdown]
# ## Models compared out of fold
# The out-of-fold score of every model on the same clips. BirdCLEF: the CNN's macro ROC-AUC on
# the held-out soundscape windows. Mashup task: macro F1 and accuracy of the CNN, the feature
# models and their blend (weights chosen on these predictions, in `blend.json`).

# %%
show_table(result.model_scores_df)

# %% [markdown]
# ## Figures
# Learning curves per fold; BirdCLEF: the out-of-fold AUC of every species on soundscape
# windows and on focal clips (species without a validation positive are left out); mashup
# task: per-genre F1 of every model and a confusion matrix per model (rows: true genre).

# %%
show_figures(result.figures.values())

# %% [markdown]
# ## Weakest classes (out of fold)
# Sorted by the soundscape AUC (BirdCLEF) or the CNN's F1 (mashup task), worst first.

# %%
show_table(result.weakest_classes_df.head(15))

# %% [markdown]
# ## Summary

# %%
for key, value in result.report.items():
    print(f"{key:28s} {value}")
print(f"outputs in {result.output_dir}")
