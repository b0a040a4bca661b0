"""Per-genre mashups: the "messy mashup" test domain, built out of the training stems.

The test clips of the mashup competition are not songs: each mixes stems of *different* songs of
one genre, tempo-warped to sync, over environmental noise at a random SNR, at 22.05 kHz mono,
30 s long. A model trained on the original songs meets a different domain at test time; the
winning recipe was to simulate that domain and train on the simulation. This module does it::

    songs_df  = list_songs(stems_root)                      # genre, song_id
    folds_df  = assign_song_folds(songs_df, n_folds=5, seed=42)
    mashups_df = generate_mashups(stems_root, noise_dir, out_dir, folds_df,
                                  n_per_genre_per_fold=40, cfg=MashupConfig(), seed=0, workers=4)

One mashup of genre ``g`` in fold ``k``:

1. for every stem type (drums, vocals, bass and other: ``other`` carries guitars, keys and
   strings, and leaving it out cost the original author most of his score), a song of genre
   ``g`` *and fold k* with a usable stem of that type, a different song per stem type when the
   fold has enough (``distinct_songs``);
2. a common target tempo drawn from ``tempo_bpm_range``; each song's tempo was estimated once
   (``librosa.beat.beat_track`` on its drums, or on the sum of its stems), the tempo octave
   (x0.5, x1, x2) closest to the target is used, and each stem is time-stretched by
   ``target / tempo`` clamped to ``stretch_rate_range``, starting on one of its beats so the
   stems line up;
3. a random gain per stem (``gain_db_range``), the stems summed;
4. a noise clip over the sum at an SNR drawn from ``snr_db_range`` (the same definition as
   :func:`common.audio.augment.add_noise_at_snr`, which does the mixing: mean-square power over the
   whole 30-s output), peak-normalised to ``peak``;
5. written as a WAV at ``sample_rate`` (22.05 kHz) mono, exactly ``clip_seconds`` (30 s).
   Stems are down-mixed and resampled (soxr) as they are read: both are linear, so this equals
   resampling the finished mix, and tempo tracking and stretching run at half the 44.1 kHz cost.

Folds are song-level: a mashup of fold ``k`` only holds songs of fold ``k``, so fold ``k``'s
mashups can validate a model trained on the other folds' mashups without leakage.

Bad inputs never stop the run: a stem file under ``min_file_bytes`` (the real data has files of a
few hundred bytes), one that does not decode, or one whose RMS is below ``silence_dbfs`` (some
vocal stems are silence) is skipped and listed in ``skipped_files.csv``; the same goes for noise
clips. A genre-fold with no usable stem of any type is an error naming it.

Determinism: every random choice of mashup ``(genre, fold, index)`` is drawn, before any audio
is rendered, from ``np.random.default_rng([seed, crc32(genre), fold, index])``, so the output is
the same on any number of worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from common.audio.crops import pad_by_repetition
from common.audio.io import AudioDecodeError, load_audio
from common.core.config import config_to_dict
from common.core.parallel import parallel_map, process_pool

log = logging.getLogger(__name__)

__all__ = [
    "STEM_TYPES",
    "MashupAudio",
    "MashupConfig",
    "MashupRecipe",
    "SongInfo",
    "StemPart",
    "assign_song_folds",
    "generate_mashups",
    "list_songs",
    "plan_mashups",
    "render_mashup",
    "scan_noise",
    "scan_song",
]

STEM_TYPES = ("drums", "vocals", "bass", "other")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
MASHUPS_CSV = "mashups.csv"
SKIPPED_CSV = "skipped_files.csv"
SONGS_CSV = "mashup_songs.csv"
CONFIG_JSON = "mashup_config.json"
SKIPPED_COLUMNS = ["genre", "song_id", "stem", "path", "reason"]
_OCTAVES = (0.5, 1.0, 2.0)  # beat trackers often report half or double the felt tempo
_STRETCH_MARGIN = 4096  # extra input samples so the phase vocoder's edges fall outside the cut


def _task_fact(name: str) -> Any:
    """A fact of the mashup task (``sample_rate``, ``clip_seconds``), stated once in
    :class:`common.tasks.mashup.task.MashupTask`; read through the registry, as the task's
    hooks import this module."""
    from common.tasks import get_task

    return getattr(get_task("messy-mashup"), name)


@dataclass(frozen=True)
class MashupConfig:
    """How mashups are made; defaults imitate the competition's test clips."""

    sample_rate: int = dataclasses.field(  # output rate, Hz: the test clips' (mono)
        default_factory=lambda: _task_fact("sample_rate"))
    clip_seconds: float = dataclasses.field(  # output length, seconds: the test clips'
        default_factory=lambda: _task_fact("clip_seconds"))
    stem_types: tuple[str, ...] = STEM_TYPES  # stem types in every mashup; keep "other"
    distinct_songs: bool = True  # each stem type from another song of the genre when possible
    tempo_bpm_range: tuple[float, float] = (70.0, 170.0)  # common target tempo, uniform, BPM
    stretch_rate_range: tuple[float, float] = (0.6, 1.7)  # clamp of the stretch (>1 = faster)
    tempo_from: str = "drums"  # tempo from the "drums" stem (the sum if it has no beat) or "mix"
    fallback_tempo_bpm: float = 120.0  # a song's tempo when no beat is found (ambient, silence)
    gain_db_range: tuple[float, float] = (-9.0, 3.0)  # random gain per stem, dB, uniform
    snr_db_range: tuple[float, float] = (0.0, 20.0)  # music-to-noise ratio, dB, uniform
    p_noise: float = 1.0  # share of mashups that get a noise clip (test clips all have one)
    peak: float = 0.9  # the output is scaled to this peak amplitude
    align_beats: bool = True  # start each stem on one of its beats, so the stems line up
    silence_dbfs: float = -60.0  # a stem or noise clip with RMS below this is skipped as silent
    min_file_bytes: int = 4096  # smaller files are skipped as corrupt (real data: < 4 KB files)
    subtype: str = "PCM_16"  # WAV sample format of the written mashups

    def __post_init__(self) -> None:
        unknown = [s for s in self.stem_types if s not in STEM_TYPES]
        if unknown or not self.stem_types:
            raise ValueError(f"stem_types {self.stem_types}: choose from {STEM_TYPES}")
        if self.tempo_from not in ("drums", "mix"):
            raise ValueError(f"tempo_from={self.tempo_from!r}; choose 'drums' or 'mix'")
        for name in ("tempo_bpm_range", "stretch_rate_range", "gain_db_range", "snr_db_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}={getattr(self, name)}: low > high")
        if self.stretch_rate_range[0] <= 0 or self.tempo_bpm_range[0] <= 0:
            raise ValueError("tempo and stretch rates must be positive")

    @property
    def n_samples(self) -> int:
        """Samples in one mashup."""
        return int(round(self.clip_seconds * self.sample_rate))


