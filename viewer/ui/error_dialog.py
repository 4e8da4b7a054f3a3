"""Errors as dialogs, never tracebacks.

:func:`show_error` turns a :class:`~viewer.model.DicomError` (or any
exception) into a non-blocking message box: a plain first sentence ("This is
not a DICOM file."), then the model's message and the file's path, and writes the details (with the traceback) to the log file
for a bug report. :func:`install_excepthook` makes an unexpected exception
anywhere on the UI thread write its traceback to the log and show a dialog
instead of ending the program.
"""

from __future__ import annotations

import html
import os
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from viewer import logfile
from viewer.model import (
    DicomError,
    FileChangedError,
    LockedError,
    NotDicomError,
    ReadOnlyError,
    SaveError,
    TruncatedFileError,
    UnsupportedError,
)
from viewer.ui.paths import log_folder

MESSAGE_MIN_WIDTH = 440  # pixels: a message box narrower than this wraps a file path every few words
_PLAIN_SENTENCES = (
    (NotDicomError, "This is not a DICOM file."),
    (TruncatedFileError, "This file is incomplete: it ends before the data it says it holds."),
    (UnsupportedError, "This file uses something Cinemap cannot show or edit."),
    (FileChangedError, "Another program changed the file while it was open."),
    (ReadOnlyError, "The file is open read-only."),
    (LockedError, "Another program is editing this file."),
    (SaveError, "The edits could not be saved; the file is as it was."),
)
_PLAIN_PROBLEMS = (  # plain DicomError, by the start of the model's words
    ("no such file", "The file does not exist (it may have been moved, renamed or deleted)."),
    ("is a folder", "This is a folder, not a file."),
    ("no whole-slide image in this folder", "This folder holds no whole-slide image (VL Whole Slide Microscopy)."),
    ("cannot open", "The file cannot be opened."),
)


def plain_sentence(exc: DicomError) -> str:
    """What went wrong in one plain sentence, before the technical detail."""
    for kind, sentence in _PLAIN_SENTENCES:
        if isinstance(exc, kind):
            return sentence
    problem = exc.problem or ""
    for start, sentence in _PLAIN_PROBLEMS:
        if problem.startswith(start):
            return sentence
    return "Cinemap cannot use this file."


def error_text(exc: BaseException, action: str = "") -> tuple[str, str]:
    """(headline, details) for `exc`.

    For a DicomError the details start with a plain sentence ("This is not a
    DICOM file."), then the model's own words for the problem, then the
    file's full path.
    """
    if isinstance(exc, DicomError):
        name = os.path.basename(exc.path) if exc.path else ""
        headline = f"Cannot {action} {name}".strip() if action else (f"Problem with {name}" if name else "Problem")
        details = f"{plain_sentence(exc)}\n\nDetail: {exc.problem}"
        if exc.path:
            details += f"\n\nFile: {exc.path}"
        return headline, details
    headline = f"Cannot {action}".strip() if action else "Unexpected error"
    return headline, f"{type(exc).__name__}: {exc}"


_unparented: set[QMessageBox] = set()


def show_message(parent: QWidget | None, title: str, text: str, details: str = "", *, warning: bool = False) -> QMessageBox:
    """Open a non-blocking message box (it deletes itself when closed) and return it."""
    box = QMessageBox(parent)
    box.setObjectName("CinemapMessage")
    box.setIcon(QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    # Bold, so the headline stands out (rich text is detected from the tags;
    # the informative text stays plain, with its line breaks).
    box.setText(f"<b>{html.escape(text)}</b>")
    if details:
        box.setInformativeText(details)
    # QMessageBox sizes itself from its labels; without a minimum it wraps a
    # path every few words. Only its own labels are named like this.
    box.setStyleSheet(f"QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel "
                      f"{{ min-width: {MESSAGE_MIN_WIDTH}px; }}")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if parent is None:  # nothing owns it on the C++ side: keep it alive until closed
        _unparented.add(box)
        box.finished.connect(lambda _result: _unparented.discard(box))
    if warning:
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
    else:
        box.open()  # window modal, without a nested event loop
    return box


def show_error(parent: QWidget | None, exc: BaseException, action: str = "open") -> QMessageBox:
    """Show `exc` as an error dialog and log its traceback.

    The dialog's text is the model's message naming the file; an unexpected
    (non-DicomError) exception also says where the details were written.
    """
    headline, details = error_text(exc, action)
    path = log_exception(exc, headline)
    if path and not isinstance(exc, DicomError):
        details += f"\n\nThe details were written to {path}."
    return show_message(parent, "Cinemap", headline, details)


def log_exception(exc: BaseException, headline: str = "") -> str | None:
    """Write `headline` and the traceback of `exc` (it keeps its own, even from a worker thread) to the log."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return write_log(f"{headline}\n{trace}" if headline else trace)


def write_log(text: str) -> str | None:
    """Append `text` to the log file; return its path (None if it cannot be written)."""
    return logfile.write_log(text, log_folder())


def install_excepthook() -> None:
    """Log unexpected exceptions and show them as a dialog instead of crashing."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, trace)
            return
        text = "".join(traceback.format_exception(kind, exc, trace))
        path = write_log(text)
        sys.stderr.write(text)
        if QApplication.instance() is None:
            return
        parent = QApplication.activeWindow()
        headline, details = error_text(exc)
        where = f"\n\nThe details were written to {path}." if path else ""
        show_message(parent, "Cinemap", headline, details + where)

    sys.excepthook = hook
