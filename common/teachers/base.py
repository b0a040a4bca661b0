"""The teacher interface: a pretrained classifier over its own label list, run on our windows.

A teacher takes a batch of waveforms cut to its own window (``window_seconds`` at its own
``sample_rate``) and returns probabilities over its own labels. The competition works in 5-s
windows at 32 kHz, so :meth:`Teacher.predict_windows` does the bridging once, for every teacher:
resample, cut the teacher's windows so that they cover each competition window (evenly spaced,
overlapping when the lengths do not divide), run them in batches and pool per window by max
(a call anywhere in the window counts, as in the competition labels).

Optional dependencies stay optional: a teacher imports its backend when it is built, and a
missing backend raises :class:`TeacherBackendMissing` naming the exact ``pip install``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


class TeacherBackendMissing(ImportError):
    """A teacher's runtime (TFLite, TensorFlow, onnxruntime) is not installed.

    The message says exactly what to ``pip install``.
    """


class TeacherModelNotFound(FileNotFoundError):
    """A teacher's model or label file is not where it was looked for; the message lists the
    places tried and how to provide the file."""


@dataclass(frozen=True)
class TeacherLabels:
    """A teacher's label list, one entry per output column, in output order.

    ``scientific_names`` is what the mapping matches on; ``ebird_codes`` holds the eBird code
    where the teacher gives one ('' otherwise; BirdNET gives none, Perch gives them for birds).
    """

    scientific_names: tuple[str, ...]
    common_names: tuple[str, ...]
    ebird_codes: tuple[str, ...]

    def __post_init__(self) -> None:
        sizes = {len(self.scientific_names), len(self.common_names), len(self.ebird_codes)}
        if len(sizes) != 1:
            raise ValueError(f"label columns differ in length: {sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.scientific_names)

    @property
    def has_ebird_codes(self) -> bool:
        """True when at least one label carries an eBird code."""
        return any(self.ebird_codes)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise logistic function, overflow-safe; float32 in, float32 out."""
    logits = np.asarray(logits, dtype=np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)


