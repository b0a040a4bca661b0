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
# # BirdCLEF+ 2026 · nb04 · Inference (CPU, offline)
#
# **Inputs:** the competition data (`birdclef-2026`, or `messy-mashup` with `TASK =
# "messy-mashup"`), the nb02 checkpoints (`<task>-models`: every file matching
# `checkpoint_glob`, default `*_best.pt`) and, when attached, nb03's students (`<task>-pseudo`).
# **Outputs** (working dir): `submission.csv`, `infer_timings.csv` (one row per batch),
# `infer_report.json` (speed per model, budget decisions, the feature blend),
# `infer_config.json` and figures: species x time for a few soundscapes (BirdCLEF), or the
# predicted genre counts and confidence (messy mashup, which also writes `clip_probs.csv`).
#
# Kaggle scores this notebook on 4 CPU cores with a hard 90-minute limit and no internet. The
# BirdCLEF public data has no test audio: the checkpoints are still loaded and checked, and a
# submission shaped like the sample is written in seconds. The hidden rerun mounts about 600
# one-minute soundscapes. The messy-mashup test set is 30-s clips, one genre each.
#
# Runs three ways with the same parameters: on Kaggle top to bottom, locally as
# `python nb04_inference.py --input-root DIR --working-dir DIR [--preset smoke]` (see `--help`),
# or as an executed notebook with the `parameters` cell overridden.

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
from common.stages.infer.config import InferConfig  # noqa: E402
from common.stages.infer.run import run_inference  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: a laptop run with
# two TTA views; `default`: the Kaggle recipe, all TTA views, mean of logits, 75-minute
# budget). `TASK` picks the competition and its defaults (slugs, test folder, TTA views: the
# mashup task uses SpecAugment'd passes instead of time reversal). `OVERRIDES` changes any
# field of `InferConfig` (e.g. `{"checkpoint_glob": "*_last.pt", "combine": "rank_mean"}`);
# command-line flags win over all three.

# %% tags=["parameters"]
PRESET = "default"
TASK = "birdclef-2026"  # or "messy-mashup" (common.tasks.base)
INPUT_ROOT = "/kaggle/input"
WORKING_DIR = "/kaggle/working"
OVERRIDES = {}

# %%
cfg = resolve_config(
    InferConfig, PRESET, {"input_root": INPUT_ROOT, "working_dir": WORKING_DIR, **OVERRIDES},
    task=TASK, description="nb04: ensemble inference on the test soundscapes, CPU only.",
)
setup_logging(Path(cfg.working_dir) / "nb04.log")
print(cfg)

# %% [markdown]
# ## Predict every window
# Each file is decoded once (a thread decodes ahead of the models) and cut into 5-s windows;
# windows are batched across files; the spectrogram is computed once per batch and TTA view
# and shared by every model with the same frontend (SpecAugment'd views mask that spectrogram
# with masks fixed by the seed and the window); gain views that per-window normalisation
# cancels are folded into the original view instead of costing a pass. After the first files
# the run projects its own duration and, if the ensemble would not fit the time budget, drops
# TTA views and then the most expensive models (each decision is logged). Windows not reached
# before the deadline get the mean prediction, never NaN. For whole-clip tasks the windows'
# probabilities are averaged per clip and, when nb02 published `blend.json` and
# `features.csv`, blended with its feature models (refitted here, before the models run, so
# the time budget accounts for them) before the arg-max.

# %%
result = run_inference(cfg)

# %% [markdown]
# ## The submission

# %%
show_table(result.submission_df.head())
print(result.submission_df.shape)

# %% [markdown]
# ## Speed and budget decisions

# %%
show_table(result.timings_df.describe())
for event in result.report.get("budget_events", []):
    print(event)

# %% [markdown]
# ## Figures
# BirdCLEF: top species by peak probability for a few soundscapes; a real call shows as a
# bright run of neighbouring windows. Messy mashup: clips per predicted genre (an even test set
# should give even bars) and the top-class probability per clip.

# %%
show_figures(result.figures.values())

# %% [markdown]
# ## Summary

# %%
for key, value in result.report.items():
    print(f"{key:28s} {value}")
print(f"submission: {result.output_dir / 'submission.csv'}")
