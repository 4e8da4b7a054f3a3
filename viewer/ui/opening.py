"""Opening files for a window: on a worker thread, with a progress dialog only when it is slow.

A huge enhanced header can take seconds to parse, so :class:`Opener` runs
:func:`open_any` off the UI thread (a whole-slide image's folder or file
becomes a :class:`~viewer.model.Slide`, anything else a document); the
window stays responsive and a window-modal "Opening…" dialog appears only if
opening takes longer than :data:`PROGRESS_DELAY_MS`. The demo cine is opened the same way once
:class:`~viewer.ui.demo.DemoBuilder` has written it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from viewer.model import DicomError, Document, LockedError, NotDicomError, ReadOnlyError, Slide, open_document
from viewer.model.slide import open_slide
from viewer.model.slide.scan import looks_like_slide
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


NO_SLIDE_IN_FOLDER = "no whole-slide image in this folder"


def open_any(path: str, settings: Settings) -> tuple[Document | Slide, list[str]]:
    """A slide for a folder or a VL Whole Slide Microscopy file, else a document (worker thread).

    Which one is told from the first 4 KB of the file (its meta header
    names the SOP class); the slide's other files are found by a header-only
    scan of its folder.
    """
    if not looks_like_slide(path):
        return open_with_settings(path, settings)
    try:
        slide = open_slide(path)
    except NotDicomError as exc:
        if os.path.isdir(path):
            raise DicomError(path, f"{NO_SLIDE_IN_FOLDER} ({exc.problem})") from exc
        raise
    return slide, list(slide.warnings)


class Opener(QObject):
    """Opens one file at a time for `window`.

    Signals
    -------
    opened(object, list, dict)
        The :class:`~viewer.model.Document`, notes for the user, and the
        request's options (``frame``, ``play``).
    slide_opened(object, str, list)
        A :class:`~viewer.model.Slide`, the path chosen, and notes for the user.
    failed(str, object)
        The path and the exception.
    """

    opened = Signal(object, list, dict)
    slide_opened = Signal(object, str, list)
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
            lambda _progress: open_any(path, settings),
            on_success=lambda result: self._done(lambda: self._announce(path, result, request)),
            on_failure=lambda exc, _trace: self._done(lambda: self.failed.emit(path, exc)),
            context=self,
        )

    def _announce(self, path: str, result: tuple, request: dict) -> None:
        opened, notes = result
        if isinstance(opened, Slide):
            self.slide_opened.emit(opened, path, notes)
        else:
            self.opened.emit(opened, notes, dict(request))

    def _done(self, announce) -> None:
        self._finish_dialog()
        announce()

    def _finish_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.reset()
            self._dialog.deleteLater()
            self._dialog = None
