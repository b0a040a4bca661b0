"""What each notebook does for messy mashup, shown by the notebook under its parameters.

The notebooks' own text is written for any task; what only holds for this competition is here.
"""

NOTES = {
    "nb01": """\
**Messy mashup.** Songs (four stems each) are folded per genre, every genre in every
fold. Training mashups are rendered from each fold's songs only, the way the test clips were
made: stems of different songs of one genre, time-stretched to a common tempo, random gains, a
noise clip at a random SNR, 30 s at 22.05 kHz. Corrupt, undecodable and silent stems are listed
in `bad_files.csv` and left out. The mashups are cached whole, with the noise clips as
background; the output tables have BirdCLEF's names and columns, so nb02-nb04 read them
unchanged (no soundscapes, no rare classes).""",
    "nb02": """\
**Messy mashup.** One genre per clip: softmax and cross-entropy on random 5-s crops
of the other folds' mashups over real noise (no soundscape simulation: it would mix genres).
Validation scores every 5-s window of the held-out mashups pooled per clip, by macro F1, which
picks the epoch. The feature baseline (194 MFCC/chroma/spectral statistics with logistic
regression and extra trees) is fitted on the same folds; `blend.json` holds the weights of the
CNN and feature models chosen on out-of-fold macro F1; a confusion matrix per model.""",
    "nb03": """\
**Messy mashup.** The teacher labels the competition's 30-s test clips: every 5-s
window through nb04's engine (softmax, the task's TTA views), pooled per clip. A clip whose top
probability reaches `min_confidence` (0.95, the write-up's recipe) becomes a one-hot pseudo
label for every student fold, and its audio goes to the cache; `pseudo_clip_probs.csv` keeps
every scored clip. Students are scored by macro F1 on held-out mashups. Curated subsets and hard
negatives are multi-label notions: none here.""",
    "nb04": """\
**Messy mashup.** Every 5-s window of a 30-s test clip is predicted (the orig view
plus SpecAugment'd passes; no time reversal, which runs music backwards), the windows are
averaged per clip and, when nb02 published `blend.json` and `features.csv`, blended with the
feature models refitted here; the arg-max genre is the answer (`id, genre`). The figures show
the clips per predicted genre (an even test set gives even bars) and the top probability per
clip.""",
}
