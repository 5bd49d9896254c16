"""``python -m nnzero``: the same as the ``nnzero`` command."""

import sys

from .cli import main

sys.exit(main())
