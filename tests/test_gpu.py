"""Tests for common.core.gpu: which GPUs a torch build runs, and the stop that names the fix."""

import logging

import pytest
import torch

from common.core import gpu
from common.core.gpu import GPU_FIX, arch_supports, check_gpu, unsupported_gpu_message

# Kaggle's torch build: cubins from Volta up, PTX for the newest.
KAGGLE_ARCHS = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_90a", "compute_90"]


@pytest.mark.parametrize(("capability", "supported"), [
    ((7, 5), True),    # T4: its own cubin
    ((8, 9), True),    # L4: sm_86 cubin, same major, lower minor
    ((9, 0), True),    # H100
    ((10, 0), True),   # Blackwell: PTX compute_90 is compiled at load time
    ((6, 0), False),   # P100: no sm_6x cubin, and PTX 9.0 is too new for it
    ((3, 7), False),   # K80
])
def test_arch_supports_follows_cuda_compatibility(capability, supported):
    assert arch_supports(capability, KAGGLE_ARCHS) is supported


def test_arch_specific_cubins_run_only_on_their_own_version():
    assert arch_supports((9, 0), ["sm_90a"]) and not arch_supports((9, 1), ["sm_90a"])
    assert not arch_supports((8, 0), ["sm_86"])  # a lower minor cannot run a newer cubin
    assert arch_supports((6, 0), [])  # the build does not say: do not block


def test_message_names_the_gpu_and_the_fix():
    assert unsupported_gpu_message("Tesla T4", (7, 5), KAGGLE_ARCHS) is None
    message = unsupported_gpu_message("Tesla P100-PCIE-16GB", (6, 0), KAGGLE_ARCHS)
    assert "Tesla P100-PCIE-16GB (sm_60)" in message and "sm_75" in message
    assert GPU_FIX in message and '"GPU T4 x2"' in message and "--machine-shape" in message


def fake_cuda(monkeypatch, name, capability, archs):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: archs)


def test_check_gpu_stops_a_p100_session(monkeypatch):
    fake_cuda(monkeypatch, "Tesla P100-PCIE-16GB", (6, 0), KAGGLE_ARCHS)
    with pytest.raises(RuntimeError, match=r"^nb02: .*P100.*GPU T4 x2"):
        check_gpu("nb02")


def test_check_gpu_passes_t4s_and_logs_cpu(monkeypatch, caplog):
    with monkeypatch.context() as patch:
        fake_cuda(patch, "Tesla T4", (7, 5), KAGGLE_ARCHS)
        with caplog.at_level(logging.INFO, logger=gpu.__name__):
            assert check_gpu("nb03") == "cuda"
        assert "Tesla T4 (sm_75), Tesla T4 (sm_75)" in caplog.text
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=gpu.__name__):
        assert check_gpu("nb02") == "cpu"  # the laptop path: no failure
    assert "runs on CPU" in caplog.text
