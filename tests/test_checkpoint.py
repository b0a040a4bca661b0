"""Tests for common.model.checkpoint: round trip, atomic writes, refusal of foreign files, a
rebuild that never fetches pretrained weights."""

import dataclasses
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.model.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from common.model.frontend import FrontendConfig
from common.model.sed import ModelConfig, build_model

CLASSES = ["amecro", "65448", "barswa"]
MODEL_CFG = ModelConfig(backbone="test_efficientnet", head_hidden=16, pretrained=False)
FRONT_CFG = FrontendConfig(clip_seconds=1.0, n_mels=64, mode="pcen")


class NotATensor:
    """An arbitrary picklable object: weights_only loading must refuse it."""

    def __init__(self):
        self.payload = "arbitrary"


def trained_model():
    torch.manual_seed(0)
    model = build_model(MODEL_CFG, FRONT_CFG, len(CLASSES))
    model.train()
    with torch.no_grad():
        model(torch.randn(4, FRONT_CFG.clip_samples))  # moves BatchNorm running statistics
        model.head.freq_pool.p.fill_(2.5)
    return model.eval()


def save(path, model, **overrides):
    kwargs = dict(
        classes=CLASSES,
        model_cfg=MODEL_CFG,
        frontend_cfg=FRONT_CFG,
        fold=2,
        metrics={"val_auc": np.float32(0.875), "epoch": np.int64(7)},
        config={"train": {"lr": 1e-3, "epochs": 10}},
    )
    kwargs.update(overrides)
    return save_checkpoint(path, model, **kwargs)


def test_round_trip_gives_identical_outputs(tmp_path):
    model = trained_model()
    path = save(tmp_path / "fold2.pt", model, extra={"note": "test"})
    loaded, meta = model_from_checkpoint(path)

    assert not loaded.training
    wave = torch.randn(2, FRONT_CFG.clip_samples)
    with torch.no_grad():
        a, b = model(wave), loaded(wave)
    assert torch.equal(a["clip_logits"], b["clip_logits"])
    assert torch.equal(a["frame_logits"], b["frame_logits"])

    assert meta["format_version"] == FORMAT_VERSION
    assert meta["classes"] == CLASSES and isinstance(meta["classes"][1], str)
    assert meta["fold"] == 2
    assert meta["metrics"] == {"val_auc": pytest.approx(0.875), "epoch": 7}
    assert meta["config"] == {"train": {"lr": 1e-3, "epochs": 10}}
    assert meta["extra"] == {"note": "test"}
    assert set(meta["versions"]) == {"torch", "timm"}
    assert meta["created_at"]
    assert ModelConfig.from_dict(meta["model"]) == MODEL_CFG
    assert FrontendConfig.from_dict(meta["frontend"]) == FRONT_CFG
    assert loaded.frontend.cfg == FRONT_CFG


def test_state_dict_is_cpu_tensors_without_frontend_buffers(tmp_path):
    path = save(tmp_path / "m.pt", trained_model())
    state_dict, _ = load_checkpoint(path)
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in state_dict.values())
    assert not any(k.startswith("frontend.") for k in state_dict)  # rebuilt from the config


REPO_ROOT = Path(__file__).resolve().parents[1]


def pretrained_checkpoint(tmp_path):
    """A checkpoint whose stored model config says pretrained on, from a weights file that does
    not exist where the checkpoint is read (as nb02's checkpoints on nb04's machine)."""
    cfg = dataclasses.replace(MODEL_CFG, pretrained=True,
                              pretrained_file="/kaggle/input/weights/missing.pth")
    model = trained_model()
    path = save(tmp_path / "m.pt", model, model_cfg=cfg)
    assert load_checkpoint(path)[1]["model"]["pretrained"] is True
    return path, model


def test_rebuild_with_pretrained_config_never_fetches(tmp_path, monkeypatch):
    import timm.models._builder as builder

    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint rebuild tried to fetch pretrained weights")

    for name in ("load_pretrained", "load_state_dict_from_hf", "load_state_dict_from_url"):
        monkeypatch.setattr(builder, name, refuse)
    path, model = pretrained_checkpoint(tmp_path)
    loaded, meta = model_from_checkpoint(path)
    assert torch.equal(loaded.head.cla.weight, model.head.cla.weight)
    assert torch.equal(loaded.backbone.conv_stem.weight, model.backbone.conv_stem.weight)
    assert meta["model"]["pretrained"] is True  # the meta still says how training started


