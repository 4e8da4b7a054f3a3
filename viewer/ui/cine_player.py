"""Cine playback in the GUI: the model's :class:`~viewer.model.view.Playback`, woken by a Qt timer.

The clock logic (which frame is due, which are dropped) lives in the model;
here a precise single-shot ``QTimer`` wakes it when the next frame is due.
"""

from __future__ import annotations

import math
import time
from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer

from viewer.model.view import Playback, ViewerModel


class TimerScheduler(QObject):
    """A :class:`~viewer.model.view.playback.Scheduler` on a precise single-shot ``QTimer``."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setSingleShot(True)
        self._callback: Callable[[], None] | None = None
        self._timer.timeout.connect(self._fire)

    def schedule(self, seconds: float, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._timer.start(max(0, math.ceil(seconds * 1000)))

    def cancel(self) -> None:
        self._timer.stop()
        self._callback = None

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()


def cine_player(model: ViewerModel, default_fps: float = 30.0, parent: QObject | None = None,
                clock: Callable[[], float] = time.perf_counter) -> Playback:
    """A :class:`Playback` of `model` woken by a timer owned by `parent`."""
    return Playback(model, default_fps=default_fps, clock=clock, scheduler=TimerScheduler(parent))
