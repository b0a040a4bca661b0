"""Tests for common.tasks.mashup.features: the 194 clip features."""

import numpy as np
import pytest
import soundfile as sf

from common.audio.io import load_audio
from common.tasks.mashup.features import FEATURE_NAMES, extract_features, extract_file_features

SR = 22050


def _tone(hz: float, seconds: float = 2.0, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_layout_names_and_size():
    assert len(FEATURE_NAMES) == 194 == len(set(FEATURE_NAMES))
    assert FEATURE_NAMES[0] == "mfcc_mean_00" and FEATURE_NAMES[159] == "mfcc_min_39"
    assert FEATURE_NAMES[160:172] == tuple(f"chroma_mean_{p}" for p in (
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"))
    assert FEATURE_NAMES[-3:] == ("tempo_bpm", "onset_mean", "onset_std")


@pytest.mark.parametrize("wave", [
    np.zeros(SR * 2, np.float32),
    np.random.default_rng(0).normal(0, 0.2, SR * 2).astype(np.float32),
    np.zeros(100, np.float32),  # shorter than one FFT frame
], ids=["silence", "noise", "too-short"])
def test_features_are_finite(wave):
    features = extract_features(wave, SR)
    assert features.shape == (194,) and features.dtype == np.float32
    assert np.isfinite(features).all()


def test_features_follow_the_content():
    named = dict(zip(FEATURE_NAMES, extract_features(_tone(440.0), SR)))
    chroma = {k: v for k, v in named.items() if k.startswith("chroma_mean_")}
    assert max(chroma, key=chroma.get) == "chroma_mean_A"
    low = dict(zip(FEATURE_NAMES, extract_features(_tone(110.0), SR)))
    noise = dict(zip(FEATURE_NAMES, extract_features(
        np.random.default_rng(1).normal(0, 0.2, SR * 2).astype(np.float32), SR)))
    assert noise["centroid_mean"] > 10 * low["centroid_mean"]
    assert noise["flatness_mean"] > 100 * low["flatness_mean"]
    silence = dict(zip(FEATURE_NAMES, extract_features(np.zeros(SR, np.float32), SR)))
    assert silence["mfcc_mean_00"] < low["mfcc_mean_00"]  # level: -100 dB floor, not relative


def test_file_features_in_order_and_undecodable_files_reported(tmp_path):
    paths = []
    for k, hz in enumerate((220.0, 660.0)):
        paths.append(tmp_path / f"tone{k}.wav")
        tone = _tone(hz, 1.0, 44100)
        sf.write(str(paths[-1]), np.stack([tone, tone], axis=1), 44100)
    (tmp_path / "broken.wav").write_bytes(b"not audio at all" * 10)
    paths.insert(1, tmp_path / "broken.wav")
    X, failed = extract_file_features(paths, SR, workers=1)
    assert X.shape == (3, 194) and np.isfinite(X).all()
    assert len(failed) == 1 and "broken.wav" in failed[0]
    np.testing.assert_allclose(X[1], extract_features(np.zeros(2048, np.float32), SR))
    np.testing.assert_allclose(X[2], extract_features(load_audio(paths[2], SR), SR))
    named = dict(zip(FEATURE_NAMES, X[0]))  # 44.1 kHz stereo file -> 22.05 kHz mono
    assert max((k for k in named if k.startswith("chroma_mean_")), key=named.get) == (
        "chroma_mean_A")