def test_rebuild_drops_the_old_pretrained_path_field(tmp_path):
    path, model = pretrained_checkpoint(tmp_path)
    state_dict, meta = load_checkpoint(path)
    del meta["model"]["pretrained"], meta["model"]["pretrained_file"]
    meta["model"]["pretrained_path"] = "/kaggle/input/weights/missing.pth"  # format of old files
    torch.save({"state_dict": state_dict, "meta": json.dumps(meta)}, path)
    loaded, _ = model_from_checkpoint(path)
    assert torch.equal(loaded.head.cla.weight, model.head.cla.weight)


REBUILD_SCRIPT = """
import sys, torch
from common.model.checkpoint import model_from_checkpoint
model, meta = model_from_checkpoint(sys.argv[1])
expected = torch.load(sys.argv[2], weights_only=True)
assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
print("rebuilt", meta["model"]["backbone"], "pretrained in meta:", meta["model"]["pretrained"])
"""


def network_namespace_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_rebuild_runs_without_network(tmp_path):
    """nb04's situation: no network at all (a new network namespace: only a down loopback),
    the hub forced offline and an empty HF cache; the checkpoint says pretrained on."""
    if not network_namespace_available():
        pytest.skip("`unshare -n` is unavailable here (needs root or user namespaces)")
    path, model = pretrained_checkpoint(tmp_path)
    expected = tmp_path / "expected.pt"
    torch.save(model.state_dict(), expected)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "TORCH_HOME": str(tmp_path / "torch"), "PYTHONPATH": str(REPO_ROOT),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", REBUILD_SCRIPT, str(path),
                             str(expected)], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rebuilt test_efficientnet pretrained in meta: True" in result.stdout
    assert not (tmp_path / "hf").exists() and not (tmp_path / "torch").exists()


def test_save_is_atomic(tmp_path, monkeypatch):
    path = save(tmp_path / "best.pt", trained_model())
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save(path, trained_model(), fold=3)
    assert path.read_bytes() == before  # old checkpoint untouched
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left


def test_save_validates_inputs(tmp_path):
    model = trained_model()
    with pytest.raises(ValueError, match="3 outputs"):
        save(tmp_path / "m.pt", model, classes=["a", "b"])
    with pytest.raises(TypeError, match="strings"):
        save(tmp_path / "m.pt", model, classes=["a", 65448, "c"])
    with pytest.raises(TypeError, match="JSON"):
        save(tmp_path / "m.pt", model, config={"bad": object()})
    assert not any(tmp_path.iterdir())


def test_arbitrary_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": "{}", "obj": NotATensor()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location="cpu", weights_only=True)
    with pytest.raises(ValueError, match="evil.pt"):
        load_checkpoint(path)


def test_foreign_files_are_named_in_errors(tmp_path):
    plain = tmp_path / "plain_state_dict.pt"
    torch.save(trained_model().state_dict(), plain)
    with pytest.raises(ValueError, match="plain_state_dict.pt.*not a BirdCLEF checkpoint"):
        load_checkpoint(plain)

    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt"):
        load_checkpoint(text)

    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_checkpoint(tmp_path / "absent.pt")

    future = tmp_path / "future.pt"
    torch.save({"state_dict": {}, "meta": '{"format_version": 99}'}, future)
    with pytest.raises(ValueError, match="format_version"):
        load_checkpoint(future)


def test_mismatched_weights_fail_strictly(tmp_path):
    path = save(tmp_path / "m.pt", trained_model())
    state_dict, meta = load_checkpoint(path)
    del state_dict["head.cla.bias"]
    torch.save({"state_dict": state_dict, "meta": json.dumps(meta)}, path)
    with pytest.raises(ValueError, match="head.cla.bias"):
        model_from_checkpoint(path)
