"""Audio for window tables: the waveform source, the torch Dataset and the per-epoch loaders.

Audio comes from nb01's decoded cache (:class:`common.audio.cache.AudioCache`), through
:class:`AudioSource`, which also reads further caches (an nb03 dataset's) and, as a last resort,
decodes the competition file. :class:`WindowDataset` turns the rows of a
:class:`common.data.windows.WindowItems` table into samples; the loader's per-sample work is a
slice and, for focal clips, one RMS envelope; mel, augmentation and mixing run batched on the GPU
inside the training step (:mod:`common.audio.augment`, :mod:`common.model.frontend`).
:func:`make_loader` builds one epoch's reproducible DataLoader, :func:`loader_workers` sizes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from common.audio.cache import AudioCache
from common.audio.crops import crop_clip, energy_crop, pad_by_repetition
from common.audio.io import load_audio
from common.core.runtime import cpu_count
from common.data.windows import WindowItems

__all__ = ["AudioSource", "WindowDataset", "loader_workers", "make_loader"]

# Audio access.


class AudioSource:
    """Waveforms by key from one or more caches, falling back to decoding the source file.

    Caches are opened lazily in each process (DataLoader workers included) and never pickled,
    so forking or spawning workers does not copy memory maps.

    Args:
        cache_dirs: caches searched in order (an nb03 cache first, then nb01's).
        audio_root: competition folder for keys in no cache (``None``: such keys are an error).
        sample_rate: Hz.
    """

    def __init__(self, cache_dirs: Sequence[str | Path], audio_root: str | Path | None,
                 sample_rate: int = 32000) -> None:
        self.cache_dirs = [Path(d) for d in cache_dirs]
        self.audio_root = Path(audio_root) if audio_root is not None else None
        self.sample_rate = sample_rate
        self._caches: list[AudioCache] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_caches": None}

    @property
    def caches(self) -> list[AudioCache]:
        if self._caches is None:
            self._caches = [AudioCache(d) for d in self.cache_dirs
                            if (d / "index.csv").is_file()]
        return self._caches

    def clip(self, key: str) -> tuple[np.ndarray, float]:
        """The whole stored waveform ``(samples,)`` and where it starts in the source, seconds."""
        for cache in self.caches:
            if key in cache:
                return cache.get(key), cache.entry(key).start_seconds
        if self.audio_root is None:
            raise KeyError(f"{key!r} is in no cache ({', '.join(map(str, self.cache_dirs))})")
        return load_audio(self.audio_root / key, self.sample_rate), 0.0

    def window(self, key: str, start_seconds: float, n_samples: int) -> np.ndarray:
        """``n_samples`` from ``start_seconds`` (source time); short ends repeat the window."""
        for cache in self.caches:
            if key in cache:
                wave = cache.get(key)
                first = int(round((start_seconds - cache.entry(key).start_seconds)
                                  * self.sample_rate))
                first = min(max(first, 0), max(wave.size - 1, 0))
                return pad_by_repetition(wave[first:first + n_samples], n_samples)
        if self.audio_root is None:
            raise KeyError(f"{key!r} is in no cache ({', '.join(map(str, self.cache_dirs))})")
        wave = load_audio(self.audio_root / key, self.sample_rate, start_seconds,
                          n_samples / self.sample_rate)
        return pad_by_repetition(wave, n_samples)


# ---------------------------------------------------------------------------------------------
# Dataset and loader.


class WindowDataset(Dataset):
    """Samples of a window table, each ``(clip_samples,)`` float16 plus targets.

    Every random choice of sample ``i`` in epoch ``e`` comes from
    ``np.random.default_rng([seed, e, i])``: the result depends neither on the number of
    workers nor on the order samples are drawn in, so a resumed run sees the same data.

    Each item is a dict: ``wave`` ``(samples,)`` float16, ``targets`` and ``mask`` ``(classes,)``
    float32, ``weight`` () float32, ``index`` () int64 and, when a background table is given,
    ``background`` ``(samples,)`` float16 (a random background window).

    Args:
        items: the window table.
        source: where the audio is.
        clip_samples: window length in samples.
        train: ``True``: clips are cropped by ``crop_mode`` with jitter; ``False``: energy crop
            centred on the loudest stretch, no jitter (deterministic validation).
        crop_mode: ``energy``, ``random`` or ``start`` (see :func:`common.audio.crops.crop_clip`).
        background_df: ``key, start_seconds`` windows for background mixing, or ``None``.
        seed: data seed.
    """

    def __init__(self, items: WindowItems, source: AudioSource, clip_samples: int,
                 train: bool = True, crop_mode: str = "energy",
                 background_df: pd.DataFrame | None = None, seed: int = 0) -> None:
        self.items = items
        self.source = source
        self.clip_samples = clip_samples
        self.train = train
        self.crop_mode = crop_mode
        self.seed = seed
        self.epoch = 0
        table = items.table_df
        self._keys = table["key"].astype(str).tolist()
        self._crops = table["crop"].astype(str).tolist()
        self._starts = table["start_seconds"].astype(float).to_numpy()
        self._weights = table["weight"].astype(np.float32).to_numpy()
        bg = background_df if background_df is not None and len(background_df) else None
        self._bg_keys = bg["key"].astype(str).tolist() if bg is not None else []
        self._bg_starts = bg["start_seconds"].astype(float).to_numpy() if bg is not None else None

    def set_epoch(self, epoch: int) -> None:
        """Make the random crops and background picks those of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._keys)

    def _wave(self, i: int, rng: np.random.Generator) -> np.ndarray:
        key, n = self._keys[i], self.clip_samples
        if self._crops[i] == "window":
            return self.source.window(key, float(self._starts[i]), n)
        wave, _ = self.source.clip(key)
        if wave.size == 0:
            raise ValueError(f"{key!r} has no audio in the cache; re-run nb01")
        if self.train:
            return crop_clip(wave, n, self.source.sample_rate, rng, self.crop_mode)
        return energy_crop(wave, n, self.source.sample_rate, rng, jitter_seconds=0.0,
                           n_candidates=1)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        item = {
            "wave": torch.from_numpy(np.array(self._wave(i, rng), dtype=np.float16)),
            "targets": torch.from_numpy(self.items.targets[i].copy()),
            "mask": torch.from_numpy(self.items.mask[i].copy()),
            "weight": torch.tensor(self._weights[i]),
            "index": torch.tensor(int(i)),
        }
        if self._bg_keys:
            j = int(rng.integers(len(self._bg_keys)))
            bg = self.source.window(self._bg_keys[j], float(self._bg_starts[j]), self.clip_samples)
            item["background"] = torch.from_numpy(np.array(bg, dtype=np.float16))
        return item


