"""Script frozen by PyInstaller as the ``cinemap`` executable (see ``cinemap.spec``).

The same as the ``cinemap`` console script: ``viewer.cli:main``.
"""

import sys

from viewer.cli import main

if __name__ == "__main__":
    sys.exit(main())
