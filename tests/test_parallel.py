"""Tests for common.core.parallel: ordered results on any worker count, errors re-raised."""

import math
import operator

import pytest

from common.core.parallel import parallel_map, process_pool


def test_results_keep_item_order_in_process_and_in_workers():
    items = list(range(12))
    expected = [math.factorial(i) for i in items]
    assert parallel_map(math.factorial, items, workers=1) == expected
    assert parallel_map(math.factorial, items, workers=2) == expected
    pairs = [(i, i + 1) for i in items]
    with process_pool(2) as pool:
        assert parallel_map(operator.mul, pairs, pool=pool, star=True) == [
            a * b for a, b in pairs]
        assert parallel_map(math.factorial, items, pool=pool) == expected  # pool reused


def test_a_failing_item_raises_in_the_caller():
    with pytest.raises(ValueError):
        parallel_map(math.factorial, [3, -1, 4], workers=2)
    with pytest.raises(ValueError):
        parallel_map(math.factorial, [3, -1, 4], workers=1)


def test_small_inputs():
    assert parallel_map(math.factorial, [], workers=4) == []
    assert parallel_map(math.factorial, [5], workers=4) == [120]
    assert process_pool(1) is None


def test_workers_do_not_rerun_an_unguarded_script(tmp_path):
    # The stage notebooks run as `python nbXX.py` with no __main__ guard; a spawned worker that
    # re-ran the script would start the stage again (and die starting its own pool).
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "stage.py"
    script.write_text("import operator\n"
                      "from common.core.parallel import parallel_map\n"
                      "print('script ran')\n"
                      "print(parallel_map(operator.neg, [1, 2, 3, 4], workers=2))\n")
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(repo), "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["script ran", "[-1, -2, -3, -4]"]


def test_librosa_gufuncs_are_compiled_in_the_parent_before_workers_start(monkeypatch):
    # numba/numba#10128: workers compiling librosa's cached gufuncs at once can write a broken
    # cache pair that segfaults every later run; the parent must compile them first.
    import sys

    from common.core import parallel

    calls = []
    monkeypatch.setattr(parallel, "warm_numba_caches", lambda: calls.append("warm"))
    assert parallel.process_pool(1) is None and calls == []  # no workers, nothing to warm
    pool = parallel.process_pool(2)
    pool.shutdown()
    assert calls == ["warm"]
    monkeypatch.undo()
    parallel.warm_numba_caches()
    assert all(name in sys.modules for name in parallel.LIBROSA_GUFUNC_MODULES)


def test_prep_decoding_workers_start_after_the_warm_up(monkeypatch, tmp_path):
    from common.audio.cache import CacheWriter
    from common.stages.prep import scan

    calls = []
    monkeypatch.setattr(scan, "warm_numba_caches", lambda: calls.append("warm"))
    writer = CacheWriter(tmp_path / "cache", 22050, 1.0)
    missing = (str(tmp_path / "absent.wav"), "absent.wav", "clip", 22050, 0.5, -70.0, None,
               "start")
    scan.scan_and_cache([missing], writer, tmp_path / "scan.csv", workers=2, desc="scan")
    assert calls == ["warm"]
    assert scan.read_scan(tmp_path / "scan.csv")["status"].tolist() == ["bad"]
