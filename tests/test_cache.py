import numpy as np
import pytest

from common.audio.cache import AudioCache, CacheWriter, read_index


def _waves(n, seed=0):
    rng = np.random.default_rng(seed)
    return {f"sp{i}/XC{i}.ogg": rng.uniform(-1, 1, 1000 + 137 * i).astype(np.float32)
            for i in range(n)}


def test_round_trip_across_shards(tmp_path):
    waves = _waves(7)
    with CacheWriter(tmp_path, 32000, shard_mb=0.005) as writer:  # ~2 waves per shard
        flushes = [writer.add(key, wave, kind="clip", start_seconds=1.5)
                   for key, wave in waves.items()]
    n_shards = read_index(tmp_path)["shard"].nunique()
    # add() reports each shard it flushed; close() writes the last, partial one
    assert sum(flushes) == n_shards - (0 if flushes[-1] else 1) and sum(flushes) >= 2
    cache = AudioCache(tmp_path)
    assert len(cache) == 7 and read_index(tmp_path)["shard"].nunique() >= 3
    for key, wave in waves.items():
        got = cache.get(key)
        assert got.dtype == np.float16 and got.shape == wave.shape
        np.testing.assert_allclose(got.astype(np.float32), wave, atol=1e-3)
        assert cache.entry(key).start_seconds == 1.5
    assert cache.keys("clip") == list(waves)
    assert cache.nbytes() == sum(w.size for w in waves.values()) * 2
    with pytest.raises(KeyError, match="not in the audio cache"):
        cache.get("nope")


def test_resume_keeps_flushed_and_appends(tmp_path):
    waves = _waves(4)
    keys = list(waves)
    writer = CacheWriter(tmp_path, 32000)
    assert writer.add(keys[0], waves[keys[0]]) is False  # buffered, not yet on disk
    writer.flush()
    writer.add(keys[1], waves[keys[1]])  # buffered, never flushed: as if the run crashed
    resumed = CacheWriter(tmp_path, 32000)
    assert keys[0] in resumed and keys[1] not in resumed
    for key in keys[1:]:
        resumed.add(key, waves[key])
    resumed.close()
    cache = AudioCache(tmp_path)
    assert sorted(cache.keys()) == sorted(keys)
    np.testing.assert_allclose(cache.get(keys[3]).astype(np.float32), waves[keys[3]], atol=1e-3)


def test_missing_cache_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run nb01 first"):
        AudioCache(tmp_path)
