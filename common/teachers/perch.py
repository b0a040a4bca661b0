"""Perch v2 (Google) as a teacher: a TF SavedModel from Kaggle Models, or an ONNX export of it.

UNVERIFIED: written against the published signature; the model cannot be downloaded on the
development machine, so this adapter has never run against the real weights. What is tested
without the model: path discovery, label parsing, output picking, and the whole call path
through stand-in TensorFlow / onnxruntime modules. Run it once on Kaggle before trusting it.

The published model (Kaggle Models ``google/bird-vocalization-classifier``, framework
TensorFlow2, variation ``perch_v2`` (GPU) or ``perch_v2_cpu``; attach it to a notebook through
``model_sources``; Kaggle mounts it at
``/kaggle/input/bird-vocalization-classifier/tensorflow2/<variation>/<version>/``):

- input: ``(batch, 160000)`` float32, 5 s of mono audio at 32 kHz (the competition's window);
- ``model.signatures["serving_default"](inputs=x)`` returns a dict with ``label``
  (``(batch, 14795)`` logits), ``embedding`` (``(batch, 1536)``), ``spatial_embedding`` and
  ``spectrogram``;
- ``assets/labels.csv``: a header line naming the namespace (``inat2024_fsd50k``), then one
  class per line in output order (scientific names, plus some FSD50K sound classes);
  ``assets/perch_v2_ebird_classes.csv``: a header, then the eBird code of each class in the
  same order, or ``no_ebird_code``.

Perch v1 (``bird-vocalization-classifier`` variation, ``assets/label.csv`` with an ``ebird2021``
header and eBird codes) parses too: its labels carry codes but no scientific names.
Needs TensorFlow >= 2.20 for the SavedModel (Kaggle's images ship it), or onnxruntime for an
ONNX file.
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import numpy as np

from common.teachers.base import (
    Teacher,
    TeacherBackendMissing,
    TeacherLabels,
    TeacherModelNotFound,
)

KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_MODEL_SLUG = "google/bird-vocalization-classifier"
LABEL_FILES = ("labels.csv", "label.csv")  # Perch v2, Perch v1
EBIRD_FILE = "perch_v2_ebird_classes.csv"
NO_EBIRD_CODE = "no_ebird_code"
EMBEDDING_DIM = 1536
TF_HINT = "pip install tensorflow-cpu==2.21.0 (Perch v2 needs TensorFlow >= 2.20)"
ORT_HINT = "pip install onnxruntime==1.31.1"
MODEL_HINT = (f"attach Kaggle model {KAGGLE_MODEL_SLUG} (TensorFlow2, variation perch_v2_cpu or "
              "perch_v2) to the notebook, or pass model_dir= (a SavedModel folder, or an .onnx "
              "file with labels_dir= the folder holding labels.csv)")


def _read_rows(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [row[0].strip() for row in csv.reader(handle) if row and row[0].strip()]


def parse_perch_labels(label_rows: list[str], ebird_rows: list[str] | None = None,
                       source: str = "labels.csv") -> TeacherLabels:
    """Perch label rows (first column of each CSV line, header included) -> TeacherLabels.

    The first row of each file is its header (a namespace such as ``inat2024_fsd50k`` or
    ``ebird2021``), not a class. An ``ebird2021`` label file holds eBird codes (Perch v1);
    otherwise the labels are scientific names and ``ebird_rows``, when given, holds one code per
    class in the same order (``no_ebird_code`` -> '').
    """
    if len(label_rows) < 2:
        raise ValueError(f"{source}: expected a header and at least one class")
    namespace, classes = label_rows[0], label_rows[1:]
    if namespace.lower().startswith("ebird"):
        return TeacherLabels(("",) * len(classes), ("",) * len(classes), tuple(classes))
    codes = ("",) * len(classes)
    if ebird_rows is not None:
        body = ebird_rows[1:]
        if len(body) != len(classes):
            raise ValueError(f"{source} lists {len(classes)} classes but the eBird file lists "
                             f"{len(body)}: they must be parallel")
        codes = tuple("" if code == NO_EBIRD_CODE else code for code in body)
    return TeacherLabels(tuple(classes), ("",) * len(classes), codes)


def load_perch_labels(labels_dir: str | Path | None = None,
                      kaggle_root: str | Path = KAGGLE_INPUT) -> TeacherLabels:
    """Labels from a Perch ``assets`` folder, or the SavedModel folder holding ``assets/``;
    ``None`` finds the mounted model (:func:`find_perch_model`)."""
    if labels_dir is None:
        model = find_perch_model(kaggle_root=kaggle_root)
        labels_dir = model.parent if model.suffix == ".onnx" else model
    folder = Path(labels_dir)
    if (folder / "assets").is_dir():
        folder = folder / "assets"
    label_file = next((folder / name for name in LABEL_FILES if (folder / name).is_file()), None)
    if label_file is None:
        raise TeacherModelNotFound(f"{folder}: no {' or '.join(LABEL_FILES)}. {MODEL_HINT}")
    ebird_file = folder / EBIRD_FILE
    ebird_rows = _read_rows(ebird_file) if ebird_file.is_file() else None
    return parse_perch_labels(_read_rows(label_file), ebird_rows, source=str(label_file))


def find_perch_model(model_dir: str | Path | None = None,
                     kaggle_root: str | Path = KAGGLE_INPUT,
                     prefer_cpu: bool = True) -> Path:
    """The Perch model: a SavedModel folder (holding ``saved_model.pb``) or an ``.onnx`` file.

    An explicit ``model_dir`` may be either. Otherwise ``kaggle_root`` is searched for the
    mounted Kaggle model (``.../bird-vocalization-classifier/tensorflow2/<variation>/<n>/``),
    preferring the ``perch_v2_cpu`` variation when ``prefer_cpu`` (the GPU build does not load
    without a GPU), then the newest version. Raises TeacherModelNotFound naming the fix.
    """
    if model_dir is not None:
        path = Path(model_dir)
        if path.is_file() and path.suffix == ".onnx":
            return path
        if (path / "saved_model.pb").is_file():
            return path
        onnx = sorted(path.glob("*.onnx")) if path.is_dir() else []
        if onnx:
            return onnx[0]
        raise TeacherModelNotFound(f"{path}: neither a SavedModel folder (saved_model.pb) nor "
                                   f"an .onnx file. {MODEL_HINT}")
    root = Path(kaggle_root)
    found = [p.parent for p in root.rglob("saved_model.pb")] if root.is_dir() else []
    found = [p for p in found if "perch" in str(p).lower()
             or "bird-vocalization-classifier" in str(p).lower()]
    if not found:
        raise TeacherModelNotFound(f"no Perch SavedModel under {root}. {MODEL_HINT}")

    def rank(path: Path) -> tuple[int, int, str]:
        variation = path.parent.name.lower() if path.name.isdigit() else path.name.lower()
        cpu_match = int(("cpu" in variation) != prefer_cpu)
        version = int(path.name) if path.name.isdigit() else 0
        return cpu_match, -version, str(path)

    return sorted(found, key=rank)[0]


def pick_outputs(outputs: list[tuple[str, int]], n_labels: int) -> tuple[int, int | None]:
    """Which model outputs are the logits and the embedding: ``[(name, last_dim)]`` ->
    ``(logits_position, embedding_position or None)``, by name (``label``, ``embedding``)
    first, then by width (``n_labels``, 1536)."""
    names = [name for name, _ in outputs]
    widths = [width for _, width in outputs]

    def find(name: str, width: int) -> int | None:
        if name in names:
            return names.index(name)
        return widths.index(width) if width in widths else None

    logits = find("label", n_labels)
    if logits is None:
        raise ValueError(f"no output named 'label' or {n_labels} wide among {outputs}")
    return logits, find("embedding", EMBEDDING_DIM)


class PerchTeacher(Teacher):
    """Perch v2 through TensorFlow (SavedModel) or onnxruntime (ONNX export). UNVERIFIED.

    Args:
        model_dir: SavedModel folder or ``.onnx`` file; ``None`` searches ``kaggle_root``.
        labels_dir: folder with ``labels.csv`` (default: the model's ``assets``).
        batch_size: 5-s windows per call.
        peak_level: if set, scale each window to this peak amplitude before the model (the
            Bioacoustics Model Zoo wrapper uses 0.25); ``None`` feeds the waveform as is, as
            the model card's example does.
        prefer_cpu, kaggle_root: see :func:`find_perch_model`.
    """

    name = "perch"
    sample_rate = 32000
    window_seconds = 5.0
    has_embedding = True
    resample_type = "polyphase"  # what the Perch tooling (hoplite) resamples with

    def __init__(self, model_dir: str | Path | None = None,
                 labels_dir: str | Path | None = None, batch_size: int = 32,
                 peak_level: float | None = None, prefer_cpu: bool = True,
                 kaggle_root: str | Path = KAGGLE_INPUT) -> None:
        self.model_path = find_perch_model(model_dir, kaggle_root, prefer_cpu)
        self.is_onnx = self.model_path.suffix == ".onnx"
        default_labels = self.model_path.parent if self.is_onnx else self.model_path
        self.labels = load_perch_labels(labels_dir or default_labels)
        self.batch_size = int(batch_size)
        self.peak_level = peak_level
        self._forward = self._load_onnx() if self.is_onnx else self._load_savedmodel()

    def _load_savedmodel(self):
        try:
            tf = importlib.import_module("tensorflow")
        except ImportError as err:
            raise TeacherBackendMissing(
                f"Perch SavedModel {self.model_path} needs TensorFlow: {TF_HINT}") from err
        signature = tf.saved_model.load(str(self.model_path)).signatures["serving_default"]

        def forward(waves: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            out = signature(inputs=tf.constant(waves))
            embedding = out.get("embedding")
            return (np.asarray(out["label"], dtype=np.float32),
                    None if embedding is None else np.asarray(embedding, dtype=np.float32))

        return forward

    def _load_onnx(self):
        try:
            ort = importlib.import_module("onnxruntime")
        except ImportError as err:
            raise TeacherBackendMissing(
                f"Perch ONNX model {self.model_path} needs onnxruntime: {ORT_HINT}") from err
        session = ort.InferenceSession(str(self.model_path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        outputs = [(o.name, int(o.shape[-1]) if isinstance(o.shape[-1], int) else -1)
                   for o in session.get_outputs()]
        logits_at, embedding_at = pick_outputs(outputs, len(self.labels))

        def forward(waves: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            result = session.run(None, {input_name: waves})
            embedding = None if embedding_at is None else result[embedding_at]
            return np.asarray(result[logits_at], dtype=np.float32), embedding

        return forward

    def _prepare(self, waves: np.ndarray) -> np.ndarray:
        waves = self._check_input(waves)
        if self.peak_level is None:
            return waves
        peak = np.abs(waves).max(axis=1, keepdims=True)
        return (waves * (self.peak_level / np.maximum(peak, 1e-8))).astype(np.float32)

    def logits(self, waves: np.ndarray) -> np.ndarray:
        """``(n, 160000)`` at 32 kHz -> ``(n, n_labels)`` logits (the ``label`` output)."""
        logits, _ = self._forward(self._prepare(waves))
        if logits.shape[-1] != len(self.labels):
            raise ValueError(f"{self.model_path} returned {logits.shape[-1]} logits but its "
                             f"labels list {len(self.labels)} classes")
        return logits

    def embed(self, waves: np.ndarray) -> np.ndarray:
        """``(n, 160000)`` at 32 kHz -> ``(n, 1536)`` (the ``embedding`` output)."""
        _, embedding = self._forward(self._prepare(waves))
        if embedding is None:
            raise ValueError(f"{self.model_path} has no embedding output")
        return embedding
