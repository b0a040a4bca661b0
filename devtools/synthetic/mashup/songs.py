"""A song's four stem files (44.1 kHz stereo WAV) and the planted bad files.

Each stem is rendered mono (:mod:`.instruments`), set to its level (peak dBFS by stem type,
jittered), panned to stereo (constant power; the ``other`` stem sometimes widened with a few-ms
Haas delay) and written as 16-bit PCM. An instrumental song's vocal stem is digital silence or a
-75 dBFS hiss, both of which the mashup generator must skip as silent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

from devtools.synthetic.mashup.config import SAMPLE_RATE
from devtools.synthetic.mashup.instruments import (
    render_bass,
    render_drums,
    render_other,
    render_vocals,
)
from devtools.synthetic.mashup.noise import render_noise
from devtools.synthetic.mashup.styles import SongPlan

STEM_RENDERERS = {"drums": render_drums, "vocals": render_vocals, "bass": render_bass,
                  "other": render_other}
_PEAK_DBFS = {"drums": -3.0, "vocals": -6.0, "bass": -6.0, "other": -6.0}
_PAN = {"drums": 0.2, "vocals": 0.05, "bass": 0.05, "other": 0.4}  # max |pan| per stem type
_FLOOR_DBFS = -75.0  # the hiss of a "floor" instrumental vocal stem


def _stereo(mono: np.ndarray, pan: float, haas_samples: int) -> np.ndarray:
    """``(n, 2)``: constant-power pan in [-1, 1]; the right channel delayed by ``haas_samples``."""
    angle = (pan + 1.0) * math.pi / 4.0
    left, right = math.cos(angle) * mono, math.sin(angle) * mono
    if haas_samples:
        right = np.concatenate([np.zeros(haas_samples), right[:-haas_samples]])
    return np.stack([left, right], axis=1)


def render_song(plan: SongPlan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The four stems of ``plan``: ``{stem type: float32 (samples, 2)}`` at 44.1 kHz."""
    n = int(plan.seconds * SAMPLE_RATE)
    stems = {}
    for stem_type, render in STEM_RENDERERS.items():
        mono = render(plan, n, rng)
        if stem_type == "vocals" and plan.vocals == "none":
            if plan.silent_vocals == "floor":
                mono = 10.0 ** (_FLOOR_DBFS / 20.0) * rng.standard_normal(n)
        else:
            peak_db = _PEAK_DBFS[stem_type] + rng.uniform(-2.0, 2.0)
            if stem_type == "drums":
                peak_db = min(peak_db + plan.drum_level_db, -1.0)
            mono = mono * 10.0 ** (peak_db / 20.0)
        haas = int(rng.uniform(0.002, 0.008) * SAMPLE_RATE) if (
            stem_type == "other" and rng.random() < 0.5) else 0
        pan = rng.uniform(-_PAN[stem_type], _PAN[stem_type])
        stems[stem_type] = np.clip(_stereo(mono, pan, haas), -1.0, 1.0).astype(np.float32)
    return stems


def write_song(plan: SongPlan, song_dir: str, rng_key: tuple[int, ...]) -> str:
    """Render ``plan`` and write ``<song_dir>/{drums,vocals,bass,other}.wav``; returns the dir."""
    folder = Path(song_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stem_type, audio in render_song(plan, np.random.default_rng(list(rng_key))).items():
            sf.write(str(folder / f"{stem_type}.wav"), audio, SAMPLE_RATE, subtype="PCM_16")
    except Exception as error:  # re-raised with the folder, which pickling would lose
        raise RuntimeError(f"could not write synthetic song {folder}: {error!r}") from error
    return str(folder)


def write_noise(category: str, seconds: float, path: str, rng_key: tuple[int, ...]) -> str:
    """Render one noise clip and write it as a 16-bit mono WAV; returns the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    clip = render_noise(category, seconds, np.random.default_rng(list(rng_key)))
    sf.write(path, clip, SAMPLE_RATE, subtype="PCM_16")
    return path


def write_corrupt_stem(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Replace a stem file by junk under 4 KB.

    ``"garbage"``: 200-3000 printable bytes, undecodable. ``"truncated"``: a valid WAV header
    with a few hundred stereo frames (decodes, but under 4 KB: a cut-off upload).
    """
    if kind == "garbage":
        path.write_bytes(rng.integers(32, 127, int(rng.integers(200, 3000)), np.uint8).tobytes())
    elif kind == "truncated":
        frames = rng.uniform(-0.1, 0.1, (int(rng.integers(100, 800)), 2)).astype(np.float32)
        sf.write(str(path), frames, SAMPLE_RATE, subtype="PCM_16")
    else:
        raise ValueError(f"unknown corruption {kind!r}")
