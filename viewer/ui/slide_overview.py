"""Two small widgets over a slide view: the overview panel and the scale bar.

:class:`SlideOverview` shows the whole slide small (the coarsest level, or
the thumbnail) with the visible rectangle drawn on it; a click or a drag on
it asks the view to go there (:attr:`SlideOverview.navigate`, in level-0
pixels). :class:`ScaleBar` draws a round physical length (10 µm, 200 µm,
1 mm ...) from the slide's Pixel Spacing at the current zoom.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from viewer.model.view import slide_view
from viewer.model.view.slide_view import Rect

OVERVIEW_SIDE = 220  # logical pixels: the longer side of the panel
FRAME = 3  # border around the image in the panel
RECTANGLE_COLOUR = QColor(255, 214, 0)
PANEL_COLOUR = QColor(24, 24, 24, 220)
BAR_LONGEST = 160  # logical pixels


class SlideOverview(QWidget):
    """The whole slide small, with the visible rectangle; click or drag to go elsewhere.

    Signals
    -------
    navigate(float, float)
        Centre the view on this level-0 point.
    """

    navigate = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SlideOverview")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.image: QImage | None = None
        self.extent = (1.0, 1.0)  # the slide's (width, height) in level-0 pixels
        self.visible: Rect | None = None

    def set_slide(self, extent: tuple[float, float] | None) -> None:
        """A new slide of `extent` level-0 pixels (None: none); its image comes later."""
        self.image = None
        self.visible = None
        if extent is not None:
            self.extent = (max(1.0, extent[0]), max(1.0, extent[1]))
            self.setFixedSize(self.sizeHint())
        self.setVisible(extent is not None)
        self.update()

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.update()

    def set_visible_rect(self, rect: Rect) -> None:
        self.visible = rect
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 -- Qt API
        width, height = self.extent
        scale = OVERVIEW_SIDE / max(width, height)
        return QSize(max(24, round(width * scale)) + 2 * FRAME, max(24, round(height * scale)) + 2 * FRAME)

    def image_rect(self) -> QRectF:
        """Where the slide is drawn in the panel."""
        return QRectF(FRAME, FRAME, self.width() - 2 * FRAME, self.height() - 2 * FRAME)

    def to_slide(self, point: QPointF) -> tuple[float, float]:
        """The level-0 point under a point of the panel (clamped to the slide)."""
        area = self.image_rect()
        fx = min(max((point.x() - area.x()) / area.width(), 0.0), 1.0)
        fy = min(max((point.y() - area.y()) / area.height(), 0.0), 1.0)
        return fx * self.extent[0], fy * self.extent[1]

    def to_panel(self, rect: Rect) -> QRectF:
        area = self.image_rect()
        sx, sy = area.width() / self.extent[0], area.height() / self.extent[1]
        return QRectF(area.x() + rect[0] * sx, area.y() + rect[1] * sy, (rect[2] - rect[0]) * sx,
                      (rect[3] - rect[1]) * sy)

    def paintEvent(self, _event) -> None:  # noqa: N802 -- Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), PANEL_COLOUR)
        area = self.image_rect()
        if self.image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(area, self.image)
        visible = self._visible_on_slide()
        if visible is not None:
            shown = self.to_panel(visible)
            if shown.width() < 3 or shown.height() < 3:  # deep zoom: a cross marks the place
                centre = shown.center()
                shown = QRectF(centre.x() - 3, centre.y() - 3, 6, 6)
            pen = QPen(RECTANGLE_COLOUR)
            pen.setWidth(2)
            painter.setPen(pen)
            painter.drawRect(shown)
        painter.end()

    def _visible_on_slide(self) -> Rect | None:
        """The visible part of the slide; None when all of it is visible (nothing to mark)."""
        if self.visible is None:
            return None
        width, height = self.extent
        x0, y0, x1, y1 = self.visible
        clipped = (max(0.0, x0), max(0.0, y0), min(width, x1), min(height, y1))
        if clipped[0] <= 0 and clipped[1] <= 0 and clipped[2] >= width and clipped[3] >= height:
            return None
        if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
            return None  # the view is off the slide
        return clipped

    def mousePressEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.navigate.emit(*self.to_slide(event.position()))
            event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 -- Qt API
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.navigate.emit(*self.to_slide(event.position()))
            event.accept()


class ScaleBar(QWidget):
    """A bar of a round physical length, with its label, for the view's current scale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SlideScaleBar")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.bar: tuple[float, str, float] | None = None  # (mm, label, logical pixels)
        self.setFixedSize(BAR_LONGEST + 24, 40)

    def set_scale(self, mm_per_pixel: float | None) -> None:
        """Millimetres per logical screen pixel (None: no Pixel Spacing, no bar)."""
        self.bar = slide_view.scale_bar(mm_per_pixel, BAR_LONGEST) if mm_per_pixel else None
        self.setVisible(self.bar is not None)
        self.update()

    @property
    def label(self) -> str:
        return self.bar[1] if self.bar is not None else ""

    def paintEvent(self, _event) -> None:  # noqa: N802 -- Qt API
        if self.bar is None:
            return
        _mm, label, length = self.bar
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = length + 24
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(PANEL_COLOUR)
        painter.drawRoundedRect(QRectF(0, 0, width, self.height()), 4, 4)
        left, base = 12.0, self.height() - 10.0
        painter.setPen(QPen(Qt.GlobalColor.white, 2))
        painter.drawLine(QPointF(left, base), QPointF(left + length, base))
        painter.drawLine(QPointF(left, base - 5), QPointF(left, base + 3))
        painter.drawLine(QPointF(left + length, base - 5), QPointF(left + length, base + 3))
        painter.drawText(QRectF(0, 2, width, base - 6), Qt.AlignmentFlag.AlignCenter, label)
        painter.end()
