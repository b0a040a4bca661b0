"""nb01, data prep: decode, measure and cache the audio, fold it, write the tables nb02 reads.

- ``config``: :class:`PrepConfig` (a task may subclass it in its folder) and
  :func:`cache_limit_seconds`, the one reading of ``cache_seconds``;
- ``scan``: decode, measure and cache files in worker processes, resumably; the cache budget;
- ``budget``: :func:`size_cache`, ``cache_seconds`` fitted to ``max_cache_gb`` before decoding;
- ``tables``: the table files every task writes, :class:`PrepTables` and :class:`PrepResult`;
- ``run``: :func:`run_prep`, the stage: check the inputs, call the task's
  :meth:`~common.tasks.base.Task.prepare`, then the shared report and dataset metadata.
"""
