"""``python -m xpbridge``: the command line (see :mod:`xpbridge._cli.main`)."""

from ._cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
