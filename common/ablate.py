"""``python -m common.ablate``: the recipe with each technique switched off in turn, a leaderboard.

A stable command name; the code is laptop tooling in :mod:`devtools.ablate`, which the Kaggle
code dataset does not ship.
"""

from devtools.ablate import main

if __name__ == "__main__":
    raise SystemExit(main())
