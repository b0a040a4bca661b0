"""Decoding audio files to mono float32 at the pipeline's sample rate.

soundfile (libsndfile) decodes OGG/FLAC/WAV quickly and can stop after N seconds, which matters
for 30k focal clips; librosa's soxr resampler handles the rare file at another rate. Every error
names the file, so a bad recording in a 16 GB dataset is found in one look.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


class AudioDecodeError(RuntimeError):
    """A file that cannot be decoded; the message names the file and the reason."""


def load_audio(
    path: str | Path,
    sample_rate: int = 32000,
    offset_seconds: float = 0.0,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to a mono float32 waveform.

    Args:
        path: audio file (OGG, FLAC, WAV, anything libsndfile reads).
        sample_rate: target rate in Hz; other rates are resampled with soxr.
        offset_seconds: start reading here.
        max_seconds: read at most this many seconds (``None``: to the end).

    Returns:
        ``(samples,)`` float32 in [-1, 1].

    Raises:
        AudioDecodeError: the file is missing, empty or not decodable.
    """
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            native_rate = handle.samplerate
            start = int(round(offset_seconds * native_rate))
            if start:
                handle.seek(min(start, handle.frames))
            frames = -1 if max_seconds is None else int(round(max_seconds * native_rate))
            data = handle.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise AudioDecodeError(f"{path}: cannot decode ({err})") from err
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if native_rate != sample_rate and wave.size:
        import librosa  # imported lazily: only the rare off-rate file pays for it

        wave = librosa.resample(wave, orig_sr=native_rate, target_sr=sample_rate,
                                res_type="soxr_hq")
    return np.ascontiguousarray(wave, dtype=np.float32)


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the file header (no decoding); raises AudioDecodeError."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioDecodeError(f"{path}: cannot read header ({err})") from err
    return float(info.frames) / float(info.samplerate)


def window_frames(wave: np.ndarray, window_samples: int,
                  n_windows: int | None = None) -> np.ndarray:
    """Cut a waveform into consecutive non-overlapping windows, zero-padding the last one.

    Args:
        wave: ``(samples,)``.
        window_samples: samples per window (5 s x 32 kHz = 160000).
        n_windows: number of windows wanted; ``None`` takes ``ceil(samples / window_samples)``.

    Returns:
        ``(n_windows, window_samples)`` float32.
    """
    if n_windows is None:
        n_windows = max(1, -(-len(wave) // window_samples))
    out = np.zeros((n_windows, window_samples), dtype=np.float32)
    usable = min(len(wave), n_windows * window_samples)
    flat = out.reshape(-1)
    flat[:usable] = wave[:usable]
    return out
