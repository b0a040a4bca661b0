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
# # BirdCLEF+ 2026 · nb01 · Data prep
#
# **Inputs:** the competition data (`birdclef-2026`).
# **Outputs** (this notebook's working dir, published as the `prep` dataset): cleaned train
# metadata with folds (`train_folds.csv`), labelled soundscape windows with folds
# (`soundscape_labels_folds.csv`), the species list in submission order (`species.csv`), rare
# species, bad files with reasons, a decoded float16 audio cache (`cache/`), figures and a
# `dataset-metadata.json` for `kaggle datasets create -p`.
#
# Runs three ways with the same parameters: on Kaggle top to bottom, locally as
# `python nb01_data_prep.py --input-root DIR --working-dir DIR [--preset smoke]` (see `--help`),
# or as an executed notebook with the `parameters` cell overridden.
#
# With `TASK = "messy-mashup"` the same notebook prepares the music-genre competition
# (`messy-mashup`, published as `messy-mashup-prep`): songs are folded per genre, training
# mashups (stems of different songs of one genre, tempo-synced, over noise at a random SNR, like
# the test clips) are rendered from each fold's songs, and the mashups and noise clips are
# cached; the output files have the same names and columns, so nb02-nb04 read them unchanged.

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
from common.stages.prep.config import PrepConfig  # noqa: E402
from common.stages.prep.run import run_prep  # noqa: E402

# %% [markdown]
# ## Parameters
# `PRESET` picks a named configuration (`smoke`: seconds, for tests; `cpu`: a laptop run;
# `default`: the Kaggle recipe). `OVERRIDES` changes any field of `PrepConfig`; command-line
# flags win over both.

# %% tags=["parameters"]
PRESET = "default"
TASK = "birdclef-2026"  # or "messy-mashup" (common.tasks.base)
INPUT_ROOT = "/kaggle/input"
WORKING_DIR = "/kaggle/working"
OVERRIDES = {}

# %%
cfg = resolve_config(
    PrepConfig, PRESET, {"input_root": INPUT_ROOT, "working_dir": WORKING_DIR, **OVERRIDES},
    task=TASK, description="nb01: clean the metadata, decode and cache audio, make folds.",
)
setup_logging(Path(cfg.working_dir) / "nb01.log")
print(cfg)

# %% [markdown]
# ## Clean, measure, cache and fold
# Every clip is decoded once (in parallel): unreadable, empty, too short or silent files are
# listed in `bad_files.csv` and excluded; the rest get a duration and an energy-based activity
# measure, and their first seconds go into the float16 cache that nb02 trains from. For the
# mashup task, corrupt (< 4 KB), undecodable and silent stems and noise clips are listed and
# left out of the mashups instead. A stopped run resumes where it was.

# %%
result = run_prep(cfg)

# %% [markdown]
# ## What was excluded, and why

# %%
show_table(result.bad_df, title="Excluded files")

# %% [markdown]
# ## Folds
# Focal clips are stratified over primary and secondary labels; species with fewer clips than
# folds are always trained on and never validated (listed below). Soundscape windows are
# folded by file. Mashup task: songs are folded per genre (every genre in every fold), a fold's
# mashups hold only its songs, and no class is rare.

# %%
show_table(result.fold_summary_df, title="Per fold")
show_table(result.rare_df, title="Rare classes (always trained on, never validated)")

# %% [markdown]
# ## Figures

# %%
show_figures(result.figures.values())

# %% [markdown]
# ## Summary

# %%
for key, value in result.report.items():
    print(f"{key:32s} {value}")
print(f"outputs in {result.output_dir}")
