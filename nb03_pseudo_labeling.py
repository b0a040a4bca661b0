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
# # BirdCLEF+ 2026 · nb03 · Pseudo labels and noisy student
#
# **Inputs:** the competition data (`birdclef-2026`: `train_soundscapes/`), nb01's output
# (`birdclef-2026-prep`) and nb02's models (`birdclef-2026-models`: the teacher, every fold and
# backbone matching `checkpoint_glob`, plus its `train_config.json` and out-of-fold files).
# **Outputs** (working dir, published as the `pseudo` dataset):
# `pseudo_labels_soft.csv` (one row per 5-s window: `filename, start, end`, one probability
# column per species; also an nb02 extra windows table), `pseudo_labels_hard_t050.csv`,
# `pseudo_summary.json`, `pseudo_class_counts.csv`, the confidence histogram, named data
# subsets `subset_pos_top15.csv` / `subset_neg_t085.csv` ..., and the final round's students
# `<backbone>_student_fold<k>_best.pt`, which nb04 ensembles with nb02's models.
#
# Runs three ways with the same parameters: on Kaggle top to bottom (GPU), locally as
# `python nb03_pseudo_labeling.py --input-root DIR --working-dir DIR [--preset smoke|cpu]`
# (see `--help`), or as an executed notebook with the `parameters` cell overridden. Run again
# with the same working dir, it skips finished rounds and folds.

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

from IPython.display import Image, display  # noqa: E402

from common.config import resolve_config  # noqa: E402
from common.pseudo import PseudoConfig, run_pseudo  # noqa: E402
from common.runtime import setup_logging  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: the demo
# competition on a laptop, one round; `default`: the Kaggle recipe, two noisy-student rounds,
# teacher on the GPU). `OVERRIDES` changes any field of `PseudoConfig`, e.g.
# `{"soundscapes": "all", "target_power": 1.5, "warm_start": True, "rounds": 3}`; command-line
# flags win over both.

# %% tags=["parameters"]
PRESET = "default"
INPUT_ROOT = "/kaggle/input"
WORKING_DIR = "/kaggle/working"
OVERRIDES = {}

# %%
cfg = resolve_config(
    PseudoConfig, PRESET, {"input_root": INPUT_ROOT, "working_dir": WORKING_DIR, **OVERRIDES},
    description="nb03: pseudo-label unlabelled soundscapes and train noisy students.",
)
setup_logging(Path(cfg.working_dir) / "nb03.log")
print(cfg)

# %% [markdown]
# ## Label, curate, train students
# Each round the teacher ensemble scores every 5-s window of the soundscapes with nb04's
# engine (same frontend, TTA and combination), the soft probabilities become the pseudo-label
# table, and students are trained with nb02's recipe plus those windows, stronger augmentation
# and (optionally) a warm start; the students are the next round's teacher. By default student
# k learns from teacher k's labels only, so its soundscape CV is as honest as the teacher's.
# Round 1 also writes the curated positive and hard-negative subsets.

# %%
result = run_pseudo(cfg)

# %% [markdown]
# ## Teacher vs students
# Out-of-fold macro ROC-AUC on the held-out labelled soundscapes (same folds, same metric).

# %%
display(result.rounds_df)

# %% [markdown]
# ## Pseudo labels of the final round
# The first rows of the soft table, and windows per species at the hard-label threshold.

# %%
display(result.soft_df.head())
display(result.class_counts_df.head(20))

# %% [markdown]
# ## Confidence histogram
# Top-class probability per window; the dashed line is the hard-label threshold.

# %%
for path in result.figures.values():
    display(Image(filename=str(path)))

# %% [markdown]
# ## Named data subsets
# Include any of them in nb02 with `--extra-windows <path>` (attach this dataset).

# %%
display(result.subsets_df)

# %% [markdown]
# ## Summary

# %%
for key, value in result.summary.items():
    print(f"{key:28s} {value}")
print(f"outputs in {result.output_dir}")
