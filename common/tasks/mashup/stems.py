"""Songs and noise clips for the mashup generator: listing, song-level folds, checking, tempo.

:func:`list_songs` and :func:`assign_song_folds` make the song table and its genre-stratified
folds; :func:`scan_song` checks one song's stems (corrupt, undecodable or silent files are skipped
with a reason, ``SKIPPED_COLUMNS``) and estimates its tempo and beats; :func:`scan_noise` checks
one noise clip. The scans run in worker processes of :func:`common.tasks.mashup.generation
.generate_mashups`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from common.audio.io import AudioDecodeError, load_audio
from common.tasks.mashup.recipe import AUDIO_SUFFIXES, MashupConfig, SongInfo

__all__ = ["assign_song_folds", "check_audio", "estimate_tempo", "list_songs", "scan_noise",
           "scan_song"]

SKIPPED_COLUMNS = ["genre", "song_id", "stem", "path", "reason"]



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

