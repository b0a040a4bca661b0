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
# # nb03 · Pseudo labels and noisy students
#
# **Inputs:** the competition folder, nb01's output (`<competition>-prep`) and nb02's models
# (`<competition>-models`: the teacher, every fold and backbone matching `checkpoint_glob`, with
# its `train_config.json` and out-of-fold files).
# **Outputs** (working dir, published as the `<competition>-pseudo` dataset): the pseudo-label
# table of the final round (`pseudo_labels_soft.csv`, also an nb02 extra windows table) and one
# per round and fold, its hard view, `pseudo_summary.json`, `pseudo_class_counts.csv`,
# `rounds_summary.csv` (teacher vs students), figures, any named data subsets, and the final
# round's students `<backbone>_student_fold<k>_best.pt`, which nb04 ensembles with nb02's models.
#
# Runs three ways with the same parameters: on Kaggle top to bottom (GPU), locally as
# `python nb03_pseudo_labeling.py --input-root DIR --working-dir DIR [--preset smoke|cpu]`
# (see `--help`), or as an executed notebook with the `parameters` cell overridden. Run again
# with the same working dir, it skips finished rounds and folds.

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
from common.stages.pseudo.config import PseudoConfig  # noqa: E402
from common.stages.pseudo.run import run_pseudo  # noqa: E402
from common.stages.start import start_stage  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: the demo
# competition on a laptop, one round; `default`: the Kaggle recipe, two noisy-student rounds,
# teacher on the GPU), `TASK` the competition and its defaults (slugs, TTA views, threshold).
# `OVERRIDES` changes any field of the stage config, e.g. `{"target_power": 1.5,
# "warm_start": True, "rounds": 3}`; command-line flags win over both. `{"teacher": "birdnet"}`
# (or `perch`, attached as a Kaggle model) blends a pretrained teacher into the soft labels of
# the species it knows (`teacher_weight`, 0.3).

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
    PseudoConfig, "nb03", PRESET, TASK, INPUT_ROOT, WORKING_DIR, OVERRIDES,
    description="nb03: pseudo-label unlabelled audio and train noisy students.",
)

# %% [markdown]
# ## Label, curate, train students
# Each round the teacher ensemble scores the task's unlabelled audio with nb04's engine (same
# frontend, TTA and combination), the probabilities become the pseudo-label table, and students
# are trained with nb02's recipe plus those rows, stronger augmentation and (optionally) a warm
# start; the students are the next round's teacher. By default student k learns from teacher
# k's labels only, so its CV is as honest as the teacher's.

# %%
result = run_pseudo(cfg)

# %% [markdown]
# ## Teacher vs students
# The task's validation score, out of fold, on the same folds. The gate publishes for nb04 only
# a student that beats its teacher here and does so in at least `student_gate_confidence` of
# the paired bootstrap resamples of the validation files (`share_better`; `gain_low` is that
# quantile of the gain). The line below says which round or why none; the histograms show the
# resampled gains.

# %%
show_table(result.rounds_df, title="Teacher and students, out of fold")
print("student gate:", result.summary["student_gate"]["reason"])
if "student_gate" in result.figures:
    show_figures([result.figures["student_gate"]])

# %% [markdown]
# ## Pseudo labels of the final round
# The first rows of the table nb02 trains on, and the counts per class.

# %%
show_table(result.soft_df.head(), title="Pseudo-label table (first rows)")
show_table(result.class_counts_df.head(20), title="Per class")

# %% [markdown]
# Whole-clip tasks also keep every scored clip with its pooled probabilities; the least
# confident first (the clips the threshold turned away).

# %%
if result.clips_df is not None:
    show_table(result.clips_df.sort_values("confidence").head(10), title="Least confident clips")

# %% [markdown]
# ## Figures
# The top-class probability of every scored row against the threshold, and the task's own.

# %%
show_figures(path for name, path in result.figures.items() if name != "student_gate")

# %% [markdown]
# ## Named data subsets
# Include any of them in nb02 with `--extra-windows <path>` (attach this dataset).

# %%
show_table(result.subsets_df, title="Subsets")

# %% [markdown]
# ## Summary
# nb03 labelled the unlabelled audio with the teacher ensemble, trained noisy students on those
# labels and compared them with the teacher on the same folds; the final round's students are
# in this dataset for nb04.

# %%
show_report(result.summary, result.output_dir)
