"""Synthetic competitions to develop against, one sub-package per task.

- ``birdclef``: a fake ``birdclef-2026`` folder with an answer key (``python -m common.synthetic``);
- ``mashup``: a fake ``messy-mashup`` folder with an answer key
  (``python -m common.synthetic_mashup``);
- ``current``: whether a generated folder is still what the generator makes today
  (``scripts/demo.sh`` regenerates a stale demo).
"""
