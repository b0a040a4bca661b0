"""The budget's facts: Kaggle's limits, measured throughputs, and a task's published sizes.

Three small JSON files, each fact with its value and its source, read here and nowhere else:

- ``kaggle_limits.json`` (this folder): sessions, accelerators, cores, output and submission
  limits (:class:`KaggleLimits`);
- ``throughputs.json`` (this folder): speeds measured by ``benchmarks/*.py`` (machine, date,
  command) and the stated factors that carry them to Kaggle's hardware (:class:`Throughputs`);
  a benchmark run with ``--write-facts`` refreshes its entry (:func:`write_throughput`);
- ``<task folder>/kaggle_facts.json``: the real competition's sizes (:func:`published_sizes`).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_BACKEND", "KaggleLimits", "Throughputs", "device_name", "load_limits",
           "load_throughputs", "published_sizes", "write_throughput"]

HERE = Path(__file__).resolve().parent
LIMITS_PATH = HERE / "kaggle_limits.json"
THROUGHPUTS_PATH = HERE / "throughputs.json"
DEFAULT_BACKEND = "torch"  # nb04's inference backend; others add their measured speeds by name


def _values(path: Path) -> dict[str, Any]:
    """``{name: value}`` of a facts file (entries ``{"value": ..., "source": ...}``)."""
    data = json.loads(path.read_text())
    return {k: v["value"] for k, v in data.items() if isinstance(v, dict) and "value" in v}


@dataclass(frozen=True)
class KaggleLimits:
    """Kaggle's limits (``kaggle_limits.json``): hours, GB, minutes, counts."""

    session_hours: float  # one notebook session, CPU or GPU
    gpu: str  # the accelerator the GPU stages ask for
    n_gpus: int
    cpu_cores: int
    output_gb: float  # /kaggle/working saved as output
    submission_minutes: float  # the scored CPU rerun of nb04
    gpu_weekly_hours: float  # GPU quota per week


def load_limits(path: str | Path = LIMITS_PATH) -> KaggleLimits:
    """Kaggle's limits from ``path`` (default: the shipped ``kaggle_limits.json``)."""
    values = _values(Path(path))
    return KaggleLimits(**{k: values[k] for k in KaggleLimits.__dataclass_fields__})


