"""``python -m common.synthetic_mashup``: generate a synthetic messy-mashup competition.

A stable command name; the code is laptop tooling in :mod:`devtools.synthetic.mashup`, which the
Kaggle code dataset does not ship.
"""

from devtools.synthetic.mashup.cli import main

if __name__ == "__main__":
    main()
