"""``python -m common.notebooks``: pair, sync and execute the stage notebooks.

A stable command name; the code is laptop tooling in :mod:`devtools.notebooks`, which the
Kaggle code dataset does not ship.
"""

from devtools.notebooks import main

if __name__ == "__main__":
    raise SystemExit(main())
