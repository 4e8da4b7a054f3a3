"""Script frozen by PyInstaller as the ``cinemap`` executable (see ``cinemap.spec``).

The same as the ``cinemap`` console script: ``viewer.cli:main``.
"""

import multiprocessing
import sys

from viewer.cli import main

if __name__ == "__main__":
    # The decode pool starts its decoder processes with "spawn": in a frozen
    # app a child runs this executable again, and freeze_support() turns it
    # into the worker instead of a second viewer.
    multiprocessing.freeze_support()
    sys.exit(main())
