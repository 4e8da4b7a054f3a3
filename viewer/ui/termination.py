"""Quit cleanly on SIGTERM (a logout, ``kill``, a service manager), so no lock file stays behind.

Python runs signal handlers only between bytecodes, and Qt's event loop runs
C++ code for as long as nothing calls into Python: a handler could wait
until the next mouse move. A timer calls into Python twice a second so the
handler runs promptly. The handler quits the event loop; the process then
exits normally, and :mod:`viewer.model.storage.filelock`'s ``atexit`` hook
removes the edit-lock info files. Unsaved edits are not saved (there is
nobody to ask), and the file stays as it was: edits only ever reach it
through a save.
"""

from __future__ import annotations

import signal
from types import FrameType

from PySide6.QtCore import QCoreApplication, QTimer

_WAKE_MS = 500
_timer: QTimer | None = None


def install_sigterm_quit(app: QCoreApplication) -> bool:
    """Make SIGTERM quit `app`'s event loop; False if it cannot be installed here (not the main thread)."""
    global _timer

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        QTimer.singleShot(0, app.quit)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):
        return False
    _timer = QTimer(app)
    _timer.timeout.connect(lambda: None)  # a call into Python, where pending signal handlers run
    _timer.start(_WAKE_MS)
    return True