@dataclass(frozen=True)
class SongInfo:
    """A song after scanning: its usable stems, tempo and beats."""

    genre: str
    song_id: str
    fold: int
    stems: tuple[tuple[str, str], ...]  # (stem type, path) of every usable stem
    seconds: float  # length of the longest usable stem
    tempo_bpm: float
    tempo_source: str  # "drums", "mix" (drums missing or beatless) or "fallback" (no beat)
    beats: tuple[float, ...]  # beat times, seconds

    def stem_path(self, stem_type: str) -> str | None:
        return dict(self.stems).get(stem_type)


@dataclass(frozen=True)
class StemPart:
    """One stem of one mashup."""

    stem_type: str
    song_id: str
    path: str
    start_seconds: float  # where in the source stem the mashup starts (a beat when aligned)
    rate: float  # time-stretch rate (> 1 = faster)
    gain_db: float


@dataclass(frozen=True)
class MashupRecipe:
    """Every random choice of one mashup, fixed before rendering (picklable)."""

    genre: str
    fold: int
    index: int
    filename: str  # relative to the output folder
    tempo_bpm: float  # the common target tempo
    parts: tuple[StemPart, ...]
    noise_path: str | None
    noise_offset: float  # where the noise clip starts, as a fraction of its length
    snr_db: float | None  # None: no noise


@dataclass(frozen=True)
class MashupAudio:
    """One rendered mashup, float32 ``(n_samples,)`` at the output rate, after normalisation."""

    music: np.ndarray  # the summed, stretched stems
    noise: np.ndarray  # the noise as mixed (scaled); zeros without noise
    mixture: np.ndarray  # music + noise, what is written

    @property
    def snr_db(self) -> float:
        """Achieved music-to-noise ratio, dB (inf without noise)."""
        noise_power = float(np.mean(self.noise.astype(np.float64) ** 2))
        if noise_power == 0.0:
            return math.inf
        return 10.0 * math.log10(float(np.mean(self.music.astype(np.float64) ** 2))
                                 / noise_power)


