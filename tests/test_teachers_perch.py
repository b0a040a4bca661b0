"""Perch adapter without the model: where it looks, how it reads labels, the errors it raises,
and its call path through stand-in ``tensorflow`` / ``onnxruntime`` modules that mimic the
published signature (the real model cannot be downloaded here: see common/teachers/perch.py)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from common.teachers import get_teacher, load_teacher_labels
from common.teachers.base import TeacherBackendMissing, TeacherModelNotFound
from common.teachers.perch import (
    EMBEDDING_DIM,
    find_perch_model,
    load_perch_labels,
    parse_perch_labels,
    pick_outputs,
)

NAMES = ["Ramphastos toco", "Boana raniceps", "Wind"]
CODES = ["toctou1", "no_ebird_code", "no_ebird_code"]


def _savedmodel(folder: Path, names=NAMES, codes=CODES) -> Path:
    (folder / "assets").mkdir(parents=True)
    (folder / "variables").mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / "assets" / "labels.csv").write_text("inat2024_fsd50k\n" + "\n".join(names) + "\n")
    (folder / "assets" / "perch_v2_ebird_classes.csv").write_text(
        "ebird2021\n" + "\n".join(codes) + "\n")
    return folder


def test_parse_v2_labels_drops_the_header_and_blanks_missing_codes():
    labels = parse_perch_labels(["inat2024_fsd50k", *NAMES], ["ebird2021", *CODES])
    assert labels.scientific_names == tuple(NAMES)
    assert labels.ebird_codes == ("toctou1", "", "")
    with pytest.raises(ValueError, match="must be parallel"):
        parse_perch_labels(["inat2024_fsd50k", *NAMES], ["ebird2021", "toctou1"])
    with pytest.raises(ValueError, match="header and at least one class"):
        parse_perch_labels(["inat2024_fsd50k"])


def test_parse_v1_labels_are_ebird_codes():
    labels = parse_perch_labels(["ebird2021", "ostric2", "toctou1"])
    assert labels.ebird_codes == ("ostric2", "toctou1")
    assert labels.scientific_names == ("", "")


def test_load_labels_from_model_or_assets_folder(tmp_path):
    model = _savedmodel(tmp_path / "m")
    assert load_perch_labels(model) == load_perch_labels(model / "assets")
    assert len(load_teacher_labels("perch", model)) == 3
    with pytest.raises(TeacherModelNotFound, match="bird-vocalization-classifier"):
        load_perch_labels(tmp_path)


def test_find_model_in_the_kaggle_mount_prefers_cpu_build_then_newest(tmp_path):
    root = tmp_path / "input" / "bird-vocalization-classifier" / "tensorflow2"
    gpu = _savedmodel(root / "perch_v2" / "2")
    cpu_old = _savedmodel(root / "perch_v2_cpu" / "1")
    cpu_new = _savedmodel(root / "perch_v2_cpu" / "3")
    _savedmodel(tmp_path / "input" / "some-other-model" / "1")  # not Perch: ignored
    assert find_perch_model(kaggle_root=tmp_path / "input") == cpu_new
    assert find_perch_model(kaggle_root=tmp_path / "input", prefer_cpu=False) == gpu
    assert find_perch_model(cpu_old) == cpu_old
    with pytest.raises(TeacherModelNotFound, match="model_sources|attach Kaggle model"):
        find_perch_model(kaggle_root=tmp_path / "nothing")
    with pytest.raises(TeacherModelNotFound, match="neither a SavedModel"):
        find_perch_model(tmp_path)


def test_find_model_accepts_an_onnx_export(tmp_path):
    folder = _savedmodel(tmp_path / "export")
    (folder / "perch_v2.onnx").write_bytes(b"")
    assert find_perch_model(folder / "perch_v2.onnx") == folder / "perch_v2.onnx"


def test_pick_outputs_by_name_then_width():
    assert pick_outputs([("embedding", EMBEDDING_DIM), ("label", 3)], 3) == (1, 0)
    assert pick_outputs([("out_0", 3), ("out_1", EMBEDDING_DIM)], 3) == (0, 1)
    assert pick_outputs([("out_0", 3)], 3) == (0, None)
    with pytest.raises(ValueError, match="no output named 'label'"):
        pick_outputs([("x", 5)], 3)


def test_missing_tensorflow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(TeacherBackendMissing, match="pip install tensorflow-cpu"):
        get_teacher("perch", model_dir=_savedmodel(tmp_path / "m"))


def test_missing_onnxruntime_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    folder = _savedmodel(tmp_path / "m")
    (folder / "perch.onnx").write_bytes(b"")
    with pytest.raises(TeacherBackendMissing, match="pip install onnxruntime"):
        get_teacher("perch", model_dir=folder / "perch.onnx")


def _fake_outputs(inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Logits = per-label mean of a third of the input; embedding = its peak, repeated."""
    x = np.asarray(inputs, dtype=np.float32)
    assert x.ndim == 2 and x.shape[1] == 160000
    label = x[:, :159999].reshape(len(x), 3, -1).mean(axis=2)
    embedding = np.repeat(np.abs(x).max(axis=1, keepdims=True), EMBEDDING_DIM, axis=1)
    return {"label": label, "embedding": embedding, "spatial_embedding": None}


