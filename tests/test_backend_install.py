"""Tests for common.stages.infer.backends.install and devtools.wheels: with networking disabled,
a backend missing here is installed from a shipped wheel folder and imports; without wheels the
run falls back to torch with the reason logged; the push puts the wheels where nb04 looks."""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from common.stages.infer.backends import base, install
from common.stages.infer.backends.install import WHEELS_DIR, ensure_backend, find_wheel_dirs

REPO_ROOT = Path(__file__).resolve().parents[1]
MODULE = "dummy_backend_rt"  # a stand-in for onnxruntime: a wheel that builds in milliseconds


def build_wheel(folder: Path, name: str = MODULE, version: str = "0.1") -> Path:
    """A minimal pure-Python wheel with ``name/__init__.py`` (``VALUE = 42``)."""
    files = {f"{name}/__init__.py": b"VALUE = 42\n",
             f"{name}-{version}.dist-info/METADATA":
                 f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel


def network_namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


REHEARSAL = f"""
import logging, socket, sys
logging.basicConfig(level=logging.INFO)
try:
    socket.create_connection(("1.1.1.1", 443), timeout=2)
    sys.exit("the network is reachable: this rehearsal must run without it")
except OSError:
    pass
from common.stages.infer.backends import base, install
base.NEEDS["onnxruntime"] = ("{MODULE}",)
install.PACKAGES["{MODULE}"] = (("{MODULE}", "{MODULE}"),)
assert install.ensure_backend("onnxruntime", sys.argv[1], sys.argv[2])
import {MODULE}
assert {MODULE}.VALUE == 42 and {MODULE}.__file__.startswith(sys.argv[2])
print("installed offline from", install.find_wheel_dirs(sys.argv[1]))
"""


@pytest.mark.skipif(not network_namespaces_work(),
                    reason="needs `unshare -n` (root, or user namespaces) to cut the network")
def test_a_missing_backend_installs_from_shipped_wheels_offline(tmp_path):
    input_root = tmp_path / "input"
    build_wheel(input_root / "birdclef-2026-common" / WHEELS_DIR)
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", REHEARSAL, str(input_root),
         str(tmp_path / "site")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "installed offline from" in proc.stdout
    assert f"installed ['{MODULE}'] offline" in proc.stderr


def test_no_wheels_falls_back_to_torch_with_the_reason(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(base.NEEDS, "openvino", ("not_a_module_anywhere",))
    monkeypatch.setitem(install.PACKAGES, "not_a_module_anywhere",
                        (("not-a-module", "not_a_module_anywhere"),))
    with caplog.at_level(logging.WARNING):
        assert not ensure_backend("openvino", tmp_path, tmp_path / "site")
    assert "no wheels/ folder of wheels attached" in caplog.text
    assert "falling back to torch" in caplog.text


def test_openvino_int8_also_installs_its_quantizer(tmp_path, monkeypatch, caplog):
    # OpenVINO itself is importable here; NNCF is made to look missing, so only int8 asks for it
    monkeypatch.setitem(install.PACKAGES, "nncf", (("nncf-stand-in", "not_a_module_anywhere"),))
    real = install.importlib.util.find_spec
    monkeypatch.setattr(install.importlib.util, "find_spec",
                        lambda name: None if name == "nncf" else real(name))
    if base.missing_reason("openvino") is not None:
        pytest.skip(base.missing_reason("openvino"))
    assert ensure_backend("openvino", tmp_path, tmp_path / "site")
    with caplog.at_level(logging.WARNING):
        assert not ensure_backend("openvino", tmp_path, tmp_path / "site", int8=True)
    assert "['nncf-stand-in']" in caplog.text


def test_a_wheel_folder_without_the_package_falls_back(tmp_path, monkeypatch, caplog):
    build_wheel(tmp_path / "input" / "code" / WHEELS_DIR, name="some_other_package")
    monkeypatch.setitem(base.NEEDS, "openvino", ("not_a_module_anywhere",))
    monkeypatch.setitem(install.PACKAGES, "not_a_module_anywhere",
                        (("not-a-module", "not_a_module_anywhere"),))
    with caplog.at_level(logging.WARNING):
        assert not ensure_backend("openvino", tmp_path / "input", tmp_path / "site")
    assert "offline install of ['not-a-module']" in caplog.text


def test_installed_backends_need_no_wheels(tmp_path):
    assert ensure_backend("torch", tmp_path)


def test_the_push_ships_wheels_where_nb04_looks(tmp_path):
    from devtools.code_dataset import build_code_dataset
    from devtools.kernels import code_dataset_slug
    from devtools.wheels import ship_wheels

    wheel = build_wheel(tmp_path / "downloaded")
    input_root = tmp_path / "input"
    code = build_code_dataset(input_root / code_dataset_slug("birdclef-2026"), "someone")
    shipped = ship_wheels(wheel.parent, code)
    assert (shipped / wheel.name).is_file() and shipped == code / WHEELS_DIR
    assert find_wheel_dirs(input_root) == [shipped.resolve()]
    # Kaggle also mounts datasets under datasets/<user>/<slug>
    nested = tmp_path / "kaggle" / "datasets" / "someone"
    nested.mkdir(parents=True)
    (nested / "code").symlink_to(code)
    assert find_wheel_dirs(tmp_path / "kaggle") == [shipped.resolve()]
    with pytest.raises(FileNotFoundError, match="no .whl"):
        ship_wheels(tmp_path / "empty", code)


def test_the_download_is_for_kaggles_python():
    from devtools.wheels import download_command

    cmd = download_command("/tmp/w")
    text = " ".join(cmd)
    assert "--only-binary :all:" in text and "--python-version 3.11" in text
    assert "--platform manylinux2014_x86_64" in text and "--no-deps" in text
    assert "--platform manylinux_2_28_x86_64" in text and "requirements-infer.txt" in text
    pinned = [line for line in (REPO_ROOT / "requirements-infer.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert {"onnxruntime", "openvino", "onnx"} <= {line.split("==")[0] for line in pinned}
    assert all("==" in line for line in pinned)