# ---------------------------------------------------------------------------------------------
# Listing songs and folds.


def list_songs(stems_root: str | Path) -> pd.DataFrame:
    """Songs of a stems folder laid out ``<root>/<genre>/<song_id>/<stem>.wav``.

    Returns ``genre, song_id`` (strings), sorted. Raises ``FileNotFoundError`` naming the folder
    when it holds no song folder.
    """
    stems_root = Path(stems_root)
    rows = [(g.name, s.name) for g in sorted(stems_root.iterdir()) if g.is_dir()
            for s in sorted(g.iterdir()) if s.is_dir()] if stems_root.is_dir() else []
    if not rows:
        raise FileNotFoundError(f"{stems_root} holds no <genre>/<song_id>/ folders of stems")
    return pd.DataFrame(rows, columns=["genre", "song_id"], dtype=object)


def assign_song_folds(songs_df: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    """``songs_df`` plus a ``fold`` column: song-level folds stratified by genre.

    Every genre is split as evenly as possible over the folds (``StratifiedKFold``), so each
    fold can make mashups of every genre. A genre with fewer songs than folds raises an error.
    """
    from sklearn.model_selection import StratifiedKFold

    counts = songs_df["genre"].value_counts()
    if (counts < n_folds).any():
        raise ValueError(f"genres with fewer songs than folds ({n_folds}): "
                         f"{sorted(counts[counts < n_folds].index)}; lower n_folds")
    out = songs_df.reset_index(drop=True).copy()
    out["fold"] = -1
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, val) in enumerate(splitter.split(np.zeros(len(out)), out["genre"])):
        out.loc[val, "fold"] = k
    return out


# ---------------------------------------------------------------------------------------------
# Scanning stems and noise clips (in worker processes).


def _find_audio(folder: Path, stem: str) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def check_audio(path: Path, cfg: MashupConfig) -> tuple[np.ndarray | None, str]:
    """Decode ``path`` to mono at ``cfg.sample_rate``; ``(None, reason)`` when it is unusable."""
    size = path.stat().st_size
    if size < cfg.min_file_bytes:
        return None, f"corrupt: {size} bytes < {cfg.min_file_bytes}"
    try:
        wave = load_audio(path, cfg.sample_rate)
    except AudioDecodeError as err:
        return None, f"undecodable: {err.__cause__ or err}"
    if wave.size < cfg.sample_rate // 10:
        return None, f"too short: {wave.size} samples"
    if not np.isfinite(wave).all():
        return None, "non-finite samples"
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    rms_dbfs = 20.0 * math.log10(rms + 1e-12)
    if rms_dbfs < cfg.silence_dbfs:
        return None, f"silent: RMS {rms_dbfs:.0f} dBFS < {cfg.silence_dbfs:g} dBFS"
    return wave, ""


def estimate_tempo(wave: np.ndarray, sample_rate: int, fallback_bpm: float
                   ) -> tuple[float, tuple[float, ...], bool]:
    """``(tempo BPM, beat times in seconds, found)`` of a mono waveform.

    ``librosa.beat.beat_track``; when it finds no tempo or fewer than two beats (silence,
    ambient pads), ``(fallback_bpm, (), False)``.
    """
    import librosa

    tempo, beats = librosa.beat.beat_track(y=wave.astype(np.float32), sr=sample_rate,
                                           units="time")
    tempo = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
    if not math.isfinite(tempo) or tempo <= 0.0 or len(beats) < 2:
        return float(fallback_bpm), (), False
    return tempo, tuple(round(float(b), 4) for b in beats), True


