"""The budget's view of a BirdCLEF folder: counts and durations, read without decoding.

:func:`measure_workload` backs :meth:`BirdclefTask.measure_workload` (``python -m
common.budget --competition-dir DIR``): ``train.csv`` rows and each clip's duration from its
file header, the train soundscapes (all and labelled), and the test soundscapes (on Kaggle's
public data, where ``test_soundscapes/`` is empty, the sample submission's files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.budget.workload import Workload
from common.data import competition as comp
from common.stages.prep.scan import audio_durations

__all__ = ["measure_workload"]


def _soundscape_seconds(paths: list[Path], default: float) -> float:
    """The longest of the first few soundscapes' header durations (``default`` if none)."""
    durations = audio_durations(paths[:5])
    return float(durations.max()) if len(durations) and durations.max() > 0 else default


def measure_workload(competition_dir: Path, window_seconds: float, clip_seconds: float,
                     sample_rate: int) -> Workload:
    """The :class:`Workload` of a BirdCLEF-shaped ``competition_dir``.

    ``clip_seconds``: the task's soundscape length (used when no soundscape can be read).
    """
    competition_dir = Path(competition_dir)
    train_df = comp.read_train_metadata(competition_dir)
    durations = audio_durations(competition_dir / "train_audio" / fn
                                for fn in train_df["filename"])
    soundscapes = sorted((competition_dir / "train_soundscapes").glob("*.ogg"))
    labelled = comp.read_soundscape_labels(competition_dir)["filename"].nunique()
    tests = sorted((competition_dir / "test_soundscapes").glob("*.ogg"))
    sample_df = comp.read_sample_submission(competition_dir)
    n_tests = len(tests) or sample_df["row_id"].str.rsplit("_", n=1).str[0].nunique()
    return Workload(
        n_clips=len(train_df), decode_clip_seconds=float(np.mean(durations)) if len(durations)
        else 0.0, n_soundscapes=len(soundscapes), n_labelled_soundscapes=int(labelled),
        soundscape_seconds=_soundscape_seconds(soundscapes or tests, clip_seconds),
        n_test_files=int(n_tests), n_classes=len(comp.species_columns(sample_df)),
        sample_rate=sample_rate, source=f"measured in {competition_dir}",
        clip_durations=durations)
