"""Deliver the model's plain-Python signals as Qt signals on the UI thread.

The model's :class:`viewer.model.events.Signal` calls its callbacks in the
emitting thread, which may be a worker. :class:`DocumentBridge` connects to
the document's signals and re-emits them as Qt signals; Qt queues emissions
from other threads to the bridge's thread, so slots always run on the UI
thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from viewer.model import Document


class DocumentBridge(QObject):
    """Qt signals mirroring a :class:`~viewer.model.Document`'s events.

    Signals
    -------
    frames_changed(object)
        A set of frame indices, or None for all frames.
    mode_changed(bool)
        The new writable flag.
    history_changed()
        Undo/redo/dirty state changed.
    """

    frames_changed = Signal(object)
    mode_changed = Signal(bool)
    history_changed = Signal()

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        document.frames_changed.connect(self._emit_frames_changed)
        document.mode_changed.connect(self._emit_mode_changed)
        document.history_changed.connect(self._emit_history_changed)

    def _emit_frames_changed(self, frames=None) -> None:
        self.frames_changed.emit(frames)

    def _emit_mode_changed(self, writable: bool) -> None:
        self.mode_changed.emit(bool(writable))

    def _emit_history_changed(self, *args) -> None:
        self.history_changed.emit()

    def detach(self) -> None:
        """Stop listening to the document (before it is closed)."""
        self.document.frames_changed.disconnect(self._emit_frames_changed)
        self.document.mode_changed.disconnect(self._emit_mode_changed)
        self.document.history_changed.disconnect(self._emit_history_changed)
