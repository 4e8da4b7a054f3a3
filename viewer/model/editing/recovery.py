"""Roll back an interrupted save before anything reads the file (every open does this first).

The journal module is imported only when a journal exists: most opens find
none, and the import costs milliseconds.
"""

from __future__ import annotations

import os


def recover_before_open(path: str):
    """The :class:`~viewer.model.editing.journal.RecoveryReport` of a rolled-back save, or None."""
    directory, name = os.path.split(path)
    # os.access, not os.path.lexists: no FileNotFoundError raised and caught on every open (~8 us)
    if not os.access(os.path.join(directory, f".{name}.cinemap-journal"), os.F_OK, follow_symlinks=False):
        return None
    from viewer.model.editing import journal

    return journal.recover(path)
