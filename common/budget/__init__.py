"""A budget for every stage: each stage's wall time and output size projected on Kaggle's
hardware before the work starts, and kept during it.

- ``facts``: Kaggle's limits (``kaggle_limits.json``), the measured throughputs and the factors
  to Kaggle's hardware (``throughputs.json``), a task's published sizes;
- ``workload``: :class:`Workload`, the counts and seconds the stages work on;
- ``model``: pure projections, one function per stage, rows that name the knob to turn;
- ``speeds``: a training process's step, validation and loader speeds on a device;
- ``fit``: how nb01 sizes its cache and nb03 its windows, epochs and rounds to their budgets;
- ``clock``: the notebook's start, recorded once, and the deadline counted from it;
- ``plan``: the planner (a preset's four stage configs -> the table);
- ``__main__``: ``python -m common.budget --preset default [--competition-dir DIR]``.

Runtime code (it ships to Kaggle: the stages call it); nothing here imports the laptop tools.
"""
