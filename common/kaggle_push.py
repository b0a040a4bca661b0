"""``python -m common.kaggle_push``: build and upload the code dataset and the four notebooks to
Kaggle.

A stable command name; the code is laptop tooling in :mod:`devtools.push`, which the
Kaggle code dataset does not ship.
"""

from devtools.push import main

if __name__ == "__main__":
    raise SystemExit(main())