def test_savedmodel_call_path_with_a_stand_in_tensorflow(tmp_path, monkeypatch):
    loaded = []

    class Model:
        signatures = {"serving_default": lambda inputs: _fake_outputs(inputs)}

    tf = types.ModuleType("tensorflow")
    tf.constant = np.asarray
    tf.saved_model = types.SimpleNamespace(load=lambda path: loaded.append(path) or Model())
    monkeypatch.setitem(sys.modules, "tensorflow", tf)

    model_dir = _savedmodel(tmp_path / "m")
    teacher = get_teacher("perch", model_dir=model_dir, batch_size=2, peak_level=0.25)
    assert loaded == [str(model_dir)]
    waves = np.zeros((3, 5 * 32000), dtype=np.float32)
    waves[1, 120000:] = 0.5  # last third loud in window 1
    probs = teacher.predict_windows(waves, 32000)
    assert probs.shape == (3, 3)
    assert probs[1, 2] > 0.54 > probs[1, 0] and np.allclose(probs[0], 0.5)
    embedding = teacher.embed_windows(waves, 32000)
    assert embedding.shape == (3, EMBEDDING_DIM)
    assert np.isclose(embedding[1, 0], 0.25)  # peak-normalised to peak_level


def test_onnx_call_path_with_a_stand_in_onnxruntime(tmp_path, monkeypatch):
    class Session:
        def __init__(self, path, providers):
            self.path = path

        def get_inputs(self):
            return [types.SimpleNamespace(name="inputs")]

        def get_outputs(self):
            return [types.SimpleNamespace(name="embedding", shape=["batch", EMBEDDING_DIM]),
                    types.SimpleNamespace(name="label", shape=["batch", 3])]

        def run(self, names, feed):
            out = _fake_outputs(feed["inputs"])
            return [out["embedding"], out["label"]]

    ort = types.ModuleType("onnxruntime")
    ort.InferenceSession = Session
    monkeypatch.setitem(sys.modules, "onnxruntime", ort)
    folder = _savedmodel(tmp_path / "m")
    (folder / "perch.onnx").write_bytes(b"")
    teacher = get_teacher("perch", model_dir=folder / "perch.onnx")
    logits = teacher.logits(np.full((2, 160000), 0.1, dtype=np.float32))
    np.testing.assert_allclose(logits, 0.1, rtol=1e-5)
    assert teacher.labels.scientific_names == tuple(NAMES)


def test_label_count_mismatch_is_an_error(tmp_path, monkeypatch):
    class Model:
        signatures = {"serving_default": lambda inputs: {"label": np.zeros((len(inputs), 7))}}

    tf = types.ModuleType("tensorflow")
    tf.constant = np.asarray
    tf.saved_model = types.SimpleNamespace(load=lambda path: Model())
    monkeypatch.setitem(sys.modules, "tensorflow", tf)
    teacher = get_teacher("perch", model_dir=_savedmodel(tmp_path / "m"))
    with pytest.raises(ValueError, match="returned 7 logits but its labels list 3"):
        teacher.logits(np.zeros((1, 160000), dtype=np.float32))
