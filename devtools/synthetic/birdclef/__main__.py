"""``python -m common.synthetic --out DIR [--size tiny|demo] [--seed 0] [--empty-test]``."""

from devtools.synthetic.birdclef.cli import main

if __name__ == "__main__":
    main()