def scan_song(genre: str, song_id: str, fold: int, song_dir: str, cfg: MashupConfig
              ) -> tuple[SongInfo | None, list[dict[str, str]]]:
    """Check one song's stems and estimate its tempo.

    Returns ``(song, skipped)``: ``song`` is ``None`` when no stem is usable; ``skipped`` lists
    ``SKIPPED_COLUMNS`` records of the stems that were left out and why.
    """
    folder = Path(song_dir)
    waves: dict[str, np.ndarray] = {}
    paths: dict[str, str] = {}
    skipped: list[dict[str, str]] = []
    for stem_type in cfg.stem_types:
        path = _find_audio(folder, stem_type)
        if path is None:
            skipped.append({"genre": genre, "song_id": song_id, "stem": stem_type,
                            "path": str(folder / f"{stem_type}.wav"), "reason": "missing"})
            continue
        wave, reason = check_audio(path, cfg)
        if wave is None:
            skipped.append({"genre": genre, "song_id": song_id, "stem": stem_type,
                            "path": str(path), "reason": reason})
            continue
        waves[stem_type], paths[stem_type] = wave, str(path)
    if not waves:
        return None, skipped
    mix = np.zeros(max(w.size for w in waves.values()), dtype=np.float32)
    for wave in waves.values():
        mix[: wave.size] += wave
    tracks = [("mix", mix)]
    if cfg.tempo_from == "drums" and "drums" in waves:
        # Drums carry the beat most clearly; sparse ones (a few timpani hits) may not: then
        # the sum of the stems gets its chance.
        tracks.insert(0, ("drums", waves["drums"]))
    source, tempo, beats = "fallback", float(cfg.fallback_tempo_bpm), ()
    for name, track in tracks:
        estimate, beat_times, found = estimate_tempo(track, cfg.sample_rate, tempo)
        if found:
            source, tempo, beats = name, estimate, beat_times
            break
    seconds = max(w.size for w in waves.values()) / cfg.sample_rate
    song = SongInfo(genre, song_id, int(fold), tuple((t, paths[t]) for t in cfg.stem_types
                                                     if t in paths),
                    round(seconds, 3), round(tempo, 3), source, beats)
    return song, skipped


def scan_noise(path: str, cfg: MashupConfig) -> tuple[str, str]:
    """``(path, "")`` for a usable noise clip, else ``(path, reason)``."""
    wave, reason = check_audio(Path(path), cfg)
    return path, "" if wave is not None else reason


# ---------------------------------------------------------------------------------------------
# Planning (all random choices) and rendering.


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
    usable stem at all cannot exist here (:func:`scan_song` drops such songs), and one with no
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

    from common.audio.augment import add_noise_at_snr

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

    A file that already exists is kept (a resumed run; :func:`generate_mashups` has checked
    that the config and seed are unchanged). Returns the ``mashups.csv`` row.
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


# ---------------------------------------------------------------------------------------------
# The entry point.


