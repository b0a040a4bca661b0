"""What the messy-mashup competition's test clips are, stated once.

The task object (:mod:`common.tasks.mashup.task`) and the mashup generator
(:mod:`common.tasks.mashup.recipe`) both read these, so the training mashups are made exactly like
the clips the submission is scored on.
"""

SAMPLE_RATE = 22050  # Hz: every test clip is 22.05 kHz mono
CLIP_SECONDS = 30.0  # seconds: every test clip is exactly 30 s
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")
