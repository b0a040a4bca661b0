"""What each notebook does for BirdCLEF, shown by the notebook under its parameters.

The notebooks' own text is written for any task; what only holds for this competition is here,
so a reader of a BirdCLEF run reads about soundscapes and species, nothing else.
"""

NOTES = {
    "nb01": """\
**BirdCLEF+ 2026.** Focal clips (`train_audio/`) and the labelled soundscape windows
(`train_soundscapes/` + `train_soundscapes_labels.csv`) are decoded once; unreadable, empty, too
short or silent files are listed in `bad_files.csv`. Folds: `MultilabelStratifiedKFold` over
primary and secondary labels; species with fewer clips than folds are always trained on and never
validated (`rare_species.csv`); soundscape windows are folded by file. The cache holds the first
`cache_seconds` of each clip, the labelled soundscapes and a sample of unlabelled soundscapes
for background mixing.""",
    "nb02": """\
**BirdCLEF+ 2026.** Each fold trains on focal clips and the labelled soundscape windows
of the other folds, multi-label (sigmoid, ASL by default), with the in-batch soundscape
simulator over real background, coloured noise, gain and roll, and SpecAugment. Every epoch is
scored on the fold's held-out soundscape windows with the competition metric (macro ROC-AUC);
a fold without labelled soundscapes falls back to the focal-clip AUC. The checkpoint rule is
logged per fold (`auto`: the best epoch when the fold has enough validation rows, else the
last).""",
    "nb03": """\
**BirdCLEF+ 2026.** The teacher ensemble scores every 5-s window of the unlabelled
train soundscapes; soft labels per window (optionally sharpened by `target_power`) become an
nb02 extra-windows table, one per fold so each student's CV stays honest. Round 1 also writes
curated positive subsets (`subset_pos_top<pct>.csv`) and hard negatives
(`subset_neg_t<thr>.csv`) for nb02 to include with `--extra-windows`. Students are scored like
the teacher: macro ROC-AUC on the held-out labelled soundscapes.""",
    "nb04": """\
**BirdCLEF+ 2026.** A row per 5-s window of each one-minute soundscape, one
probability per species in the sample submission's column order (raw sigmoid outputs, no
threshold). Kaggle's public data has no test audio: the checkpoints are still loaded and checked
and a submission shaped like the sample is written in seconds; the hidden rerun mounts about 600
soundscapes. The figures show the top species over time for a few soundscapes: a real call is a
bright run of neighbouring windows.""",
}
