"""The mashup generator: per-genre mashups, the "messy mashup" test domain, out of training stems.

The test clips of the mashup competition are not songs: each mixes stems of *different* songs of
one genre, tempo-warped to sync, over environmental noise at a random SNR, at 22.05 kHz mono,
30 s long. A model trained on the original songs meets a different domain at test time; the
winning recipe was to simulate that domain and train on the simulation. :func:`generate_mashups`
does it, in parallel worker processes::

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
   :func:`common.audio.wave_ops.add_noise_at_snr`, which does the mixing: mean-square power over
   the whole 30-s output), peak-normalised to ``peak``;
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

The pieces: :mod:`common.tasks.mashup.recipe` (the config and records),
:mod:`common.tasks.mashup.stems` (song listing, folds, stem checks and tempo),
:mod:`common.tasks.mashup.render` (planning and rendering one mashup).
"""


from __future__ import annotations

import dataclasses
import json
import logging
from concurrent.futures import Executor
from pathlib import Path

import pandas as pd

from common.core.config import config_to_dict
from common.core.parallel import parallel_map, process_pool
from common.tasks.mashup.recipe import AUDIO_SUFFIXES, MashupConfig
from common.tasks.mashup.render import plan_mashups, render_and_write
from common.tasks.mashup.stems import SKIPPED_COLUMNS, scan_noise, scan_song

log = logging.getLogger(__name__)

__all__ = ["generate_mashups"]

MASHUPS_CSV = "mashups.csv"
SKIPPED_CSV = "skipped_files.csv"
SONGS_CSV = "mashup_songs.csv"
CONFIG_JSON = "mashup_config.json"



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
