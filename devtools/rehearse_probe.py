"""IPython startup file of the rehearsal's kernels: records, from inside the kernel, what it saw.

:mod:`devtools.rehearse` copies this file into ``<IPYTHONDIR>/profile_default/startup/``, so a
Jupyter kernel started with that ``IPYTHONDIR`` runs it before the notebook's first cell. It
changes nothing the notebook sees; after every cell it writes a JSON record to the path in
``REHEARSAL_PROBE``:

- ``module_files``: where each package named in ``REHEARSAL_MODULES`` (comma-separated:
  ``common`` and the packages the code dataset vendors) was imported from, ``None`` while it is
  not imported;
- ``cwd``, ``sys_path``: the kernel's working dir and import path;
- ``net_namespace``: ``/proc/self/ns/net`` (differs from the rehearsal's own when the kernel
  runs under ``unshare -n``), ``interfaces``: the network interfaces it has, and
  ``connect_error``: what connecting to a public address (no DNS) raised, ``None`` if it
  connected, measured once at start;
- ``torch_threads``: ``torch.get_num_threads()`` once the notebook has imported torch, and the
  thread and hub variables of its environment.

Standard library only: it runs in the kernel, where only the code dataset is importable.
"""

import json
import os
import socket
import sys
from pathlib import Path

PROBE_ADDRESS = ("1.1.1.1", 443)  # a public address by number: no DNS needed to try it
ENVIRONMENT_KEYS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE", "KAGGLE_INPUT_ROOT",
                    "PYTHONPATH")


def _connect_error():
    try:
        socket.create_connection(PROBE_ADDRESS, timeout=3.0).close()
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    return None


def _interfaces():
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return None
    return sorted(line.split(":")[0].strip() for line in lines)


def _record_to(path, connect_error):
    def record(result=None):
        names = filter(None, os.environ.get("REHEARSAL_MODULES", "common").split(","))
        torch = sys.modules.get("torch")
        record = {
            "module_files": {name: getattr(sys.modules.get(name), "__file__", None)
                             for name in names},
            "cwd": os.getcwd(),
            "sys_path": list(sys.path),
            "net_namespace": os.readlink("/proc/self/ns/net")
            if os.path.exists("/proc/self/ns/net") else None,
            "interfaces": _interfaces(),
            "connect_error": connect_error,
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "environment": {key: os.environ.get(key) for key in ENVIRONMENT_KEYS},
        }
        Path(path).write_text(json.dumps(record, indent=1) + "\n")
    return record


if os.environ.get("REHEARSAL_PROBE"):
    _probe_record = _record_to(os.environ["REHEARSAL_PROBE"], _connect_error())
    _probe_record()
    get_ipython().events.register("post_run_cell", _probe_record)  # noqa: F821 (IPython's)
