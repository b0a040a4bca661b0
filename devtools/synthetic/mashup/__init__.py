"""A fake "messy mashup" music-genre competition, so the mashup pipeline runs without real data.

``generate_mashup_competition(root, size)`` writes, deterministically from ``seed``::

    root/
      messy-mashup/                          the competition folder
        train/<genre>/<song_id>/{drums,vocals,bass,other}.wav     44.1 kHz stereo, 16-bit
        noise/<category>_<k>.wav             ESC-50-like clips, 5 s, 44.1 kHz mono
        test/mashup_<k>.wav                  30-s mashups, 22.05 kHz mono
        train.csv                            song_id, genre
        sample_submission.csv                id, genre (a constant genre, like Kaggle's)
      answer_key/                            outside the competition folder
        solution.csv                         id, genre of every test clip
        test_mashups.csv                     songs, stems, tempo, noise file and SNR per clip
        manifest.json                        planted bad files, every song's musical plan

What makes it a useful stand-in:

- Genres are distributions, not templates (:mod:`.styles`): tempo ranges, drum patterns
  (backbeat, four-on-the-floor, shuffle, boom-bap, one-drop, double kick, train beat, swung
  ride, none), bass styles (walking, octave, sub, pedal, arco...), progressions and chord
  qualities, chord styles (pad, strum, skank, stab, chug, arpeggio, comp), brightness and
  distortion of the ``other`` stem, and the chance and kind of vocals (sung, rap, opera,
  growl). Ranges overlap and one song in six borrows an ingredient from another genre, so the
  genres are learnable but not trivially.
- The test clips are made like the real ones (:mod:`common.tasks.mashup.render`, default recipe):
stems of
  different songs of one genre, tempo-warped to sync, random gains, an environmental noise clip
  at 0-20 dB SNR, 22.05 kHz mono, 30 s. The test songs and noise clips are rendered apart
  and never reach the competition folder, so the train-to-test domain shift is real.
- The training data carries the real data's traps: instrumental songs whose vocal stem is
  digital silence or a -75 dBFS hiss, and stem files replaced by < 4 KB junk (undecodable
  garbage, or a WAV cut after a few hundred frames).

Randomness comes from ``np.random.default_rng([seed, stream, index...])`` per item, so the output
does not depend on the worker count.

Modules: ``config`` (constants, sizes, rng streams), ``styles`` (genres and song plans),
``instruments`` (the four stems' synthesis), ``noise`` (ESC-50-like clips), ``songs`` (stereo
stem files, planted bad files), ``generate`` (the entry point) and ``cli``.

CLI: ``python -m common.synthetic_mashup --out /tmp/mashup --size demo``
"""

from devtools.synthetic.mashup.cli import main
from devtools.synthetic.mashup.config import (
    COMPETITION_DIRNAME,
    NOISE_CATEGORIES,
    SAMPLE_RATE,
    SIZES,
    MashupCompetitionSize,
)
from devtools.synthetic.mashup.generate import (
    SyntheticMashupCompetition,
    generate_mashup_competition,
    plan_songs,
    solution_frame,
)
from devtools.synthetic.mashup.songs import render_song, write_song
from devtools.synthetic.mashup.styles import STYLES, GenreStyle, SongPlan, plan_song

__all__ = [
    "COMPETITION_DIRNAME",
    "NOISE_CATEGORIES",
    "SAMPLE_RATE",
    "SIZES",
    "STYLES",
    "GenreStyle",
    "MashupCompetitionSize",
    "SongPlan",
    "SyntheticMashupCompetition",
    "generate_mashup_competition",
    "main",
    "plan_song",
    "plan_songs",
    "render_song",
    "solution_frame",
    "write_song",
]
