"""``python -m common.pipeline``: run the four stage scripts in order on a local mirror of
/kaggle/input.

A stable command name; the code is laptop tooling in :mod:`devtools.pipeline`, which the
Kaggle code dataset does not ship.
"""

from devtools.pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
