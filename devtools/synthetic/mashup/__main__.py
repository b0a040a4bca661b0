"""``python -m common.synthetic_mashup --out DIR [--size tiny|demo] [--seed 0]``."""

from devtools.synthetic.mashup.cli import main

if __name__ == "__main__":
    main()
