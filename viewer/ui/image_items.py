"""The graphics items of the image view: the image drawn, the frame's area, the view box.

:class:`FrameImageItem` is what is drawn (a whole frame, or a screen-sized
region placed over the part of the frame it shows); :class:`FrameArea` is an
invisible item covering the frame in frame pixel coordinates, whatever is
drawn: Fit zooms to it, overlays are its children, pointer positions are
mapped through it. :class:`FrameViewBox` holds them, and turns the wheel
and the right button into frames and window/level.
"""

from __future__ import annotations

from typing import Callable, Protocol

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter

_WHEEL_STEP = 120  # one notch of a mouse wheel, in eighths of a degree

Pixel = tuple[int, int]  # (row, column)


class PointerTool(Protocol):
    """What the image view asks of the editing tool that takes the left button
    (:class:`~viewer.ui.edit_controller.EditController`)."""

    @property
    def drawing(self) -> bool: ...
    @property
    def busy(self) -> bool: ...
    def press(self, pixel: Pixel) -> None: ...
    def drag(self, pixel: Pixel) -> None: ...
    def release(self, pixel: Pixel) -> None: ...
    def click(self, pixel: Pixel) -> None: ...
    def double_click(self, pixel: Pixel) -> None: ...
    def hover(self, pixel: Pixel) -> None: ...
    def leave(self) -> None: ...
    def finish(self) -> None: ...
    def cancel(self) -> None: ...


class FrameImageItem(pg.ImageItem):
    """An ``ImageItem`` that counts the frames it actually paints.

    With :attr:`smooth_when_reduced` it filters an image it draws smaller
    than its pixels (a screen-sized image covers up to two screen pixels per
    pixel), so no row or column of it is dropped; magnified pixels stay sharp.
    """

    def __init__(self) -> None:
        super().__init__()
        self.painted_frames = 0
        self.on_new_frame_painted: Callable[[], object] | None = None
        self.smooth_when_reduced = False
        self._fresh = False

    def setImage(self, image=None, autoLevels=None, **kwargs):  # noqa: N802 -- pyqtgraph API
        super().setImage(image, autoLevels, **kwargs)
        if image is not None:
            self._fresh = True

    def paint(self, painter, *args):
        if self.smooth_when_reduced:
            transform = painter.transform()
            reduced = max(abs(transform.m11()) + abs(transform.m21()), abs(transform.m12()) + abs(transform.m22())) < 1
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, reduced)
        super().paint(painter, *args)
        if self._fresh and self.qimage is not None:
            self._fresh = False
            self.painted_frames += 1
            if self.on_new_frame_painted is not None:
                self.on_new_frame_painted()


class FrameArea(pg.GraphicsObject):
    """An invisible item covering the frame, in frame pixel coordinates.

    Its bounds are what Fit zooms to, and overlays (tool previews, regions)
    are its children: it never moves, whatever image is drawn.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rect = QRectF()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_shape(self, rows: int, cols: int) -> None:
        if self._rect != QRectF(0, 0, cols, rows):
            self.prepareGeometryChange()
            self._rect = QRectF(0, 0, cols, rows)
            self.informViewBoundsChanged()

    def boundingRect(self) -> QRectF:  # noqa: N802 -- Qt API
        return self._rect

    def paint(self, *_args) -> None:
        pass


class FrameViewBox(pg.ViewBox):
    """A ``ViewBox`` whose plain wheel and right drag are for frames and window/level."""

    def __init__(self, view) -> None:  # the ImageView (not imported: it imports this module)
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._view = view
        self._wheel_remainder = 0

    def wheelEvent(self, ev, axis=None):  # noqa: N802 -- Qt API
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        self._wheel_remainder += ev.delta()
        notches = int(self._wheel_remainder / _WHEEL_STEP)
        if notches:
            self._wheel_remainder -= notches * _WHEEL_STEP
            self._view.wheel_frames.emit(-notches)  # wheel towards the user: next frame
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 -- Qt API
        tool = self._view.drawing_tool()
        if tool is not None and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            if ev.isStart():
                tool.press(self._view.pixel_at(ev.buttonDownScenePos()))
            pixel = self._view.pixel_at(ev.scenePos())
            if ev.isFinish():
                tool.release(pixel)
            else:
                tool.drag(pixel)
            return
        if ev.button() != Qt.MouseButton.RightButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        offset = ev.screenPos() - ev.buttonDownScreenPos()
        self._view.window_drag(offset.x(), offset.y(), start=ev.isStart(), finish=ev.isFinish())

    def mouseClickEvent(self, ev):  # noqa: N802 -- Qt API
        tool = self._view.drawing_tool()
        if tool is not None and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            pixel = self._view.pixel_at(ev.scenePos())
            if ev.double():
                tool.double_click(pixel)
            else:
                tool.click(pixel)
            return
        super().mouseClickEvent(ev)
