"""Errors as dialogs, never tracebacks.

:func:`show_error` turns a :class:`~viewer.model.DicomError` (or any
exception) into a non-blocking message box with the model's message, which
names the file, and writes the details (with the traceback) to the log file
for a bug report. :func:`install_excepthook` makes an unexpected exception
anywhere on the UI thread write its traceback to the log and show a dialog
instead of ending the program.
"""

from __future__ import annotations

import os
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from viewer import logfile
from viewer.model import DicomError
from viewer.ui.paths import log_folder


def error_text(exc: BaseException, action: str = "") -> tuple[str, str]:
    """(headline, details) for `exc`: the model's own message for DicomError."""
    if isinstance(exc, DicomError):
        name = os.path.basename(exc.path) if exc.path else ""
        headline = f"Cannot {action} {name}".strip() if action else (f"Problem with {name}" if name else "Problem")
        return headline, str(exc)
    headline = f"Cannot {action}".strip() if action else "Unexpected error"
    return headline, f"{type(exc).__name__}: {exc}"


_unparented: set[QMessageBox] = set()


def show_message(parent: QWidget | None, title: str, text: str, details: str = "", *, warning: bool = False) -> QMessageBox:
    """Open a non-blocking message box (it deletes itself when closed) and return it."""
    box = QMessageBox(parent)
    box.setObjectName("CinemapMessage")
    box.setIcon(QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(text)
    if details:
        box.setInformativeText(details)
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
