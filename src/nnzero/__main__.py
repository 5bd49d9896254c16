"""``python -m nnzero``: the same as the ``nnzero`` command."""

import sys

try:
    from .cli import main

    code = main()
except KeyboardInterrupt:          # Ctrl-C before main() took charge of it (while importing nnzero.cli)
    print("nnzero: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
