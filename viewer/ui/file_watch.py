"""Notice when the shown file changes on disk; offer Reload or Close.

Another program may truncate, rewrite, append to or replace a file Cinemap
shows. The model notices (:attr:`~viewer.model.Document.changed_on_disk`):
with a kernel read lease the writer's ``open()`` waits while Cinemap's SIGIO
handler swaps the mapping for zero pages; without one, ``fstat`` checks the
size and modification time before each frame. This module turns that into
one prompt per change, within a second, from three sources:

* ``QFileSystemWatcher`` (inotify on Linux) reports a write at once;
* a :data:`POLL_INTERVAL_MS` poll of ``changed_on_disk`` (one ``fstat``) and of
  the path's identity (a file replaced under the same name) catches what the
  watcher misses: network file systems, a watch dropped when the file was
  renamed. The poll also makes Python run on the UI thread regularly, which
  matters for leases: Python runs signal handlers only on the main thread,
  between bytecodes, so while Qt's event loop waits in C++ a writer blocked
  by our lease would wait for the next user event (up to the kernel's
  lease-break time, 45 s) instead of at most one poll interval;
* a :class:`~viewer.model.FileChangedError` from a frame fetch, which the
  main window routes to :meth:`FileWatch.report_error`.

A truncation the checks have not seen yet cannot kill the process while
pyqtgraph paints: frames are views of the mapping only under a read lease,
whose break replaces the pages by zeros first; otherwise they are read into
memory (:mod:`viewer.model.storage.guard`).

Each leads to :meth:`FileWatch.report`: playback stops and a bar above the
image says "<file> changed on disk (<reason>)", with Reload (open the same
path again, on the same frame) and Close.
"""

from __future__ import annotations

import os
from typing import Callable

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from viewer.model import Document, FileChangedError
from viewer.model.view import ViewerModel

POLL_INTERVAL_MS = 250


def change_message(path: str, reason: str, *, dirty: bool = False) -> str:
    """What the bar says: "<file> changed on disk (<reason>)", and whether edits are at stake."""
    text = f"{os.path.basename(path)} changed on disk ({reason})."
    if dirty:
        text += " You have unsaved edits: Reload and Close ask what to do with them."
    return text


def path_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file now at `path`, or None if there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


class FileChangedBar(QFrame):
    """A non-modal bar: the change, a Reload and a Close button.

    Signals
    -------
    reload_clicked()
    close_clicked()
    """

    reload_clicked = Signal()
    close_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FileChangedBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#FileChangedBar { background: #fff3cd; } #FileChangedBar QLabel { color: #533f03; }")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Open the file again, on the same frame")
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close the file")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.reload_button)
        layout.addWidget(self.close_button)
        self.reload_button.clicked.connect(self.reload_clicked)
        self.close_button.clicked.connect(self.close_clicked)
        self.hide()

    def show_change(self, text: str) -> None:
        self.message.setText(text)
        self.show()


class FileWatch(QObject):
    """Watches the state's document for changes made on disk by other programs.

    Parameters
    ----------
    state : ViewerModel
        Whose document is watched.
    pause : callable
        Stops playback.
    reload : callable
        Opens the same file again on the same frame (the main window's reopen).
    close : callable
        Closes the document.
    parent : QWidget
        Parent of :attr:`bar`, which the caller places above the image.

    Signals
    -------
    changed(str, str)
        The path and the reason, once per change.
    """

    changed = Signal(str, str)

    def __init__(
        self,
        state: ViewerModel,
        *,
        pause: Callable[[], None],
        reload: Callable[[], None],
        close: Callable[[], object],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self._pause = pause
        self._reload = reload
        self._close = close
        self.bar = FileChangedBar(parent)
        self.reason: str | None = None  # of the change reported for the shown document
        self._document: Document | None = None
        self._identity: tuple[int, int] | None = None
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _path: self.check())
        self._timer = QTimer(self, interval=POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.check)
        self.bar.reload_clicked.connect(self.reload)
        self.bar.close_clicked.connect(self.close)
        state.document_changed.connect(self._attach)
        self._attach(state.document)

    # -------------------------------------------------------------- watching
    def _attach(self, document: Document | None) -> None:
        watched = self._watcher.files()
        if watched:
            self._watcher.removePaths(watched)
        self._document = document
        self.reason = None
        self.bar.hide()
        if document is None:
            self._identity = None
            self._timer.stop()
            return
        self._identity = path_identity(document.path)
        self._watcher.addPath(document.path)
        self._timer.start()

    def check(self) -> None:
        """Look for a change now (cheap: an ``fstat`` and a ``stat``); report a new one."""
        document = self._document
        if document is None or document.closed or self.reason is not None:
            return
        reason = self._replaced(document.path) or document.changed_on_disk
        if reason:
            self.report(reason)
        elif not self._watcher.files() and os.path.exists(document.path):
            self._watcher.addPath(document.path)  # inotify forgets a file renamed over

    def _replaced(self, path: str) -> str | None:
        identity = path_identity(path)
        if identity is not None and self._identity is not None and identity != self._identity:
            return "it was replaced by another file"
        return None  # gone from the path: the open file itself may still be fine

    # ------------------------------------------------------------- reporting
    def report(self, reason: str) -> None:
        """Stop playback and show the bar, unless this document's change was already shown."""
        document = self._document
        if document is None or self.reason is not None:
            return
        self.reason = reason
        self._pause()
        self.bar.show_change(change_message(document.path, reason, dirty=document.dirty))
        self.changed.emit(document.path, reason)

    def report_error(self, exc: FileChangedError) -> None:
        """A frame fetch failed because the file changed: the same prompt, once."""
        document = self._document
        reason = document.changed_on_disk if document is not None and not document.closed else None
        self.report(reason or exc.problem)

    # --------------------------------------------------------------- answers
    def reload(self) -> None:
        """Open the file again on the same frame (the bar goes when the new document is shown)."""
        if self._document is not None:
            self._reload()

    def close(self) -> None:
        """Close the document (the user may keep it to save edits: then the bar stays)."""
        if self._document is not None:
            self._close()
