"""``python -m xpnet.bench``: the benchmark, or one of its workers (``--worker``)."""

import sys

from .run import main

sys.exit(main())
