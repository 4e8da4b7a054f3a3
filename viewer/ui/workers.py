"""Run long work off the UI thread and hear about it on the UI thread.

:func:`run_in_background` runs a function on a thread pool; the function may
report progress and check for cancellation, and its result or exception
comes back through Qt signals (queued to the UI thread). Nothing that
touches a widget may run inside the function.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class Cancelled(Exception):
    """Raised inside a task (by its progress callback) when it was cancelled."""


class TaskSignals(QObject):
    """Signals of one :class:`Task`, emitted from the worker thread."""

    progress = Signal(int, int)  # done, total
    succeeded = Signal(object)  # the function's result
    failed = Signal(object, str)  # the exception, its formatted traceback
    finished = Signal()  # after succeeded or failed


class Task(QRunnable):
    """One call of ``function(progress)`` on a worker thread.

    ``progress(done, total)`` reports progress and raises :class:`Cancelled`
    once :meth:`cancel` was called, so a long loop stops at its next report.
    """

    def __init__(self, function: Callable[[Callable[[int, int], None]], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Python object owns it; see _running
        self.function = function
        self.signals = TaskSignals()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Ask the function to stop at its next progress report."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _progress(self, done: int, total: int) -> None:
        if self._cancelled.is_set() or not self._emit(self.signals.progress, int(done), int(total)):
            raise Cancelled()

    @staticmethod
    def _emit(signal, *args: Any) -> bool:
        """Emit, unless the signals object was deleted meanwhile (its owner closed:
        nobody is left to hear the result). Returns False in that case."""
        try:
            signal.emit(*args)
        except RuntimeError:  # "Signal source has been deleted"
            return False
        return True

    def run(self) -> None:  # worker thread
        try:
            result = self.function(self._progress)
        except BaseException as exc:  # noqa: BLE001 -- reported to the UI thread
            self._emit(self.signals.failed, exc, traceback.format_exc())
        else:
            self._emit(self.signals.succeeded, result)
        if not self._emit(self.signals.finished):
            _running.discard(self)


# Tasks in flight, kept alive until their signals have been delivered.
_running: set[Task] = set()


def run_in_background(
    function: Callable[[Callable[[int, int], None]], Any],
    *,
    on_success: Callable[[Any], None] | None = None,
    on_failure: Callable[[BaseException, str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    context: QObject | None = None,
    pool: QThreadPool | None = None,
) -> Task:
    """Start `function` on `pool` (the global pool by default) and return its task.

    Callbacks run on the thread of `context` (pass a widget so that they run
    on the UI thread and are dropped if the widget is deleted first).
    """
    task = Task(function)
    signals = task.signals
    if context is not None:
        signals.setParent(None)
        signals.moveToThread(context.thread())
    if on_success is not None:
        signals.succeeded.connect(on_success)
    if on_failure is not None:
        signals.failed.connect(on_failure)
    if on_progress is not None:
        signals.progress.connect(on_progress)
    _running.add(task)
    signals.finished.connect(lambda: _running.discard(task))
    (pool or QThreadPool.globalInstance()).start(task)
    return task
