"""Event helpers for the GUI tests (pyqtgraph drags need buttons held during moves)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget


def _send(widget: QWidget, kind: QEvent.Type, position: QPoint, button, buttons) -> None:
    local = QPointF(position)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(position)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drag(widget: QWidget, start: QPoint, end: QPoint, button=Qt.MouseButton.RightButton, steps: int = 5) -> None:
    """Press `button` at `start`, move to `end` in `steps` moves with it held, release."""
    _send(widget, QEvent.Type.MouseButtonPress, start, button, button)
    for step in range(1, steps + 1):
        point = start + (end - start) * step / steps
        _send(widget, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    _send(widget, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton)