class Throughputs:
    """Speeds by name, measured here or on a GPU, with the factors to Kaggle's hardware.

    Entries of ``throughputs.json`` under ``"measured"`` are keyed ``<what>.<device>.<model>``
    (``train_step.cpu.tf_efficientnet_b0``: training samples per second) with ``value``,
    ``machine``, ``date`` and ``command``; ``"factors"`` carry a CPU figure to a Kaggle device
    (``train_step.t4``) with the reasoning. A figure measured on the Kaggle device itself
    wins over a factor.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.measured: dict[str, dict[str, Any]] = data.get("measured", {})
        self.factors: dict[str, dict[str, Any]] = data.get("factors", {})

    def _lookup(self, what: str, device: str, model: str) -> tuple[float, str]:
        for name in (f"{what}.{device}.{model}", f"{what}.{device}"):
            if name in self.measured:
                return float(self.measured[name]["value"]), f"measured {name}"
        base = self.factors.get(f"{what}.{device}")
        if base is None:
            raise KeyError(f"no throughput for {what} on {device}: add a measured entry or a "
                           f"factor to {THROUGHPUTS_PATH} (run the benchmark with --write-facts)")
        source = base["from"]
        for name in (f"{source}.{model}", source):
            if name in self.measured:
                return (float(self.measured[name]["value"]) * float(base["value"]),
                        f"{name} x {base['value']} ({what}.{device} factor)")
        fallback = base.get("fallback_model", "")
        name = f"{source}.{fallback}"
        if name not in self.measured:
            raise KeyError(f"no throughput for {what} of {model!r} and no fallback {name!r} in "
                           f"{THROUGHPUTS_PATH}")
        return (float(self.measured[name]["value"]) * float(base["value"]),
                f"{name} x {base['value']} (no figure for {model}: {fallback}'s)")

    def rate(self, what: str, device: str, model: str = "") -> float:
        """The speed of ``what`` on ``device`` for backbone ``model`` (its unit is the entry's:
        samples/s, windows/s, audio s/s). Raises ``KeyError`` naming the file when unknown."""
        return self._lookup(what, device, _short(model))[0]

    def source(self, what: str, device: str, model: str = "") -> str:
        """Where :meth:`rate` comes from, for the table and the logs."""
        return self._lookup(what, device, _short(model))[1]

    def infer_rate(self, model: str, backend: str = DEFAULT_BACKEND) -> float:
        """nb04: window passes per second of one member's model on Kaggle's CPU for ``backend``
        (``torch``, ``openvino``, ``onnxruntime``, or ``<backend>_int8``: their benchmark writes
        ``infer.cpu_<backend>.<model>``). The decoding and frontend every member shares are
        :meth:`infer_shared_rate`, counted once per window and view, not per member."""
        return self._infer(model, backend)[0]

    def infer_source(self, model: str, backend: str = DEFAULT_BACKEND) -> str:
        """Where :meth:`infer_rate` comes from."""
        return self._infer(model, backend)[1]

    def infer_shared_rate(self) -> float:
        """nb04's work every member shares, on Kaggle's CPU: window passes per second of
        decoding and the frontend (one per window and view that costs a pass, whatever the
        number of members; it runs in PyTorch whatever the backend). ``inf`` when not on
        record: older facts folded it into each member's :meth:`infer_rate`."""
        return self._infer_shared()[0]

    def infer_shared_source(self) -> str:
        """Where :meth:`infer_shared_rate` comes from."""
        return self._infer_shared()[1]

    def _infer_shared(self) -> tuple[float, str]:
        try:
            return self._lookup("infer_shared", "kaggle_cpu", "")
        except KeyError:
            return float("inf"), "no infer_shared figure: counted inside each member's speed"

    def _infer(self, model: str, backend: str) -> tuple[float, str]:
        if backend == DEFAULT_BACKEND:
            return self._lookup("infer", "kaggle_cpu", _short(model))
        device = f"kaggle_cpu_{backend}"
        if f"infer.{device}" not in self.factors and "infer.kaggle_cpu" in self.factors:
            # A backend measured here (``infer.cpu_<backend>``) reaches Kaggle's CPU by the
            # same cores-and-clock factor as torch.
            self.factors[f"infer.{device}"] = {**self.factors["infer.kaggle_cpu"],
                                                "from": f"infer.cpu_{backend}"}
        return self._lookup("infer", device, _short(model))


def _short(model: str) -> str:
    """``tf_efficientnet_b0.ns_jft_in1k`` -> ``tf_efficientnet_b0`` (the tag does not change
    the speed)."""
    return model.split(".")[0]


def load_throughputs(path: str | Path = THROUGHPUTS_PATH) -> Throughputs:
    """The measured speeds and factors from ``path`` (default: the shipped file)."""
    return Throughputs(json.loads(Path(path).read_text()))


def write_throughput(name: str, value: float, unit: str, command: str,
                     path: str | Path = THROUGHPUTS_PATH, **extra: Any) -> None:
    """Record a measured speed ``name`` (``<what>.<device>.<model>``) with this machine, today's
    date and the ``command`` that measured it; other entries are kept."""
    path = Path(path)
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and not command.startswith("OMP_NUM_THREADS"):
        command = f"OMP_NUM_THREADS={threads} {command}"
    data = json.loads(path.read_text()) if path.is_file() else {"measured": {}, "factors": {}}
    data.setdefault("measured", {})[name] = {
        "value": round(float(value), 3), "unit": unit, "command": command,
        "machine": f"{platform.node() or 'unknown'} ({platform.processor() or platform.machine()})",
        "date": datetime.date.today().isoformat(), **extra}
    path.write_text(json.dumps(data, indent=2) + "\n")


def device_name(device: Any) -> str:
    """The throughput key of a torch device: ``cpu``, ``t4`` for a Tesla T4, else the GPU's
    name in lower case without spaces (``nvidia_h200``)."""
    if getattr(device, "type", str(device)) != "cuda":
        return "cpu"
    import torch

    name = torch.cuda.get_device_name(device).lower()
    return "t4" if "t4" in name.split() or name.endswith("t4") else "_".join(name.split())


def published_sizes(task_dir: str | Path) -> dict[str, Any]:
    """``{name: value}`` of a task's ``kaggle_facts.json`` (the real competition's sizes).
    Raises ``FileNotFoundError`` naming the fix when the task ships none."""
    path = Path(task_dir) / "kaggle_facts.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: this task publishes no competition sizes; "
                                "pass --competition-dir to measure a competition folder")
    return _values(path)
