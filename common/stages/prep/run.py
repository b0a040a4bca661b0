"""nb01, data prep: clean the metadata, decode and cache audio, make folds, write reports.

Outputs in the working dir (published as the ``prep`` dataset), whatever the task:

- ``train_folds.csv``: the training clips with ``filename`` (the cache key), ``primary_label``,
  ``fold``, ``duration_seconds``, ``active_share`` and ``best_window_start_seconds``;
- ``soundscape_labels_folds.csv``: labelled windows of long recordings with ``fold`` (headers
  only for a task without them);
- ``species.csv``: the classes in model-output order, with counts;
- ``rare_species.csv``, ``bad_files.csv`` (file, kind and reason), ``fold_summary.csv``;
- ``cache/``: decoded audio (see :mod:`common.audio.cache`);
- ``figures/*.png``, ``prep_config.json``, ``prep_report.json``, ``dataset-metadata.json``.

What a task reads and how it folds is its own (:meth:`common.tasks.base.Task.prepare`; the
BirdCLEF flow is :mod:`common.tasks.birdclef.prep`); this module checks the inputs, calls the
task, and ends every run alike. A run that stops half-way resumes: decoded files already in the
cache are not decoded again.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from common.audio.cache import read_index
from common.core.config import save_config
from common.core.kaggle import write_dataset_metadata
from common.core.runtime import resolve_workers
from common.stages.prep.config import PrepConfig
from common.stages.prep.tables import PrepResult, PrepTables

log = logging.getLogger(__name__)

__all__ = ["finish_prep", "run_prep"]


def run_prep(cfg: PrepConfig) -> PrepResult:
    """Run nb01 end to end; see the module docstring for the outputs.

    ``cfg``: :class:`PrepConfig` or the task's subclass of it (:func:`common.core.config.
    resolve_config` picks it). Raises before writing anything when the inputs do not fit the
    task (:meth:`common.tasks.base.Task.prep_inputs` names the fix).
    """
    t0 = time.time()
    task = cfg.task_spec
    competition_dir = task.prep_inputs(cfg)
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "prep_config.json")
    log.info("competition data: %s", competition_dir)
    tables = task.prepare(cfg, competition_dir, resolve_workers(cfg.workers))
    return finish_prep(cfg, tables, competition_dir, t0)


def finish_prep(cfg: PrepConfig, tables: PrepTables, competition_dir: Path, t0: float
                ) -> PrepResult:
    """The ending every task's nb01 shares: ``prep_report.json`` (the competition folder, the
    task's entries, the cache size in GB and the run time in seconds), ``dataset-metadata.json``
    and the :class:`PrepResult`. ``t0``: ``time.time()`` at the start of the run."""
    out = cfg.output_dir
    index_df = read_index(cfg.cache_dir)
    report = {
        "competition_dir": str(competition_dir),
        **tables.report,
        "cache_gb": round(float(index_df["length"].sum()) * 2 / 1e9, 3),
        "seconds": round(time.time() - t0, 1),
    }
    (out / "prep_report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_dataset_metadata(out, cfg.dataset_slug, tables.title, cfg.kaggle_user)
    log.info("prep done: %s", report)
    return PrepResult(**{**vars(tables), "report": report}, output_dir=out)
