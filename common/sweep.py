"""``python -m common.sweep``: a grid of nb02 runs ranked in a leaderboard.

A stable command name; the code is laptop tooling in :mod:`devtools.sweep`, which the
Kaggle code dataset does not ship.
"""

from devtools.sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
