"""Planning and rendering one mashup: random choices drawn up front, then stretch, gain and mix.

:func:`plan_mashups` draws every random choice of every mashup (a :class:`MashupRecipe` each, from
``np.random.default_rng([seed, crc32(genre), fold, index])``) before any audio is rendered;
:func:`render_mashup` loads, time-stretches (tempo octave nearest the common target), gains and
sums the stems and mixes the noise at the recipe's SNR; :func:`render_and_write` writes the WAV
atomically and returns its :func:`recipe_row`.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from common.audio.crops import pad_by_repetition
from common.audio.io import load_audio
from common.tasks.mashup.recipe import (
    STEM_TYPES,
    MashupAudio,
    MashupConfig,
    MashupRecipe,
    SongInfo,
    StemPart,
)

log = logging.getLogger(__name__)

__all__ = ["plan_mashups", "recipe_row", "render_and_write", "render_mashup"]

_OCTAVES = (0.5, 1.0, 2.0)  # beat trackers often report half or double the felt tempo
_STRETCH_MARGIN = 4096  # extra input samples so the phase vocoder's edges fall outside the cut



def _mashup_rng(seed: int, genre: str, fold: int, index: int) -> np.random.Generator:
    # crc32 of the name, not the genre's position, so adding a genre changes no other mashup.
    return np.random.default_rng([seed, zlib.crc32(genre.encode()), fold, index])


def _stretch_rate(song_tempo: float, target: float, cfg: MashupConfig) -> float:
    """``target / tempo`` for the tempo octave nearest the target, clamped to the range."""
    rates = [target / (song_tempo * k) for k in _OCTAVES]
    rate = min(rates, key=lambda r: abs(math.log(r)))
    return float(np.clip(rate, *cfg.stretch_rate_range))


def plan_mashups(songs: Sequence[SongInfo], noise_paths: Sequence[str],
                 n_per_genre_per_fold: int, cfg: MashupConfig, seed: int
                 ) -> list[MashupRecipe]:
    """The recipes of ``n_per_genre_per_fold`` mashups for every (genre, fold) of ``songs``.

    Stems of a mashup come only from songs of its genre and fold. A stem type that no song of
    the genre-fold has usable is left out of its mashups (a warning); a genre-fold with no
    usable stem at all cannot exist here (:func:`~common.tasks.mashup.stems.scan_song` drops such
    songs), and one with no
    song at all makes no mashup.
    """
    groups: dict[tuple[str, int], list[SongInfo]] = {}
    for song in sorted(songs, key=lambda s: (s.genre, s.fold, s.song_id)):
        groups.setdefault((song.genre, song.fold), []).append(song)
    noise_paths = sorted(noise_paths)
    recipes = []
    for (genre, fold), group in sorted(groups.items()):
        pools = {t: [s for s in group if s.stem_path(t)] for t in cfg.stem_types}
        lacking = [t for t, pool in pools.items() if not pool]
        if lacking:
            log.warning("genre %s fold %d: no usable %s stem in %d songs; its mashups go "
                        "without", genre, fold, "/".join(lacking), len(group))
        # Scarce stem types choose first, so distinct songs remain for them.
        order = sorted((t for t in cfg.stem_types if pools[t]), key=lambda t: len(pools[t]))
        for index in range(n_per_genre_per_fold):
            rng = _mashup_rng(seed, genre, fold, index)
            target = float(rng.uniform(*cfg.tempo_bpm_range))
            used: set[str] = set()
            chosen: dict[str, StemPart] = {}
            for stem_type in order:
                pool = pools[stem_type]
                fresh = [s for s in pool if s.song_id not in used] if cfg.distinct_songs else []
                song = (fresh or pool)[int(rng.integers(len(fresh or pool)))]
                used.add(song.song_id)
                half = [b for b in song.beats if b < song.seconds * 0.5]
                if cfg.align_beats and half:
                    start = half[int(rng.integers(len(half)))]
                else:
                    start = float(rng.uniform(0.0, song.seconds * 0.5))
                chosen[stem_type] = StemPart(
                    stem_type, song.song_id, str(song.stem_path(stem_type)), round(start, 4),
                    round(_stretch_rate(song.tempo_bpm, target, cfg), 5),
                    round(float(rng.uniform(*cfg.gain_db_range)), 3))
            noise_path, offset, snr = None, 0.0, None
            if noise_paths and rng.random() < cfg.p_noise:
                noise_path = noise_paths[int(rng.integers(len(noise_paths)))]
                offset = float(rng.random())
                snr = round(float(rng.uniform(*cfg.snr_db_range)), 3)
            recipes.append(MashupRecipe(
                genre, fold, index, f"{genre}/{genre}_f{fold}_{index:05d}.wav",
                round(target, 3), tuple(chosen[t] for t in cfg.stem_types if t in chosen),
                noise_path, offset, snr))
    return recipes


def _loop_from(wave: np.ndarray, start: int, length: int) -> np.ndarray:
    """``length`` samples of ``wave`` played from ``start``, wrapping around to its beginning."""
    start = start % wave.size
    return pad_by_repetition(np.concatenate([wave[start:], wave[:start]]), length)


def render_mashup(recipe: MashupRecipe, cfg: MashupConfig) -> MashupAudio:
    """Render one recipe: load, stretch, gain and sum the stems, mix the noise, normalise."""
    import librosa
    import torch

    from common.audio.wave_ops import add_noise_at_snr

    n_out = cfg.n_samples
    music = np.zeros(n_out, dtype=np.float64)
    for part in recipe.parts:
        wave = load_audio(part.path, cfg.sample_rate)
        start = int(round(part.start_seconds * cfg.sample_rate))
        n_in = int(math.ceil(n_out * part.rate)) + _STRETCH_MARGIN
        segment = _loop_from(wave, start, n_in)
        if abs(part.rate - 1.0) > 1e-4:
            segment = librosa.effects.time_stretch(segment, rate=part.rate)
        music += 10.0 ** (part.gain_db / 20.0) * pad_by_repetition(segment, n_out)[:n_out]
    noise = np.zeros(n_out, dtype=np.float64)
    mixture = music
    if recipe.noise_path is not None:
        clip = load_audio(recipe.noise_path, cfg.sample_rate).astype(np.float64)
        raw = _loop_from(clip, int(recipe.noise_offset * clip.size), n_out)
        mixed = add_noise_at_snr(torch.from_numpy(music[None]), torch.from_numpy(raw[None]),
                                 float(recipe.snr_db))[0].numpy()
        noise, mixture = mixed - music, mixed
    peak = float(np.abs(mixture).max())
    scale = cfg.peak / peak if peak > 0.0 else 1.0
    return MashupAudio(*(np.asarray(x * scale, dtype=np.float32) for x in (music, noise, mixture)))


def recipe_row(recipe: MashupRecipe, noise_root: str | None = None) -> dict[str, Any]:
    """One ``mashups.csv`` row: the label, the fold and where every part came from.

    ``noise_file`` is relative to ``noise_root`` when given, so the table survives a move.
    """
    parts = {p.stem_type: p for p in recipe.parts}
    row: dict[str, Any] = {"filename": recipe.filename, "genre": recipe.genre,
                           "fold": recipe.fold, "index": recipe.index,
                           "tempo_bpm": recipe.tempo_bpm}
    for stem_type in STEM_TYPES:
        part = parts.get(stem_type)
        row[f"{stem_type}_song"] = part.song_id if part else ""
    row["songs"] = ";".join(sorted({p.song_id for p in recipe.parts}))
    row["n_stems"] = len(recipe.parts)
    row["stretch_rates"] = ";".join(f"{p.stem_type}:{p.rate:g}" for p in recipe.parts)
    row["gains_db"] = ";".join(f"{p.stem_type}:{p.gain_db:g}" for p in recipe.parts)
    noise = recipe.noise_path or ""
    if noise and noise_root:
        noise = str(Path(noise).relative_to(noise_root))
    row["noise_file"] = noise
    row["snr_db"] = recipe.snr_db if recipe.snr_db is not None else np.nan
    return row


def render_and_write(recipe: MashupRecipe, cfg: MashupConfig, out_dir: str,
                     noise_root: str | None = None) -> dict[str, Any]:
    """Render one mashup and write it (atomically: a stopped run never leaves half a file).

    A file that already exists is kept (a resumed run;
    :func:`~common.tasks.mashup.generation.generate_mashups` has checked that the config and seed
    are unchanged). Returns the ``mashups.csv`` row.
    """
    path = Path(out_dir) / recipe.filename
    if not path.is_file():
        try:
            audio = render_mashup(recipe, cfg)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.stem}.partial.wav")
            sf.write(str(partial), audio.mixture, cfg.sample_rate, subtype=cfg.subtype)
            os.replace(partial, path)
        except Exception as err:  # re-raised with the mashup's name, which pickling would lose
            raise RuntimeError(f"mashup {recipe.filename} (stems "
                               f"{[p.path for p in recipe.parts]}) failed: {err!r}") from err
    return recipe_row(recipe, noise_root)

