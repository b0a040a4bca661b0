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
# # BirdCLEF+ 2026 / Messy Mashup · nb03 · Pseudo labels and noisy student
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
# With `TASK = "messy-mashup"` the same code labels the competition's 30-s **test clips**
# (`messy-mashup/test/`) with the `messy-mashup-models` teacher: every 5-s window through nb04's
# engine (softmax, SpecAugment'd TTA passes), pooled per clip; a clip whose top probability is
# at least 0.95 becomes a one-hot pseudo label (`key` = `test/<id>.wav`, fold -1: every student
# fold trains on it) and its decoded audio goes to `cache/`. `pseudo_clip_probs.csv` keeps every
# scored clip; students are validated on held-out mashups by macro F1. There are no curated
# subsets for a single-label task. Published as `messy-mashup-pseudo`, same file names.
#
# Runs three ways with the same parameters: on Kaggle top to bottom (GPU), locally as
# `python nb03_pseudo_labeling.py --input-root DIR --working-dir DIR [--preset smoke|cpu]
# [--task messy-mashup]` (see `--help`), or as an executed notebook with the `parameters` cell
# overridden. Run again with the same working dir, it skips finished rounds and folds.

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

from common.core.config import resolve_config  # noqa: E402
from common.core.runtime import setup_logging  # noqa: E402
from common.stages.pseudo.config import PseudoConfig  # noqa: E402
from common.stages.pseudo.run import run_pseudo  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: the demo
# competition on a laptop, one round; `default`: the Kaggle recipe, two noisy-student rounds,
# teacher on the GPU). `OVERRIDES` changes any field of `PseudoConfig`, e.g.
# `{"soundscapes": "all", "target_power": 1.5, "warm_start": True, "rounds": 3}` (messy
# mashup: `{"min_confidence": 0.9, "clip_targets": "soft"}`); command-line flags win over both.
# `TASK` picks the competition and its defaults (`common.tasks`: slugs, TTA views, threshold).

# %% tags=["parameters"]
PRESET = "default"
TASK = "birdclef-2026"  # or "messy-mashup" (common.tasks.base)
INPUT_ROOT = "/kaggle/input"
WORKING_DIR = "/kaggle/working"
OVERRIDES = {}

# %%
cfg = resolve_config(
    PseudoConfig, PRESET, {"input_root": INPUT_ROOT, "working_dir": WORKING_DIR, **OVERRIDES},
    task=TASK, description="nb03: pseudo-label unlabelled audio and train noisy students.",
)
setup_logging(Path(cfg.working_dir) / "nb03.log")
print(cfg)

# %% [markdown]
# ## Label, curate, train students
# Each round the teacher ensemble scores every 5-s window of the unlabelled audio with nb04's
# engine (same frontend, TTA and combination), the probabilities become the pseudo-label table,
# and students are trained with nb02's recipe plus those rows, stronger augmentation and
# (optionally) a warm start; the students are the next round's teacher. By default student k
# learns from teacher k's labels only, so its CV is as honest as the teacher's. BirdCLEF: soft
# labels per window, and round 1 also writes the curated positive and hard-negative subsets.
# Messy mashup: windows pooled per clip, hard labels on the confident clips only.

# %%
result = run_pseudo(cfg)

# %% [markdown]
# ## Teacher vs students
# The task's validation score, out of fold, on the same folds: macro ROC-AUC on the held-out
# labelled soundscapes (BirdCLEF), or macro F1 of the held-out mashups, each clip's windows
# pooled (messy mashup; the CNN's, without nb02's feature blend). A student worth keeping
# beats its teacher here.

# %%
display(result.rounds_df)

# %% [markdown]
# ## Pseudo labels of the final round
# The first rows of the table nb02 trains on, and the counts per class: windows at the
# hard-label threshold (BirdCLEF), or per genre the clips the teacher's arg-max gives it and
# those confident enough to keep (messy mashup; a genre the teacher is rarely sure of gets few).

# %%
display(result.soft_df.head())
display(result.class_counts_df.head(20))

# %% [markdown]
# Messy mashup only: every scored test clip with its pooled probabilities, least confident
# first (the clips the threshold turned away).

# %%
if result.clips_df is not None:
    display(result.clips_df.sort_values("confidence").head(10))

# %% [markdown]
# ## Figures
# Top-class probability per window (BirdCLEF) or per test clip (messy mashup); the dashed line
# is the threshold. Messy mashup also draws the pseudo labels per genre.

# %%
for path in result.figures.values():
    display(Image(filename=str(path)))

# %% [markdown]
# ## Named data subsets
# Include any of them in nb02 with `--extra-windows <path>` (attach this dataset). Multi-label
# tasks only: the messy mashup has none.

# %%
display(result.subsets_df)

# %% [markdown]
# ## Summary

# %%
for key, value in result.summary.items():
    print(f"{key:28s} {value}")
print(f"outputs in {result.output_dir}")
