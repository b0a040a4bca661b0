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
# # nb01 · Data prep: clean, measure, fold, cache
#
# **Inputs:** the competition folder (`/kaggle/input/<competition>`).
# **Outputs** (this notebook's working dir, published as the `<competition>-prep` dataset): the
# training table with folds (`train_folds.csv`), labelled windows with folds
# (`soundscape_labels_folds.csv`), the class list in submission order (`species.csv`), rare
# classes, every excluded file with its reason (`bad_files.csv`), a float16 audio cache
# (`cache/`), figures and a `dataset-metadata.json` for `kaggle datasets create -p`.
#
# Runs three ways with the same parameters: on Kaggle top to bottom, locally as
# `python nb01_data_prep.py --input-root DIR --working-dir DIR [--preset smoke] [--task NAME]`
# (see `--help`), or as an executed notebook with the `parameters` cell overridden. `TASK` picks
# the competition; what this notebook does for it is shown under the parameters.

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
from common.stages.prep.config import PrepConfig  # noqa: E402
from common.stages.prep.run import run_prep  # noqa: E402
from common.stages.start import start_stage  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: a laptop run;
# `default`: the Kaggle recipe), `TASK` the competition (its defaults apply first).
# `OVERRIDES` changes any field of the stage config; command-line flags win over both.

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
    PrepConfig, "nb01", PRESET, TASK, INPUT_ROOT, WORKING_DIR, OVERRIDES,
    description="nb01: clean the metadata, decode and cache audio, make folds.",
)

# %% [markdown]
# ## Clean, measure, cache and fold
# The inputs are checked before anything is written. Every file is decoded once, in parallel;
# unreadable, empty, too short or silent files are listed with the reason and left out, never
# silently dropped. The cache's projected size is checked against Kaggle's 20 GB output before
# decoding starts, and a stopped run resumes without decoding again what is cached.

# %%
result = run_prep(cfg)

# %% [markdown]
# ## What was excluded, and why

# %%
show_table(result.bad_df, title="Excluded files")

# %% [markdown]
# ## Folds
# Every class in every fold's training part where the data allow; classes too rare to be
# validated are always trained on (listed below).

# %%
show_table(result.fold_summary_df, title="Per fold")
show_table(result.rare_df, title="Rare classes (always trained on, never validated)")

# %% [markdown]
# ## Figures

# %%
show_figures(result.figures.values())

# %% [markdown]
# ## Summary
# nb01 read the competition, listed every file it could not use, folded the rest and cached
# the decoded audio; nb02 and nb03 train from this dataset without decoding again.

# %%
show_report(result.report, result.output_dir)
