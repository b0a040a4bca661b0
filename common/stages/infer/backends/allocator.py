"""glibc's allocator, set for a loop that frees and re-allocates the same large buffers.

By default glibc serves blocks above a *dynamic* mmap threshold (128 KiB, growing up to 32 MiB
as it sees blocks freed) straight from ``mmap`` and returns them with ``munmap``, and trims the
heap top above 128 KiB. A model pass allocates activations of several MiB and frees them at the
end of each batch, so every batch maps fresh pages and takes a page fault per 4 KiB touched; on
two cores some backbones run 5-20x slower for it. Fixing both thresholds (which also switches
the dynamic adjustment off) keeps freed activations in the heap for the next batch.
``MALLOC_ARENA_MAX`` would have to be in the environment before the process starts; ``mallopt``
works in-process, at any time, for every later allocation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "tune_malloc"]

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's ceiling for it on 64-bit: batch buffers stay in heap
TRIM_THRESHOLD_BYTES = 1 << 30  # keep up to 1 GiB of freed heap instead of returning it
ARENAS = 2  # decode thread + model threads; fewer arenas, less fragmentation


def tune_malloc() -> bool:
    """Fix glibc's mmap and trim thresholds and cap its arenas; ``True`` when applied.

    A no-op returning ``False`` off glibc (macOS, musl) or when a replacement allocator
    (jemalloc, tcmalloc through ``LD_PRELOAD``) already took over ``malloc``.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.info("mallopt not available (not glibc): allocator left as it is")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (_M_ARENA_MAX, ARENAS)))
    log.info("glibc malloc: mmap threshold %d MiB, trim threshold %d MiB, %d arenas%s",
             MMAP_THRESHOLD_BYTES >> 20, TRIM_THRESHOLD_BYTES >> 20, ARENAS,
             "" if ok else " (mallopt refused a setting)")
    return ok
