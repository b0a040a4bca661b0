"""Tests for common.stages.infer.members: compatibility checks, class order, compiled runners."""

import logging

import numpy as np
import pytest
import torch

from common.model.checkpoint import save_checkpoint
from common.model.frontend import FrontendConfig
from common.model.sed import ModelConfig, build_model
from common.stages.infer.members import (
    check_frontend,
    class_permutation,
    compile_runner,
    find_checkpoints,
    group_by_frontend,
    load_members,
    published_students,
)

CLASSES = ["65448", "grekis", "litjas"]
FRONT = FrontendConfig(n_mels=16, n_fft=1024, hop_length=2048)
MODEL = ModelConfig(backbone="test_efficientnet", head_hidden=16, pretrained=False)


def write_checkpoint(path, classes=CLASSES, frontend=FRONT, seed=0):
    torch.manual_seed(seed)
    model = build_model(MODEL, frontend, len(classes))
    return save_checkpoint(path, model, classes=list(classes), model_cfg=MODEL,
                           frontend_cfg=frontend, fold=0, metrics={}, config={})


def test_class_mismatch_names_the_difference(tmp_path):
    path = write_checkpoint(tmp_path / "other.pt", classes=["65448", "grekis", "bkcchi"])
    with pytest.raises(ValueError, match=r"other\.pt.*1 missing.*litjas.*1 extra.*bkcchi"):
        load_members([path], CLASSES)


def test_class_permutation_reorders_outputs():
    perm = class_permutation(["litjas", "65448", "grekis"], CLASSES, "m.pt")
    logits = np.array([[3.0, 1.0, 2.0]])  # model order: litjas, 65448, grekis
    np.testing.assert_array_equal(logits[:, perm], [[1.0, 2.0, 3.0]])


def test_frontend_must_score_5_second_single_channel_windows():
    with pytest.raises(ValueError, match="clip_seconds"):
        check_frontend(FrontendConfig(clip_seconds=10.0), 1, "m.pt")
    with pytest.raises(ValueError, match="channels"):
        check_frontend(FrontendConfig(), 3, "m.pt")


def test_window_length_is_the_tasks(tmp_path):
    mashup = FrontendConfig(sample_rate=22050, n_mels=16, n_fft=1024, hop_length=2048,
                            f_max=11000.0)
    path = write_checkpoint(tmp_path / "mashup.pt", frontend=mashup)
    assert load_members([path], CLASSES, window_seconds=5.0)[0].frontend_cfg.sample_rate == 22050
    with pytest.raises(ValueError, match=r"mashup\.pt.*clip_seconds=5.0.*4-s windows"):
        load_members([path], CLASSES, window_seconds=4.0)


def test_load_groups_and_weights(tmp_path):
    paths = [write_checkpoint(tmp_path / "b" / "f1.pt", seed=1),
             write_checkpoint(tmp_path / "a" / "f0.pt", seed=0),
             write_checkpoint(tmp_path / "a" / "pcen.pt",
                              frontend=FrontendConfig(n_mels=16, n_fft=1024, hop_length=2048,
                                                      mode="pcen"))]
    found = find_checkpoints(tmp_path, "f*.pt")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/f0.pt", "b/f1.pt"]
    with pytest.raises(FileNotFoundError, match="no checkpoint matching"):
        find_checkpoints(tmp_path, "*_best.pt")
    with pytest.raises(ValueError, match="2 values for 3 checkpoints"):
        load_members(sorted(paths), CLASSES, weights=(1.0, 2.0), root=tmp_path)
    members = load_members(sorted(paths), CLASSES, weights=(1.0, 2.0, 0.5), root=tmp_path)
    assert [m.name for m in members] == ["a/f0.pt", "a/pcen.pt", "b/f1.pt"]
    assert [m.weight for m in members] == [1.0, 2.0, 0.5]
    assert list(group_by_frontend(members).values()) == [[0, 2], [1]]


def test_traced_runner_matches_eager_and_falls_back(tmp_path, monkeypatch, caplog):
    torch.manual_seed(0)
    model = build_model(MODEL, FRONT, len(CLASSES)).eval()
    spec = model.frontend(torch.randn(4, FRONT.clip_samples))
    with torch.inference_mode():
        expected = model.forward_spec(spec)["clip_logits"]
        runner, kind = compile_runner(model, spec, graph="trace", channels_last=True)
        assert kind.startswith("traced+frozen")
        torch.testing.assert_close(runner(spec.contiguous(memory_format=torch.channels_last)),
                                   expected, atol=1e-4, rtol=1e-4)

    def broken_trace(*args, **kwargs):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(torch.jit, "trace", broken_trace)
    with caplog.at_level(logging.WARNING):
        runner, kind = compile_runner(model, spec, graph="auto", source="m.pt")
    assert "trace failed" in kind and "m.pt: tracing failed" in caplog.text
    with torch.inference_mode():
        torch.testing.assert_close(runner(spec), expected, atol=1e-4, rtol=1e-4)


def test_only_students_the_gate_published_join_the_ensemble(tmp_path):
    import json

    found = [tmp_path / "net_student_fold0_best.pt"]
    assert published_students(tmp_path, found) == found  # no report: older nb03 output
    report = tmp_path / "pseudo_report.json"
    report.write_text(json.dumps({"student_gate": {"published_round": None,
                                                   "reason": "worse than the teacher"}}))
    assert published_students(tmp_path, found) == []
    report.write_text(json.dumps({"student_gate": {"published_round": 2}}))
    assert published_students(tmp_path, found) == found
