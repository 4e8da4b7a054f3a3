"""Opening files for a window: on a worker thread, with a progress dialog only when it is slow.

A huge enhanced header can take seconds to parse, so :class:`Opener` runs
:func:`open_with_settings` off the UI thread; the window stays responsive
and a window-modal "Opening…" dialog appears only if opening takes longer
than :data:`PROGRESS_DELAY_MS`. The demo cine is opened the same way once
:class:`~viewer.ui.demo.DemoBuilder` has written it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from viewer.model import Document, LockedError, ReadOnlyError, open_document
from viewer.model.settings import Settings
from viewer.ui.paths import cache_folder
from viewer.ui.workers import run_in_background

PROGRESS_DELAY_MS = 400
TITLE = "Cinemap"


def open_with_settings(path: str, settings: Settings) -> tuple[Document, list[str]]:
    """Open `path` as the settings say (worker thread); returns the document and notes.

    A file that cannot be opened for editing is opened read-only, with a note.
    """
    options = settings.open_options(cache_folder())
    notes: list[str] = []
    try:
        document = open_document(path, **options)
    except (ReadOnlyError, LockedError) as exc:
        if not options["writable"]:
            raise
        options["writable"] = False
        document = open_document(path, **options)
        notes.append(f"Opened read-only: {exc.problem}")
    document.dataset  # noqa: B018 -- the window shows it at once: parse the header here, not on the UI thread
    return document, notes


class Opener(QObject):
    """Opens one file at a time for `window`.

    Signals
    -------
    opened(object, list, dict)
        The :class:`~viewer.model.Document`, notes for the user, and the
        request's options (``frame``, ``play``).
    failed(str, object)
        The path and the exception.
    """

    opened = Signal(object, list, dict)
    failed = Signal(str, object)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self._dialog: QProgressDialog | None = None

    def open(self, path: str, settings: Settings, **request) -> None:
        """Start opening `path`; :attr:`opened` or :attr:`failed` follows on the UI thread."""
        dialog = QProgressDialog(f"Opening {os.path.basename(path)}…", "", 0, 0, self.window)
        dialog.setObjectName("OpenProgress")
        dialog.setCancelButton(None)
        dialog.setWindowTitle(TITLE)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(1 << 30)  # shown by the timer below, only if opening is slow
        self._finish_dialog()
        self._dialog = dialog
        QTimer.singleShot(PROGRESS_DELAY_MS, dialog, lambda: dialog.show() if self._dialog is dialog else None)
        run_in_background(
            lambda _progress: open_with_settings(path, settings),
            on_success=lambda result: self._done(lambda: self.opened.emit(result[0], result[1], dict(request))),
            on_failure=lambda exc, _trace: self._done(lambda: self.failed.emit(path, exc)),
            context=self,
        )

    def _done(self, announce) -> None:
        self._finish_dialog()
        announce()

    def _finish_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.reset()
            self._dialog.deleteLater()
            self._dialog = None
