"""``python -m common.synthetic``: generate a synthetic birdclef-2026 competition.

A stable command name; the code is laptop tooling in :mod:`devtools.synthetic.birdclef`, which the
Kaggle code dataset does not ship.
"""

from devtools.synthetic.birdclef.cli import main

if __name__ == "__main__":
    main()
