"""Running one function over many items in worker processes, in order, with a progress bar.

Used by the CPU-heavy per-file loops of the tasks and tools (stem scanning, clip rendering,
feature extraction, synthetic audio). Results come back in the order of the items whatever the
worker count, so a seed per item gives the same output on 1 or 16 cores.

Workers are started with ``spawn``, not ``fork``: the caller may hold threads (torch, tqdm, a
notebook kernel) that a fork would copy mid-state. Spawned workers import the function's module
afresh, so the function must be a module-level name and its arguments picklable. They do not
re-run the caller's script: the stage notebooks run as ``python nbXX.py`` have no
``if __name__ == "__main__"`` guard (notebooks cannot), and a spawned worker that re-ran one
would start the whole stage again.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

__all__ = ["parallel_map", "process_pool"]


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _one_thread_per_worker() -> None:
    """Worker initializer: one compute thread per process.

    The pool already puts one process on each core; OpenMP/BLAS thread pools inside each worker
    (torch, numpy's BLAS, sklearn) would oversubscribe the cores with spinning threads, as
    joblib's workers avoid the same way. Environment variables cover libraries imported later,
    threadpoolctl those already loaded.
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # sklearn's dependency; without it the variables above still apply
        return
    threadpool_limits(limits=1)


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Hide the path of a ``python script.py`` main module while a worker is being spawned.

    ``multiprocessing`` tells a spawned child to re-run the parent's main script (as
    ``__mp_main__``) when the main module has a ``__file__`` and no module spec; without it the
    child starts with an empty main module. Our workers only run functions of importable
    modules, so they never need the script. Mains run with ``-m`` (pytest, our CLIs) have a spec
    and are left alone: their ``__main__`` modules are not re-run by children anyway.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class _WorkerProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj):  # noqa: N802 (multiprocessing's name)
        with _main_script_hidden():
            return SpawnProcess._Popen(process_obj)


class _WorkerContext(SpawnContext):
    """The ``spawn`` context, but children do not re-run the parent's main script."""

    Process = _WorkerProcess


# librosa modules holding @numba.guvectorize(cache=True) functions: importing one compiles them.
LIBROSA_GUFUNC_MODULES = ("librosa.beat", "librosa.core.audio", "librosa.core.pitch",
                          "librosa.util.utils")


def warm_numba_caches() -> None:
    """Compile librosa's cached gufuncs in this process before worker processes start.

    numba writes the two cache files of a gufunc separately (numba/numba#10128): workers that
    import librosa at once on a fresh install can pair files written by different processes,
    and every process that loads that pair segfaults (seen here in ``beat_track`` on a fresh CI
    clone). Importing the modules first, in one process, writes complete caches that workers
    only read; forked workers inherit the compiled code outright. Cheap once compiled.
    """
    for name in LIBROSA_GUFUNC_MODULES:
        importlib.import_module(name)


def process_pool(workers: int) -> ProcessPoolExecutor | None:
    """A spawn-context pool of ``workers`` single-threaded processes (``None`` for ``<= 1``).

    Share one pool between phases (``parallel_map(..., pool=pool)``) so that workers pay their
    imports (librosa, scipy, sklearn: seconds each) once. Close it with ``pool.shutdown()`` or
    use it as a context manager. librosa's numba caches are written here first
    (:func:`warm_numba_caches`).
    """
    if workers <= 1:
        return None
    warm_numba_caches()
    return ProcessPoolExecutor(max_workers=workers, mp_context=_WorkerContext(),
                               initializer=_one_thread_per_worker)


def parallel_map(fn: Callable[..., T], items: Sequence[Any] | Iterable[Any], workers: int = 1,
                 desc: str = "", unit: str = "item", pool: Executor | None = None,
                 star: bool = False) -> list[T]:
    """``[fn(item) for item in items]`` in worker processes, in item order, with a tqdm bar.

    Args:
        fn: a module-level function (picklable).
        items: its arguments, one per call (``star=True``: a tuple of arguments per call).
        workers: processes; ``<= 1`` runs in this process (no pickling, easy debugging).
            Ignored when ``pool`` is given.
        desc, unit: progress bar text.
        pool: an executor to reuse (see :func:`process_pool`).

    A failing item re-raises its exception here after cancelling the items not yet started.
    """
    items = list(items)
    call = (lambda item: fn(*item)) if star else fn
    progress = tqdm(total=len(items), desc=desc, unit=unit, disable=not items)
    try:
        if pool is None and workers <= 1:
            out = []
            for item in items:
                out.append(call(item))
                progress.update()
            return out
        owned = pool is None
        executor = process_pool(min(workers, len(items))) if owned else pool
        if executor is None:  # a single item: not worth a process
            out = [call(item) for item in items]
            progress.update(len(items))
            return out
        futures: dict[Any, int] = {}
        try:
            futures = {(executor.submit(fn, *item) if star else executor.submit(fn, item)): i
                       for i, item in enumerate(items)}
            results: list[Any] = [None] * len(items)
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.update()
            return results
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            if owned:
                executor.shutdown(cancel_futures=True)
    finally:
        progress.close()
