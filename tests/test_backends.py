"""Tests for common.stages.infer.backends: nb04 on ONNX Runtime and OpenVINO gives torch's
probabilities, the export check fails on a corrupt export, ``auto`` picks and says why, a
missing backend falls back to torch, the export cache, the malloc settings (int8: test_int8)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from conftest import smoke_infer_cfg, smoke_predict_cfg, tiny_spec, write_tiny_checkpoints

from common.stages.infer.backends import export, select
from common.stages.infer.backends.allocator import tune_malloc
from common.stages.infer.backends.base import ExportMismatch, check_outputs, missing_reason
from common.stages.infer.backends.select import build_runner, measured_speeds
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
    return run_inference(smoke_infer_cfg(input_root, out)).submission_df


@pytest.mark.parametrize("backend", [
    pytest.param("onnxruntime", marks=needs_ort), pytest.param("openvino", marks=needs_ov)])
def test_nb04_on_a_backend_matches_torch(backend, input_root, torch_submission, tmp_path):
    result = run_inference(smoke_infer_cfg(input_root, tmp_path, backend=backend))
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


@needs_ort
def test_a_corrupt_export_fails_the_check(members, tmp_path):
    import onnx
    from onnx import numpy_helper

    member, spec = members[0], tiny_spec()
    build_runner(member, spec, smoke_predict_cfg(backend="onnxruntime"), threads=1)
    path = next(tmp_path.glob("*.onnx"))
    graph = onnx.load(str(path))
    # The classifier's bias: a change there reaches every logit (a random-init backbone's
    # output barely depends on its early weights).
    [bias] = [t for t in graph.graph.initializer if t.name.endswith("head.cla.bias")]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 0.01, bias.name))
    onnx.save(graph, str(path))
    member.speeds.clear()
    with pytest.raises(ExportMismatch, match="differ from PyTorch"):
        build_runner(member, spec, smoke_predict_cfg(backend="onnxruntime"), threads=1)
    # auto leaves the corrupt backend out and still runs
    runner, kind = build_runner(member, spec, smoke_predict_cfg(backend="auto"), threads=1)
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
        runner, kind = build_runner(member, tiny_spec(), smoke_predict_cfg(backend="auto"),
                                    threads=1)
    assert set(member.speeds) == {"torch", "onnxruntime", "openvino"}
    assert member.backend == max(member.speeds, key=member.speeds.get)
    assert f"auto picked {member.backend}" in caplog.text
    speeds = measured_speeds(members)
    assert set(speeds) == set(member.speeds) and all(v > 0 for v in speeds.values())
    assert runner(tiny_spec(1)).shape == (4, len(CLASSES))


def test_a_missing_backend_falls_back_to_torch(members, monkeypatch, caplog):
    monkeypatch.setattr(select, "missing_reason",
                        lambda b: None if b == "torch" else f"{b} needs it, not installed")
    with caplog.at_level(logging.WARNING):
        _, kind = build_runner(members[0], tiny_spec(), smoke_predict_cfg(backend="openvino"),
                               threads=1)
    assert members[0].backend == "torch" and "running torch" in caplog.text
    assert "openvino" not in kind


@needs_ort
def test_read_only_checkpoints_export_to_the_working_dir(members, monkeypatch, tmp_path):
    monkeypatch.setattr(export.os, "access", lambda path, mode: False)
    work = tmp_path / "work"
    build_runner(members[0], tiny_spec(), smoke_predict_cfg(backend="onnxruntime",
                                                        export_dir=str(work)), threads=1)
    [made] = work.glob("*.onnx")
    assert export.checkpoint_hash(members[0].path) in made.name
    assert not list(members[0].path.parent.glob("*.onnx"))


def test_bad_backend_name_is_refused():
    with pytest.raises(ValueError, match="backend must be one of"):
        smoke_predict_cfg(backend="tensorrt")


def test_malloc_tuning_applies_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert tune_malloc() is True
