"""Tests for common.stages.infer.backends.int8 and the two quantizers: the guard refuses an AUC
drop and a slowdown, each backend's int8 model stays close to its fp32 model and is cached, an
accepted int8 model replaces the runner (``auto`` keeps the fastest accepted), and nb04 falls
back to fp32 with the reason when the tolerance refuses int8."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from conftest import (
    TINY_FRONT,
    smoke_infer_cfg,
    smoke_predict_cfg,
    tiny_spec,
    write_tiny_checkpoints,
)

from common.data import competition as comp
from common.stages.infer.backends import int8 as int8_module
from common.stages.infer.backends.int8 import int8_missing_reason, int8_verdict
from common.stages.infer.backends.select import build_runner
from common.stages.infer.members import load_members
from common.stages.infer.run import run_inference

NO_ORT = int8_missing_reason("onnxruntime")
NO_OV = int8_missing_reason("openvino")  # OpenVINO and NNCF
needs_ort = pytest.mark.skipif(NO_ORT is not None, reason=str(NO_ORT))
needs_ov = pytest.mark.skipif(NO_OV is not None, reason=str(NO_OV))
BACKENDS = [pytest.param("onnxruntime", marks=needs_ort),
            pytest.param("openvino", marks=needs_ov)]
CLASSES = ["a", "b", "c"]
SUFFIX = {"onnxruntime": ".int8.onnx", "openvino": ".int8.xml"}


@pytest.fixture(scope="module")
def input_root(nb04_input_root):
    return nb04_input_root


@pytest.fixture()
def members(tmp_path):
    return load_members(write_tiny_checkpoints(tmp_path, CLASSES, n=1), CLASSES)


def test_int8_verdict_refuses_an_auc_drop_and_a_slowdown():
    rng = np.random.default_rng(0)
    labels = (rng.random((200, 4)) < 0.3).astype(int)
    good = labels + 0.5 * rng.standard_normal(labels.shape)
    noisy = labels + 3.0 * rng.standard_normal(labels.shape)
    ok = int8_verdict(labels, good, good + 1e-4, 100.0, 150.0, max_auc_drop=0.002)
    assert ok.accepted and ok.speedup == pytest.approx(1.5)
    worse = int8_verdict(labels, good, noisy, 100.0, 150.0, max_auc_drop=0.002)
    assert not worse.accepted and "drops" in worse.reason and worse.auc_int8 < worse.auc_fp32
    slower = int8_verdict(labels, good, good, 100.0, 90.0, max_auc_drop=0.002)
    assert not slower.accepted and "not faster" in slower.reason


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_quantization_keeps_the_logits_close_and_is_cached(backend, members, tmp_path):
    member, spec = members[0], tiny_spec()
    fp32, _ = build_runner(member, spec, smoke_predict_cfg(backend=backend), threads=1)
    calibration = torch.cat([tiny_spec(s) for s in range(3)]).numpy()
    int8 = int8_module.quantized_runner(backend, fp32.path, calibration, threads=1, batch=4)
    assert int8.path == fp32.path.with_suffix(SUFFIX[backend]) and int8.path.is_file()
    got, want = int8(tiny_spec(7)), fp32(tiny_spec(7))
    assert got.shape == want.shape and not torch.equal(got, want)  # it did quantize
    assert float((got - want).abs().max()) < 0.05
    stamp = int8.path.stat().st_mtime_ns
    again = int8_module.quantized_runner(backend, fp32.path, calibration[:4], threads=1, batch=4)
    assert again.path == int8.path and int8.path.stat().st_mtime_ns == stamp  # the cache
    assert torch.equal(again(tiny_spec(7)), got)
    from common.stages.infer.backends import onnx_backend, openvino_backend

    quantize = {"onnxruntime": onnx_backend, "openvino": openvino_backend}[backend].quantize_int8
    with pytest.raises(ValueError, match="calibration must be"):
        quantize(fp32.path, calibration[0], tmp_path / f"bad{SUFFIX[backend]}")


@needs_ov
def test_openvino_int8_wants_an_ir_file(members, tmp_path):
    from common.stages.infer.backends.openvino_backend import quantize_int8

    with pytest.raises(ValueError, match="OpenVINO IR .xml"):
        quantize_int8(tmp_path / "m.onnx", tiny_spec().numpy(), tmp_path / "m.int8.onnx")


@pytest.mark.parametrize("backend", BACKENDS)
def test_nb04_refuses_int8_above_the_auc_tolerance(backend, input_root, tmp_path, caplog):
    # A tolerance no model can meet (the AUC would have to rise by more than 1): every model
    # keeps fp32, and the report says why with the figures.
    with caplog.at_level(logging.WARNING):
        result = run_inference(smoke_infer_cfg(input_root, tmp_path, backend=backend, int8=True,
                                     int8_max_auc_drop=-1.0))
    verdicts = result.report["int8"]
    assert len(verdicts) == 2 and not any(v["accepted"] for v in verdicts)
    assert all(0.0 <= v["auc_fp32"] <= 1.0 and "drops" in v["reason"] for v in verdicts)
    assert all(k.startswith(f"{backend} fp32") for k in result.report["runner"])
    assert "int8 refused, fp32 kept" in caplog.text


def labelled(tiny_competition):
    from common.tasks import get_task

    task = get_task("birdclef-2026")
    classes = comp.species_columns(comp.read_sample_submission(tiny_competition.competition_dir))
    data = task.labelled_windows(tiny_competition.competition_dir, classes,
                                 TINY_FRONT.sample_rate, 40)
    assert data is not None and data[0].shape[1] == TINY_FRONT.clip_samples
    assert data[1].shape == (len(data[0]), len(classes)) and data[1].sum() > 0
    return classes, data


def fake_speed(int8_seconds):
    """Timing by file name: fp32 1 s a call, int8 ``int8_seconds[suffix]``."""
    def seconds(runner, spec, calls=2):
        return next((s for suffix, s in int8_seconds.items()
                     if runner.path.name.endswith(suffix)), 1.0)
    return seconds


@pytest.mark.parametrize("backend", BACKENDS)
def test_int8_accepted_replaces_the_runner(backend, tiny_competition, members, monkeypatch):
    classes, data = labelled(tiny_competition)
    member = load_members(write_tiny_checkpoints(members[0].path.parent / "c", classes, n=1),
                          classes)[0]
    # Speeds are measured; make int8 the faster one so that only the AUC rule decides here.
    monkeypatch.setattr(int8_module, "seconds_per_call", fake_speed({SUFFIX[backend]: 0.5}))
    [verdict] = int8_module.apply_int8([member], data, smoke_predict_cfg(
        backend=backend, int8=True, int8_max_auc_drop=1.0), threads=1)
    assert verdict.accepted and verdict.speedup == pytest.approx(2.0)
    assert member.runner.path.name.endswith(SUFFIX[backend])
    assert member.runner_kind.startswith(f"{backend} int8")
    assert member.backend == backend and member.int8
    assert member.speeds == {f"{backend} int8": pytest.approx(12 / 0.5)}  # a 12-window batch
    assert int8_module.apply_int8([member], None, smoke_predict_cfg(backend=backend, int8=True),
                                  threads=1) == []


@needs_ort
@needs_ov
def test_auto_int8_keeps_the_fastest_accepted_backend(tiny_competition, members, monkeypatch):
    classes, data = labelled(tiny_competition)
    member = load_members(write_tiny_checkpoints(members[0].path.parent / "c", classes, n=1),
                          classes)[0]
    monkeypatch.setattr(int8_module, "seconds_per_call",
                        fake_speed({".int8.onnx": 0.5, ".int8.xml": 0.25}))
    verdicts = int8_module.apply_int8([member], data, smoke_predict_cfg(
        backend="auto", int8=True, int8_max_auc_drop=1.0), threads=1)
    assert [v.accepted for v in verdicts] == [True, True]
    assert member.backend == "openvino" and member.runner.path.name.endswith(".int8.xml")


def test_int8_missing_backend_is_refused_with_the_reason(members, monkeypatch, caplog):
    monkeypatch.setattr(int8_module, "int8_missing_reason", lambda b: f"{b} int8 needs nncf")
    with caplog.at_level(logging.WARNING):
        got = int8_module.apply_int8(members, (np.zeros((8, 10)), np.zeros((8, 3))),
                                     smoke_predict_cfg(backend="openvino", int8=True), threads=1)
    assert got == [] and "openvino int8 needs nncf" in caplog.text
    assert members[0].runner is None


def test_int8_needs_an_int8_backend():
    with pytest.raises(ValueError, match="int8 runs on ONNX Runtime or OpenVINO"):
        smoke_predict_cfg(int8=True)
    with pytest.raises(ValueError, match="int8 runs on"):
        int8_module.int8_backends("torch")
    assert int8_module.int8_backends("auto") == ("onnxruntime", "openvino")