def _check_config_unchanged(out_dir: Path, cfg: MashupConfig, seed: int,
                            n_per_genre_per_fold: int) -> None:
    record = {"seed": seed, "n_per_genre_per_fold": n_per_genre_per_fold,
              "config": config_to_dict(cfg)}
    path = out_dir / CONFIG_JSON
    if path.is_file():
        previous = json.loads(path.read_text())
        same = {k: v for k, v in previous.items() if k != "n_per_genre_per_fold"} == {
            k: v for k, v in record.items() if k != "n_per_genre_per_fold"}
        if not same:
            raise FileExistsError(f"{out_dir} holds mashups made with another config or seed "
                                  f"({path}); use an empty folder or delete it")
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def generate_mashups(stems_root: str | Path, noise_dir: str | Path | None, out_dir: str | Path,
                     folds_df: pd.DataFrame, n_per_genre_per_fold: int,
                     cfg: MashupConfig | None = None, seed: int = 0, workers: int = 1,
                     pool: Executor | None = None) -> pd.DataFrame:
    """Write ``n_per_genre_per_fold`` mashups for every (genre, fold) of ``folds_df``.

    Args:
        stems_root: ``<genre>/<song_id>/{drums,vocals,bass,other}.wav`` (any rate, stereo ok).
        noise_dir: noise clips (any audio files, searched recursively); ``None``: no noise.
        out_dir: receives ``<genre>/<genre>_f<fold>_<index>.wav``, ``mashups.csv``,
            ``skipped_files.csv``, ``mashup_songs.csv`` and ``mashup_config.json``. Mashups
            already there (a stopped run) are kept when the config and seed are the same.
        folds_df: ``genre, song_id, fold`` (fold >= 0) of the songs to use, e.g. from
            :func:`assign_song_folds`; songs not listed are not used.
        n_per_genre_per_fold: mashups per (genre, fold) pair.
        cfg: the recipe (default :class:`MashupConfig`).
        seed: the same seed gives the same mashups on any worker count.
        workers: processes (scanning, tempo tracking and rendering run in them).
        pool: a running :func:`common.core.parallel.process_pool` to use instead (its workers have
            paid their librosa import already); ``workers`` is then ignored.

    Returns:
        The ``mashups.csv`` table: ``filename`` (relative to ``out_dir``), ``genre``, ``fold``,
        ``index``, ``tempo_bpm`` (target), ``<stem>_song`` per stem type, ``songs``,
        ``n_stems``, ``stretch_rates``, ``gains_db``, ``noise_file`` (relative to ``noise_dir``),
        ``snr_db``.
    """
    cfg = cfg or MashupConfig()
    stems_root, out_dir = Path(stems_root), Path(out_dir)
    missing_columns = {"genre", "song_id", "fold"} - set(folds_df.columns)
    if missing_columns:
        raise ValueError(f"folds_df lacks columns {sorted(missing_columns)}")
    folds_df = folds_df.astype({"genre": str, "song_id": str})
    if (folds_df["fold"].astype(int) < 0).any():
        raise ValueError("folds_df has negative folds; every song needs a fold >= 0")
    _check_config_unchanged(out_dir, cfg, seed, n_per_genre_per_fold)

    jobs = [(g, s, int(k), str(stems_root / g / s), cfg)
            for g, s, k in zip(folds_df["genre"], folds_df["song_id"], folds_df["fold"])]
    absent = [job[3] for job in jobs if not Path(job[3]).is_dir()]
    if absent:
        raise FileNotFoundError(f"{len(absent)} songs of folds_df have no folder, e.g. "
                                f"{absent[0]}: check stems_root")
    noise_files: list[str] = []
    noise_root = None if noise_dir is None else str(noise_dir)
    if noise_dir is not None:
        noise_files = sorted(str(p) for p in Path(noise_dir).rglob("*")
                             if p.suffix.lower() in AUDIO_SUFFIXES)
        if not noise_files:
            raise FileNotFoundError(f"{noise_dir} holds no audio files; pass noise_dir=None "
                                    "for mashups without noise")

    owned = pool is None
    pool = process_pool(workers) if owned else pool
    try:
        scanned = parallel_map(scan_song, jobs, workers, "scan stems", "song", pool, star=True)
        noise_checked = parallel_map(scan_noise, [(p, cfg) for p in noise_files], workers,
                                     "scan noise", "file", pool, star=True)
        songs = [song for song, _ in scanned if song is not None]
        skipped = [record for _, records in scanned for record in records]
        skipped += [{"genre": "", "song_id": "", "stem": "noise", "path": p, "reason": r}
                    for p, r in noise_checked if r]
        good_noise = [p for p, r in noise_checked if not r]
        if noise_files and not good_noise:
            raise ValueError(f"no usable noise clip in {noise_dir} (all corrupt or silent)")
        usable = {(s.genre, s.fold) for s in songs}
        empty = sorted({(g, k) for g, _, k, _, _ in jobs} - usable)
        if empty:
            _write_skipped(out_dir, skipped)
            raise ValueError(f"genre-folds {empty[:5]} have no usable stem in any song; see "
                             f"the reasons in {out_dir / SKIPPED_CSV}")
        recipes = plan_mashups(songs, good_noise, n_per_genre_per_fold, cfg, seed)
        renders = [(r, cfg, str(out_dir), noise_root) for r in recipes]
        rows = parallel_map(render_and_write, renders, workers, "render mashups", "mashup",
                            pool, star=True)
    finally:
        if owned and pool is not None:
            pool.shutdown(cancel_futures=True)

    _write_skipped(out_dir, skipped)
    songs_df = pd.DataFrame([{**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)
                                 if f.name not in ("stems", "beats")},
                              "stems": ";".join(t for t, _ in s.stems),
                              "n_beats": len(s.beats)} for s in songs])
    songs_df.to_csv(out_dir / SONGS_CSV, index=False)
    mashups_df = pd.DataFrame(rows)
    mashups_df.to_csv(out_dir / MASHUPS_CSV, index=False)
    for record in skipped[:10]:
        log.warning("skipped %s stem %s: %s", record["stem"], record["path"], record["reason"])
    if skipped:
        log.warning("%d stems or noise clips skipped in all; list: %s", len(skipped),
                    out_dir / SKIPPED_CSV)
    log.info("mashups: %d written to %s from %d songs (%d genre-folds), %d noise clips, "
             "%d files skipped", len(mashups_df), out_dir, len(songs), len(usable),
             len(good_noise), len(skipped))
    return mashups_df


def _write_skipped(out_dir: Path, skipped: list[dict[str, str]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(skipped, columns=SKIPPED_COLUMNS).to_csv(out_dir / SKIPPED_CSV, index=False)
