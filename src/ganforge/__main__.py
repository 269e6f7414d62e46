"""``python -m ganforge``: the same command as ``ganforge``."""

from ganforge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
