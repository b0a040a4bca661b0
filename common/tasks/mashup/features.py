"""The mashup feature baseline, part 1: 194 summary statistics per 30-s clip (the features).

The winning write-up's first model, kept as a strong, fast, comparable baseline: ~200 numbers per
30-s clip, a logistic regression and a tree ensemble, out-of-fold predictions on the same folds
as the CNN, and a blend whose weights are chosen on those predictions.

Feature layout (:data:`FEATURE_NAMES`, 194 values, float32), from one STFT (``n_fft`` 2048,
hop 512) of the whole clip:

====================  =====  ==================================================================
block                 size   what
====================  =====  ==================================================================
``mfcc_mean_00..39``  40     mean over frames of 40 MFCCs (128-band mel, dB re 1.0: absolute
``mfcc_std_*``        40     level, so silence is -100 dB rather than a relative 0 dB)
``mfcc_max_*``        40
``mfcc_min_*``        40
``chroma_mean_C..B``  12     mean chroma (12 pitch classes, tuning fixed at A440)
``contrast_mean_0..6`` 7     mean spectral contrast (6 octave bands + the residual)
``<d>_mean``/``_std`` 12     d in centroid, bandwidth, rolloff (Hz), flatness, zcr, rms
``tempo_bpm``         1      global tempo of the onset envelope
``onset_mean/_std``   2      onset strength statistics
====================  =====  ==================================================================

The models fitted on these features, their out-of-fold predictions and the blend weights are
:mod:`common.tasks.mashup.feature_models`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

from common.audio.io import AudioDecodeError, load_audio
from common.core.parallel import parallel_map

log = logging.getLogger(__name__)

__all__ = ["FEATURE_NAMES", "extract_features", "extract_file_features"]

N_MFCC = 40
N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_DESCRIPTORS = ("centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms")
_DB_FLOOR = 1e-10  # -100 dB: the level of digital silence in the log-mel


def _feature_names() -> tuple[str, ...]:
    names = [f"mfcc_{stat}_{i:02d}" for stat in ("mean", "std", "max", "min")
             for i in range(N_MFCC)]
    names += [f"chroma_mean_{p}" for p in _PITCH_CLASSES]
    names += [f"contrast_mean_{i}" for i in range(7)]
    names += [f"{d}_{stat}" for d in _DESCRIPTORS for stat in ("mean", "std")]
    names += ["tempo_bpm", "onset_mean", "onset_std"]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _feature_names()


def extract_features(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The :data:`FEATURE_NAMES` vector of one clip.

    Args:
        wave: ``(samples,)`` mono, any float dtype; shorter than one FFT frame is zero-padded.
        sample_rate: Hz (the task's ``sample_rate``).

    Returns:
        ``(194,)`` float32, finite for any finite input (silence included).
    """
    import librosa

    y = np.asarray(wave, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a mono waveform (samples,), got shape {y.shape}")
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    power = magnitude**2
    mel = librosa.feature.melspectrogram(S=power, sr=sample_rate, n_mels=N_MELS)
    log_mel = librosa.power_to_db(mel, ref=1.0, amin=_DB_FLOOR, top_db=None)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    # tuning=0: estimating it fails on silence and costs time; the features need no A440 shift.
    chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate, tuning=0.0)
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sample_rate)
    descriptors = (
        librosa.feature.spectral_centroid(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_bandwidth(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_rolloff(S=magnitude, sr=sample_rate),
        librosa.feature.spectral_flatness(S=magnitude),
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH),
        librosa.feature.rms(S=magnitude, frame_length=N_FFT),
    )
    onset = librosa.onset.onset_strength(S=log_mel, sr=sample_rate)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=sample_rate, hop_length=HOP_LENGTH)
    parts = [mfcc.mean(axis=1), mfcc.std(axis=1), mfcc.max(axis=1), mfcc.min(axis=1),
             chroma.mean(axis=1), contrast.mean(axis=1)]
    parts += [np.array([d.mean(), d.std()]) for d in descriptors]
    parts.append(np.array([float(np.atleast_1d(tempo)[0]), onset.mean(), onset.std()]))
    out = np.concatenate(parts).astype(np.float32)
    if out.shape != (len(FEATURE_NAMES),):  # guards the documented layout
        raise AssertionError(f"feature vector has {out.size} values, names {len(FEATURE_NAMES)}")
    return out


def file_features(path: str, sample_rate: int, max_seconds: float | None
                  ) -> tuple[np.ndarray, str]:
    """``(features, "")`` of one audio file, or (features of silence, the decode error)."""
    try:
        wave = load_audio(path, sample_rate, max_seconds=max_seconds)
    except AudioDecodeError as err:
        return extract_features(np.zeros(N_FFT, np.float32), sample_rate), str(err)
    return extract_features(wave, sample_rate), ""


def extract_file_features(paths: Sequence[str | Path], sample_rate: int,
                          workers: int = 1, max_seconds: float | None = None,
                          pool: Executor | None = None) -> tuple[np.ndarray, list[str]]:
    """Features of many files, in parallel, with a progress bar.

    Args:
        paths: audio files (decoded to mono at ``sample_rate``).
        workers: processes (or ``pool``, a :func:`common.core.parallel.process_pool`).
        max_seconds: read at most this much of each file (``None``: all of it).

    Returns:
        ``(X, failed)``: ``X`` ``(files, 194)`` float32 in ``paths`` order; ``failed`` lists
        ``"<path>: <reason>"`` for files that did not decode, whose rows hold the features of
        silence (so a test clip still gets a prediction), each also logged as a warning.
    """
    results = parallel_map(file_features, [(str(p), sample_rate, max_seconds) for p in paths],
                           workers, "features", "file", pool, star=True)
    failed = [error for _, error in results if error]
    for error in failed:
        log.warning("features of silence for an undecodable file: %s", error)
    X = np.stack([f for f, _ in results]) if results else np.zeros((0, len(FEATURE_NAMES)),
                                                                    np.float32)
    return X.astype(np.float32), failed

