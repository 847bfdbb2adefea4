"""``python -m xpnet``: the ``xpnet`` command (no arguments: ``xpnet train`` with its defaults)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
