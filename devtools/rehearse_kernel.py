"""Run one notebook for the rehearsal, in a process of its own (possibly without network).

    python -m devtools.rehearse_kernel SPEC.json

``SPEC.json`` holds ``notebook``, ``output``, ``cwd``, ``parameters`` (injected by papermill
after the ``parameters`` cell), ``timeout_seconds`` and ``loopback_up``. :mod:`devtools.rehearse`
starts this module, under ``unshare -n`` for the offline stage, with the environment the kernel
must see (no ``PYTHONPATH``: only the code dataset provides ``common``). A fresh network
namespace has its loopback down, and the Jupyter kernel talks to papermill over 127.0.0.1, so
with ``loopback_up`` the loopback is brought up first (as on Kaggle's offline notebooks, which
have a loopback and nothing else). Exit status: 0 when every cell ran, 1 when one failed (the
traceback is printed and kept in the executed notebook).
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import sys
from pathlib import Path

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sH22x"  # struct ifreq: the name, then the flags (40 bytes on 64-bit Linux)


def bring_loopback_up() -> None:
    """Set the ``lo`` interface up in this network namespace (``ip link set lo up``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m devtools.rehearse_kernel SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    if spec.get("loopback_up"):
        bring_loopback_up()
    import papermill

    try:
        papermill.execute_notebook(
            spec["notebook"], spec["output"], parameters=spec["parameters"],
            kernel_name="python3", cwd=spec["cwd"], progress_bar=False, log_output=True,
            execution_timeout=spec.get("timeout_seconds"))
    except papermill.PapermillExecutionError as err:
        print(f"{err.ename}: {err.evalue}\n{''.join(err.traceback[-5:])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
