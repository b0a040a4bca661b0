"""A fake BirdCLEF+ 2026 competition folder, so the pipeline runs without the real 16 GB.

``generate_competition(root, size)`` writes, deterministically from ``seed``::

    root/
      birdclef-2026/                       laid out like Kaggle's download
        taxonomy.csv                       one row per species, sorted by primary_label (string)
        train.csv                          one row per focal clip
        train_audio/<primary_label>/{XC,iNat}<id>.ogg
        train_soundscapes/BC2026_Train_<id>_S<site>_<yyyymmdd>_<hhmmss>.ogg     60 s each
        train_soundscapes_labels.csv       5-s windows of a few train soundscapes, rows doubled
        test_soundscapes/BC2026_Test_<id>_S<site>_<yyyymmdd>_<hhmmss>.ogg      (or readme.txt)
        sample_submission.csv              first three test files x 12 windows, 1/n_species
      answer_key/                          outside the competition folder, like hidden labels
        solution.csv                       row_id + one 0/1 column per species, every test window
        manifest.json                      what was planted: corrupt files, soundscape-only species,
                                           confusable pairs, labelled soundscapes
        README.txt

The data are built to reproduce the difficulties of the real competition, not just its schema:

- Every species has its own call recipe by taxon (birds: FM whistles, sweeps and trills in
  2-9 kHz with harmonics; frogs: pulsed croaks at 0.3-2 kHz; insects: narrowband 4-12 kHz buzzes
  and stridulation; mammals: 100-1500 Hz howls and grunts with vibrato; reptiles: clicks or
  hiss). Each call is jittered (pitch +-5 %, duration +-15 %). Some species pairs are confusable
  (same band, slightly different modulation rate).
- Focal clips are clean (6-30 dB SNR), 2-60 s long, long ones call only in parts (so cropping by
  energy matters); some carry listed secondary species, a few an unlisted one. Clip counts per
  species are long-tailed (Zipf); about 10 % of species have no focal clip at all and occur only
  in soundscapes (insect sonotypes like ``47158son16`` and a frog), as in the real data.
- Soundscapes are 60 s of coloured background noise with wind and rain that vary by site,
  several species overlapping at 0-15 dB SNR, and unlabelled distractor calls; frogs and insects
  dominate at night and birds at dawn. This is the focal-to-soundscape domain shift.
- ``train_audio`` holds planted failures listed in train.csv: a zero-byte file, a garbage file, a
  0.05-s file and (``demo``) an all-silent clip. Test soundscapes are never corrupt.

Determinism: all randomness comes from ``np.random.default_rng([seed, stream, index])`` per item,
so the output does not depend on the worker count. The Ogg stream serial number, which
libsndfile draws from the clock, is rewritten from the file name, so the same seed gives the
same bytes. ``empty_test=True`` plans the same hidden test set but writes only its answer key.

Modules, each importing only those listed before it: ``config`` (constants, sizes, rng
streams), ``noise`` (backgrounds), ``voices`` (call recipe and waveform per taxon), ``species``
(taxonomy), ``calls`` (call scheduling), ``clips`` and ``soundscapes`` (what each file holds),
``plan`` (all random decisions, no audio), ``ogg`` (reproducible Ogg bytes), ``render`` (audio
files, in worker processes), ``layout`` (CSVs, answer key, manifest), ``generate`` (the entry
point) and ``cli``.

CLI: ``python -m common.synthetic --out /tmp/fake --size demo``
"""

from devtools.synthetic.birdclef.cli import main
from devtools.synthetic.birdclef.config import (
    CLASS_NAMES,
    COMPETITION_DIRNAME,
    SAMPLE_RATE,
    SIZES,
    WINDOW_SECONDS,
    SyntheticSize,
)
from devtools.synthetic.birdclef.generate import generate_competition
from devtools.synthetic.birdclef.layout import (
    SOUNDSCAPE_LABEL_COLUMNS,
    TAXONOMY_COLUMNS,
    TRAIN_COLUMNS,
    SyntheticCompetition,
)

__all__ = [
    "CLASS_NAMES",
    "COMPETITION_DIRNAME",
    "SAMPLE_RATE",
    "SIZES",
    "SOUNDSCAPE_LABEL_COLUMNS",
    "TAXONOMY_COLUMNS",
    "TRAIN_COLUMNS",
    "WINDOW_SECONDS",
    "SyntheticCompetition",
    "SyntheticSize",
    "generate_competition",
    "main",
]
