"""``python -m nnzero.cli``: the same as the ``nnzero`` command."""

import sys

from . import main

sys.exit(main())
