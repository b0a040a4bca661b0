"""``python -m common.rehearse``: a Kaggle rehearsal, run here: the push's own code dataset and
notebooks executed in a Kaggle-shaped tree, the repo not importable, the offline stage without
network; a report per stage.

A stable command name; the code is laptop tooling in :mod:`devtools.rehearse`, which the Kaggle
code dataset does not ship.
"""

from devtools.rehearse import main

if __name__ == "__main__":
    raise SystemExit(main())