def loader_workers(requested: int, n_processes: int = 1) -> int:
    """DataLoader workers: ``requested`` when >= 0 is meant literally (0 = load in the main
    process); ``-1`` = the CPUs available to this process divided among ``n_processes``
    training processes, keeping one for the training loop itself when there are several."""
    if requested >= 0:
        return requested
    share = cpu_count() // max(1, n_processes)
    return max(0, share - 1) if share > 2 else share if share > 1 else 0


def make_loader(dataset: WindowDataset, batch_size: int, *, shuffle: bool, epoch: int = 0,
                seed: int = 0, workers: int = 0, drop_last: bool = False, max_batches: int = 0,
                pin_memory: bool = False, sample_weights: np.ndarray | None = None
                ) -> DataLoader:
    """A DataLoader over ``dataset`` for one epoch.

    The order is a permutation drawn from ``(seed, epoch)`` when ``shuffle`` (reproducible
    and independent of workers); ``max_batches`` > 0 keeps only the first batches (smoke runs,
    benchmarks). Workers are not persistent: each epoch's loader pickles the dataset with its
    epoch set, which is what makes per-epoch crops reproducible across resumes.
    ``sample_weights`` ``(rows,)`` (summing to 1) replaces the shuffle by ``rows`` draws with
    replacement from those probabilities (class balancing), from the same seeded generator.
    """
    dataset.set_epoch(epoch)
    n = len(dataset)
    rng = np.random.default_rng([seed, epoch, 7919])
    if sample_weights is not None:
        order = rng.choice(n, size=n, replace=True, p=np.asarray(sample_weights, float))
    else:
        order = rng.permutation(n) if shuffle else np.arange(n)
    if drop_last and n >= batch_size:  # a BatchNorm batch of one sample fails in training
        order = order[: (n // batch_size) * batch_size]
    if max_batches > 0:
        order = order[: max_batches * batch_size]
    return DataLoader(dataset, batch_size=batch_size, sampler=order.tolist(),
                      num_workers=workers, drop_last=False, pin_memory=pin_memory,
                      prefetch_factor=4 if workers > 0 else None)