def resample_waves(waves: np.ndarray, from_rate: int, to_rate: int,
                   res_type: str = "soxr_hq") -> np.ndarray:
    """Resample each row of ``(n, samples)`` from ``from_rate`` to ``to_rate`` Hz.

    ``res_type`` is librosa's: ``soxr_hq`` (what :func:`common.audio.io.load_audio` uses),
    ``kaiser_fast`` (resampy; what BirdNET's reference code uses), ``polyphase`` (scipy).
    Returns float32 ``(n, round(samples * to_rate / from_rate))``.
    """
    waves = np.asarray(waves, dtype=np.float32)
    if from_rate == to_rate or waves.shape[-1] == 0:
        return waves
    import librosa  # a pipeline dependency; imported here to keep `import common.teachers` light

    out = librosa.resample(waves, orig_sr=from_rate, target_sr=to_rate, res_type=res_type,
                           axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def cover_starts(window_samples: int, teacher_samples: int) -> np.ndarray:
    """Start offsets (samples) of the teacher windows that cover one competition window.

    ``ceil(window / teacher)`` windows, evenly spaced from 0 to ``window - teacher``: a 5-s
    window and a 3-s teacher give starts 0 s and 2 s (1 s overlap), so every sample is heard
    and none is padding. A teacher window as long as or longer than ours gives one start, 0
    (the rest is zero padding, see :func:`cut_teacher_windows`).
    """
    if window_samples <= teacher_samples:
        return np.zeros(1, dtype=np.int64)
    n = -(-window_samples // teacher_samples)
    return np.round(np.linspace(0, window_samples - teacher_samples, n)).astype(np.int64)


def cut_teacher_windows(waves: np.ndarray, teacher_samples: int) -> tuple[np.ndarray, int]:
    """Cut each row of ``(n, samples)`` into the teacher windows that cover it.

    Returns ``(n * k, teacher_samples)`` float32, row-major by window (the ``k`` pieces of
    window 0 first), and ``k``. Rows shorter than the teacher window are zero-padded at the end.
    """
    waves = np.asarray(waves, dtype=np.float32)
    n, samples = waves.shape
    starts = cover_starts(samples, teacher_samples)
    pieces = np.zeros((n, len(starts), teacher_samples), dtype=np.float32)
    for j, start in enumerate(starts):
        chunk = waves[:, start:start + teacher_samples]
        pieces[:, j, :chunk.shape[1]] = chunk
    return pieces.reshape(n * len(starts), teacher_samples), len(starts)


def run_in_batches(fn: Callable[[np.ndarray], np.ndarray], rows: np.ndarray,
                   batch_size: int) -> np.ndarray:
    """Apply ``fn`` to ``rows`` in chunks of ``batch_size`` rows and stack the results."""
    if len(rows) == 0:
        raise ValueError("no windows to run the teacher on")
    outs = [fn(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
    return np.concatenate(outs, axis=0)


class Teacher(ABC):
    """A pretrained classifier used as a teacher.

    Subclasses set the class facts (``name``, ``sample_rate``, ``window_seconds``,
    ``has_embedding``), fill ``self.labels`` and ``self.batch_size`` and implement
    :meth:`logits`; they override :meth:`activate` when the model's own output activation is
    not a plain sigmoid, and :meth:`embed` where the model exposes an embedding.
    """

    name: ClassVar[str]
    sample_rate: ClassVar[int]  # Hz the model expects
    window_seconds: ClassVar[float]  # length of one model input
    has_embedding: ClassVar[bool] = False
    # The resampler the model's reference pipeline uses: teachers can be sensitive to it
    # (BirdNET's top species on a real clip changes between soxr_hq and kaiser_fast).
    resample_type: ClassVar[str] = "soxr_hq"

    labels: TeacherLabels
    batch_size: int = 16  # teacher windows per model call

    @property
    def window_samples(self) -> int:
        """Samples in one model input (3 s x 48 kHz = 144000 for BirdNET)."""
        return int(round(self.window_seconds * self.sample_rate))

    @abstractmethod
    def logits(self, waves: np.ndarray) -> np.ndarray:
        """Raw scores: ``(n, window_samples)`` float32 at ``sample_rate`` -> ``(n, n_labels)``."""

    def activate(self, logits: np.ndarray) -> np.ndarray:
        """Logits -> probabilities in [0, 1] (default: sigmoid, the models are multi-label)."""
        return sigmoid(logits)

    def predict(self, waves: np.ndarray) -> np.ndarray:
        """Probabilities: ``(n, window_samples)`` at ``sample_rate`` -> ``(n, n_labels)``."""
        return self.activate(self.logits(waves))

    def embed(self, waves: np.ndarray) -> np.ndarray:
        """Embeddings: ``(n, window_samples)`` -> ``(n, dim)``; only where ``has_embedding``."""
        raise NotImplementedError(f"teacher {self.name!r} exposes no embedding")

    def _check_input(self, waves: np.ndarray) -> np.ndarray:
        waves = np.asarray(waves, dtype=np.float32)
        if waves.ndim != 2 or waves.shape[1] != self.window_samples:
            raise ValueError(f"{self.name} expects (n, {self.window_samples}) samples at "
                             f"{self.sample_rate} Hz, got {waves.shape}")
        return np.ascontiguousarray(waves)

    def _teacher_pieces(self, waves: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        waves = np.asarray(waves, dtype=np.float32)
        if waves.ndim != 2:
            raise ValueError(f"expected (n_windows, samples), got {waves.shape}")
        resampled = resample_waves(waves, sample_rate, self.sample_rate, self.resample_type)
        return cut_teacher_windows(resampled, self.window_samples)

    def window_logits(self, waves: np.ndarray, sample_rate: int) -> np.ndarray:
        """Max-pooled logits for windows of any length and rate: ``(n, samples)`` ->
        ``(n, n_labels)``; the activation is monotone, so pooling commutes with it."""
        pieces, k = self._teacher_pieces(waves, sample_rate)
        out = run_in_batches(self.logits, pieces, self.batch_size)
        return out.reshape(len(waves), k, -1).max(axis=1)

    def predict_windows(self, waves: np.ndarray, sample_rate: int) -> np.ndarray:
        """Teacher probabilities for our windows (e.g. the competition's 5-s windows).

        Args:
            waves: ``(n_windows, samples)`` float32 at ``sample_rate``; the window length is
                ``samples / sample_rate`` seconds (5 s x 32 kHz = 160000 samples).
            sample_rate: Hz of ``waves``.

        Returns:
            ``(n_windows, n_labels)`` float32: per window, the max over the teacher windows
            that cover it (:func:`cover_starts`), columns in ``self.labels`` order.
        """
        return self.activate(self.window_logits(waves, sample_rate))

    def embed_windows(self, waves: np.ndarray, sample_rate: int) -> np.ndarray:
        """Embeddings for our windows: ``(n_windows, samples)`` -> ``(n_windows, dim)``, the
        mean over the teacher windows that cover each one."""
        pieces, k = self._teacher_pieces(waves, sample_rate)
        out = run_in_batches(self.embed, pieces, self.batch_size)
        return out.reshape(len(waves), k, -1).mean(axis=1)
