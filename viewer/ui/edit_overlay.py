"""Outlines drawn over the image: a tool's preview, the regions de-identification keeps.

The items are children of the view's ``frame_item``, so they share its
coordinates: pixel ``(row, col)`` covers ``x = col .. col + 1`` and
``y = row .. row + 1``. They take no mouse buttons, so clicks still reach
the view box and the tools.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from viewer.ui.edit_controller import EditController
from viewer.ui.edit_tools import Preview
from viewer.ui.image_view import ImageView

PREVIEW_COLOUR = QColor(255, 210, 0)
PREVIEW_FILL = QColor(255, 210, 0, 60)


def overlay_item(parent: QGraphicsItem, pen: QColor, fill: QColor | None = None, z: float = 10) -> QGraphicsPathItem:
    """A path item over `parent` with a one-screen-pixel outline, ignoring the mouse."""
    item = QGraphicsPathItem(parent)
    outline = QPen(pen)
    outline.setCosmetic(True)
    outline.setWidth(1)
    item.setPen(outline)
    item.setBrush(QBrush(fill) if fill is not None else Qt.BrushStyle.NoBrush)
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    item.setZValue(z)
    return item


def _centre(pixel) -> QPointF:
    return QPointF(pixel[1] + 0.5, pixel[0] + 0.5)


def preview_path(preview: Preview | None) -> QPainterPath:
    """The outline of what `preview` would change, in image item coordinates."""
    path = QPainterPath()
    if preview is None or not preview.points:
        return path
    points = preview.points
    if preview.kind == "disc":
        radius = max(preview.size, 0) + 0.5  # the pixels whose centre is within the radius
        path.addEllipse(_centre(points[0]), radius, radius)
    elif preview.kind == "line":
        spine = QPainterPath(_centre(points[0]))
        spine.lineTo(_centre(points[-1]))
        stroker = QPainterPathStroker()
        stroker.setWidth(max(preview.size, 1))
        stroker.setCapStyle(Qt.PenCapStyle.RoundCap)
        path = stroker.createStroke(spine)
    elif preview.kind == "rectangle":
        (r0, c0), (r1, c1) = points[0], points[-1]
        path.addRect(QRectF(min(c0, c1), min(r0, r1), abs(c1 - c0) + 1, abs(r1 - r0) + 1))
    else:
        path.addPolygon(QPolygonF([_centre(point) for point in points]))
        if preview.closed or len(points) > 2:
            path.closeSubpath()
        path.setFillRule(Qt.FillRule.WindingFill)
    return path


class EditOverlay(QObject):
    """Draws the active tool's preview on the image view and sets the pointer's cursor."""

    def __init__(self, controller: EditController, view: ImageView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.view = view
        self.item = overlay_item(view.frame_item, PREVIEW_COLOUR, PREVIEW_FILL, z=20)
        view.pointer_tool = controller
        controller.preview_changed.connect(self._show_preview)
        controller.tool_changed.connect(self._update_cursor)
        controller.enabled_changed.connect(self._update_cursor)
        self._update_cursor()

    def _show_preview(self, preview: Preview | None) -> None:
        self.item.setPath(preview_path(preview))

    def _update_cursor(self, *_args) -> None:
        viewport = self.view.graphics.viewport()
        if self.controller.drawing:
            viewport.setCursor(Qt.CursorShape.CrossCursor)
        else:
            viewport.unsetCursor()
