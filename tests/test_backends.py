"""Tests for common.stages.infer.backends: nb04 on ONNX Runtime and OpenVINO gives torch's
probabilities, the export check fails on a corrupt export, ``auto`` picks and says why, a
missing backend falls back to torch, the export cache, the malloc settings."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from conftest import TINY_FRONT, write_tiny_checkpoints

from common.core.config import apply_preset, replace_dotted
from common.data import competition as comp
from common.model.frontend import Frontend
from common.stages.infer.backends import export, select
from common.stages.infer.backends.allocator import tune_malloc
from common.stages.infer.backends.base import ExportMismatch, check_outputs, missing_reason
from common.stages.infer.backends.select import build_runner, measured_speeds
from common.stages.infer.config import InferConfig
from common.stages.infer.members import load_members
from common.stages.infer.run import run_inference

CLASSES = ["a", "b", "c"]
HAS_ORT = missing_reason("onnxruntime")
HAS_OV = missing_reason("openvino")
needs_ort = pytest.mark.skipif(HAS_ORT is not None, reason=str(HAS_ORT))
needs_ov = pytest.mark.skipif(HAS_OV is not None, reason=str(HAS_OV))


@pytest.fixture(scope="module")
def input_root(nb04_input_root):
    return nb04_input_root


@pytest.fixture(scope="module")
def torch_submission(input_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("torch_run")
    return run_inference(smoke(input_root, out)).submission_df


def smoke(input_root, working_dir, **changes):
    return replace_dotted(apply_preset(InferConfig, "smoke"), {
        "input_root": str(input_root), "working_dir": str(working_dir), "tta": ("orig", "reverse"),
        **changes})


@pytest.mark.parametrize("backend", [
    pytest.param("onnxruntime", marks=needs_ort), pytest.param("openvino", marks=needs_ov)])
def test_nb04_on_a_backend_matches_torch(backend, input_root, torch_submission, tmp_path):
    result = run_inference(smoke(input_root, tmp_path, backend=backend))
    got, want = result.submission_df, torch_submission
    assert list(got["row_id"]) == list(want["row_id"])
    diff = np.abs(got.iloc[:, 1:].to_numpy(float) - want.iloc[:, 1:].to_numpy(float)).max()
    assert diff < 1e-4  # sigmoid of logits within backend_tolerance (1e-3) of torch's
    assert all(kind.startswith(backend) for kind in result.report["runner"])
    assert list(result.report["backend_windows_per_second"]) == [backend]
    exports = sorted((input_root / "birdclef-2026-models").glob("*.onnx"))
    assert len(exports) == 2  # one per checkpoint, next to it, shared by both backends


@pytest.fixture()
def members(tmp_path):
    return load_members(write_tiny_checkpoints(tmp_path, CLASSES, n=1), CLASSES)


def first_batch(seed=0):
    wave = torch.from_numpy(np.random.default_rng(seed).standard_normal(
        (4, TINY_FRONT.clip_samples)).astype(np.float32) * 0.05)
    return Frontend(TINY_FRONT).eval()(wave)


def predict_cfg(**changes):
    return dataclasses.replace(apply_preset(InferConfig, "smoke").predict, **changes)


@needs_ort
def test_a_corrupt_export_fails_the_check(members, tmp_path):
    import onnx
    from onnx import numpy_helper

    member, spec = members[0], first_batch()
    build_runner(member, spec, predict_cfg(backend="onnxruntime"), threads=1)
    path = next(tmp_path.glob("*.onnx"))
    graph = onnx.load(str(path))
    # The classifier's bias: a change there reaches every logit (a random-init backbone's
    # output barely depends on its early weights).
    [bias] = [t for t in graph.graph.initializer if t.name.endswith("head.cla.bias")]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 0.01, bias.name))
    onnx.save(graph, str(path))
    member.speeds.clear()
    with pytest.raises(ExportMismatch, match="differ from PyTorch"):
        build_runner(member, spec, predict_cfg(backend="onnxruntime"), threads=1)
    # auto leaves the corrupt backend out and still runs
    runner, kind = build_runner(member, spec, predict_cfg(backend="auto"), threads=1)
    assert "onnxruntime" not in member.speeds and member.backend != "onnxruntime"


def test_check_outputs_reports_the_difference():
    ref = torch.zeros(2, 3)
    assert check_outputs(ref, ref + 1e-5, 1e-3, "m") == pytest.approx(1e-5)
    with pytest.raises(ExportMismatch, match="0.5"):
        check_outputs(ref, ref + 0.5, 1e-3, "m")
    with pytest.raises(ExportMismatch, match="shape"):
        check_outputs(ref, torch.zeros(2, 4), 1e-3, "m")


@needs_ort
@needs_ov
def test_auto_times_every_backend_and_logs_its_pick(members, caplog):
    member = members[0]
    with caplog.at_level(logging.INFO):
        runner, kind = build_runner(member, first_batch(), predict_cfg(backend="auto"),
                                    threads=1)
    assert set(member.speeds) == {"torch", "onnxruntime", "openvino"}
    assert member.backend == max(member.speeds, key=member.speeds.get)
    assert f"auto picked {member.backend}" in caplog.text
    speeds = measured_speeds(members)
    assert set(speeds) == set(member.speeds) and all(v > 0 for v in speeds.values())
    assert runner(first_batch(1)).shape == (4, len(CLASSES))


def test_a_missing_backend_falls_back_to_torch(members, monkeypatch, caplog):
    monkeypatch.setattr(select, "missing_reason",
                        lambda b: None if b == "torch" else f"{b} needs it, not installed")
    with caplog.at_level(logging.WARNING):
        _, kind = build_runner(members[0], first_batch(), predict_cfg(backend="openvino"),
                               threads=1)
    assert members[0].backend == "torch" and "running torch" in caplog.text
    assert "openvino" not in kind


@needs_ort
def test_read_only_checkpoints_export_to_the_working_dir(members, monkeypatch, tmp_path):
    monkeypatch.setattr(export.os, "access", lambda path, mode: False)
    work = tmp_path / "work"
    build_runner(members[0], first_batch(), predict_cfg(backend="onnxruntime",
                                                        export_dir=str(work)), threads=1)
    [made] = work.glob("*.onnx")
    assert export.checkpoint_hash(members[0].path) in made.name
    assert not list(members[0].path.parent.glob("*.onnx"))


def test_bad_backend_name_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        predict_cfg(backend="tensorrt")


def test_malloc_tuning_applies_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert tune_malloc() is True


def test_int8_verdict_refuses_an_auc_drop_and_a_slowdown():
    from common.stages.infer.backends.int8 import int8_verdict

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


@needs_ort
def test_int8_quantization_keeps_the_logits_close(members, tmp_path):
    from common.stages.infer.backends.onnx_backend import OrtRunner, quantize_int8

    member, spec = members[0], first_batch()
    build_runner(member, spec, predict_cfg(backend="onnxruntime"), threads=1)
    fp32 = next(tmp_path.glob("*.onnx"))
    calibration = torch.cat([first_batch(s) for s in range(3)]).numpy()
    int8 = quantize_int8(fp32, calibration, tmp_path / "m.int8.onnx", batch=4)
    got = OrtRunner(int8, threads=1)(first_batch(7))
    want = OrtRunner(fp32, threads=1)(first_batch(7))
    assert got.shape == want.shape and not torch.equal(got, want)  # it did quantize
    assert float((got - want).abs().max()) < 0.05
    with pytest.raises(ValueError, match="calibration must be"):
        quantize_int8(fp32, calibration[0], tmp_path / "bad.onnx")


@needs_ort
def test_nb04_refuses_int8_above_the_auc_tolerance(input_root, tmp_path, caplog):
    # A tolerance no model can meet (the AUC would have to rise by more than 1): every model
    # keeps fp32, and the report says why with the figures.
    with caplog.at_level(logging.WARNING):
        result = run_inference(smoke(input_root, tmp_path, backend="onnxruntime", int8=True,
                                     int8_max_auc_drop=-1.0))
    verdicts = result.report["int8"]
    assert len(verdicts) == 2 and not any(v["accepted"] for v in verdicts)
    assert all(0.0 <= v["auc_fp32"] <= 1.0 and "drops" in v["reason"] for v in verdicts)
    assert all(k.startswith("onnxruntime fp32") for k in result.report["runner"])
    assert "int8 refused, fp32 kept" in caplog.text


@needs_ort
def test_int8_accepted_replaces_the_runner(tiny_competition, members, monkeypatch):
    from common.stages.infer.backends import int8 as int8_module
    from common.tasks import get_task

    task = get_task("birdclef-2026")
    classes = comp.species_columns(comp.read_sample_submission(tiny_competition.competition_dir))
    data = task.labelled_windows(tiny_competition.competition_dir, classes,
                                 TINY_FRONT.sample_rate, 40)
    assert data is not None and data[0].shape[1] == TINY_FRONT.clip_samples
    assert data[1].shape == (len(data[0]), len(classes)) and data[1].sum() > 0
    member = load_members(write_tiny_checkpoints(members[0].path.parent / "c", classes, n=1),
                          classes)[0]
    # Speeds are measured; make int8 the faster one so that only the AUC rule decides here.
    monkeypatch.setattr(int8_module, "seconds_per_call",
                        lambda runner, spec, calls=2: 0.5 if "int8" in runner.path.name else 1.0)
    [verdict] = int8_module.apply_int8([member], data, predict_cfg(
        backend="onnxruntime", int8=True, int8_max_auc_drop=1.0), threads=1)
    assert verdict.accepted and verdict.speedup == pytest.approx(2.0)
    assert member.runner.path.name.endswith(".int8.onnx") and "int8" in member.runner_kind
    assert int8_module.apply_int8([member], None, predict_cfg(backend="onnxruntime",
                                                              int8=True), threads=1) == []


def test_int8_needs_onnxruntime():
    with pytest.raises(ValueError, match="int8 runs on ONNX Runtime"):
        predict_cfg(int8=True)
