"""Run the model's callbacks on the GUI thread.

The model's :class:`viewer.model.events.Signal` calls its callbacks in the
emitting thread, which may be a worker (a save announces edits from one).
:class:`UiThreadCaller` is the ``call_soon`` the
:class:`~viewer.model.view.ViewerModel` takes: a call from the GUI thread
runs at once, a call from any other thread is queued to the GUI thread by
Qt's event loop.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class UiThreadCaller(QObject):
    """``call_soon(function, *args)`` on the thread this object lives in."""

    _requested = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # AutoConnection: direct from this thread, queued from any other.
        self._requested.connect(self._run)

    def call_soon(self, function: Callable[..., Any], *args: Any) -> None:
        self._requested.emit(function, args)

    @staticmethod
    def _run(function: Callable[..., Any], args: tuple) -> None:
        function(*args)
