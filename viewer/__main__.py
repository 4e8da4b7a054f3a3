"""``python -m viewer`` is the same as the ``cinemap`` command."""

import sys

from viewer.cli import main

if __name__ == "__main__":
    sys.exit(main())
