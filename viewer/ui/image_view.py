"""The image: one frame at a time in a pyqtgraph ``ImageItem`` inside a ``ViewBox``.

Not ``pyqtgraph.ImageView``: its ``setImage`` scans the whole stack for
levels. Here each frame is fetched from the document when it is to be shown
and handed over as it is stored (a view into the file mapping for native
data). Grey frames go through the document's display pipeline
(:class:`~viewer.model.display.pipeline.GreyPipeline`): where it is linear
(rescale and a LINEAR window) the renderer applies explicit levels, so
nothing per frame looks at every pixel in Python; otherwise (a Modality or
VOI LUT, SIGMOID) the frame is one lookup in a table built once per frame
group and window. Inversion is a 256-entry LUT.

Mouse: wheel steps frames, Ctrl+wheel zooms, left drag pans, right drag
changes the window (centre up/down, width left/right). While an editing tool
draws (:attr:`ImageView.pointer_tool`), the left button and Enter/Escape go
to the tool, with the pixel under the pointer; the middle button still pans.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from viewer.model import DicomError
from viewer.model.display import render
from viewer.model.view import ViewerModel

_WHEEL_STEP = 120  # one notch of a mouse wheel, in eighths of a degree


class FrameImageItem(pg.ImageItem):
    """An ``ImageItem`` that counts the frames it actually paints."""

    def __init__(self) -> None:
        super().__init__()
        self.painted_frames = 0
        self.on_new_frame_painted = None  # callable() or None
        self._fresh = False

    def setImage(self, image=None, autoLevels=None, **kwargs):  # noqa: N802 -- pyqtgraph API
        super().setImage(image, autoLevels, **kwargs)
        if image is not None:
            self._fresh = True

    def paint(self, painter, *args):
        super().paint(painter, *args)
        if self._fresh and self.qimage is not None:
            self._fresh = False
            self.painted_frames += 1
            if self.on_new_frame_painted is not None:
                self.on_new_frame_painted()


class FrameViewBox(pg.ViewBox):
    """A ``ViewBox`` whose plain wheel and right drag are for frames and window/level."""

    def __init__(self, view: "ImageView") -> None:
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


class ImageView(QWidget):
    """Shows :attr:`ViewerModel.frame_index` of the state's document.

    Signals
    -------
    wheel_frames(int)
        The wheel asks to move this many frames.
    frame_painted()
        A new frame reached the screen (for the achieved-fps meter).
    frame_failed(object)
        Fetching a frame raised this :class:`~viewer.model.DicomError`.
    pixel_hovered(object)
        A :class:`~viewer.model.display.render.PixelReadout` under the cursor, or None.
    """

    # What the keyboard and mouse do here, for Help > Keyboard Shortcuts.
    KEY_BINDINGS = (
        ("Escape", "Cancel the shape being drawn (a brush stroke is taken back)"),
        ("Enter", "Close and fill the polygon being drawn"),
    )
    MOUSE_BINDINGS = (
        ("Wheel", "Next / previous frame"),
        ("Ctrl+Wheel", "Zoom"),
        ("Left drag", "Pan (Navigate tool); draw with the Brush, Line and Rectangle tools"),
        ("Left click", "Brush: one dab; Polygon: add a corner"),
        ("Double-click", "Polygon: add the last corner and fill"),
        ("Middle drag", "Pan"),
        ("Right drag", "Window: up/down changes the centre, left/right the width"),
    )

    wheel_frames = Signal(int)
    frame_painted = Signal()
    frame_failed = Signal(object)
    pixel_hovered = Signal(object)

    def __init__(self, state: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.shown_index: int | None = None
        self.stored_frame: np.ndarray | None = None  # as the document gave it, for the readout
        self._palette: render.PaletteTable | None = None
        self._drag_origin: tuple[float, float] | None = None
        self._shown_linear = False  # the item holds the stored frame (levels do the window)
        self._last_hover: QPointF | None = None
        # An editing tool (EditController): while its ``drawing`` is True it gets
        # the left button, Enter and Escape as pixels and gestures.
        self.pointer_tool = None

        self.graphics = pg.GraphicsView(background="k")
        self.view_box = FrameViewBox(self)
        self.graphics.setCentralItem(self.view_box)
        self.image_item = FrameImageItem()
        self.image_item.on_new_frame_painted = self.frame_painted.emit
        self.view_box.addItem(self.image_item)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        state.document_changed.connect(self._on_document_changed)
        state.frame_changed.connect(self.show_frame)
        state.window_changed.connect(self._apply_levels)
        state.invert_changed.connect(self._apply_lut)

    # ------------------------------------------------------------- document
    def _on_document_changed(self, document) -> None:
        self.shown_index = None
        self.stored_frame = None
        self._palette = None
        if document is None or not document.num_frames:
            self.image_item.clear()
            return
        if self.state.display_kind == render.PALETTE:
            self._palette = render.PaletteTable(document.dataset, document.geometry.bits_stored)
        self.show_frame(self.state.frame_index)
        self._apply_lut()
        self.fit()

    # ---------------------------------------------------------------- frames
    def show_frame(self, index: int) -> None:
        """Fetch frame `index` from the document and display it."""
        document = self.state.document
        if document is None:
            return
        try:
            stored = self.state.frame(index)  # fetched once per frame shown
        except DicomError as exc:
            self.frame_failed.emit(exc)
            return
        self.stored_frame = stored
        self.shown_index = index
        kind = self.state.display_kind
        if kind == render.PALETTE and self._palette is not None:
            image = self._palette.apply(stored)
            levels = render.colour_levels(image.dtype)
        elif kind == render.COLOUR:
            image = render.contiguous_native(stored)
            levels = render.colour_levels(image.dtype)
        else:
            image, levels = self._grey_image(stored, index)
        self.image_item.setImage(image, autoLevels=False, levels=levels)
        if self._last_hover is not None:
            self._emit_readout(self._last_hover)

    def _grey_image(self, stored: np.ndarray, index: int) -> tuple[np.ndarray, tuple[float, float]]:
        """The image and levels to hand the renderer: the stored frame with the pipeline's
        levels where it is linear, else the frame's grey levels (uint8, levels 0..255)."""
        mapping = self.state.pipeline.mapping(index, self.state.choice)
        self._shown_linear = mapping.levels is not None
        if mapping.levels is not None:
            return render.contiguous_native(stored), mapping.levels
        return mapping.normalised(stored), (0.0, 255.0)

    def _apply_levels(self, *_: float) -> None:
        if self.stored_frame is None or self.shown_index is None or not self.state.is_grey:
            return
        mapping = self.state.pipeline.mapping(self.shown_index, self.state.choice)
        if mapping.levels is not None and self._shown_linear:
            self.image_item.setLevels(mapping.levels)  # the stored frame is shown already
            return
        image, levels = self._grey_image(self.stored_frame, self.shown_index)
        self.image_item.setImage(image, autoLevels=False, levels=levels)

    def _apply_lut(self, *_: bool) -> None:
        pipeline = self.state.pipeline
        if pipeline is None:
            self.image_item.setLookupTable(None)
            return
        self.image_item.setLookupTable(render.invert_lut(pipeline.inverted != self.state.invert))

    # ------------------------------------------------------------ navigation
    def fit(self) -> None:
        """Zoom so that the whole frame fits the window."""
        self.view_box.autoRange(padding=0)

    def actual_size(self) -> None:
        """Zoom to one image pixel per screen pixel, keeping the centre."""
        if self.image_item.image is None:
            return
        centre = self.view_box.viewRect().center()
        ratio = self.graphics.devicePixelRatioF() or 1.0
        width = self.view_box.width() / ratio
        height = self.view_box.height() / ratio
        self.view_box.setRange(
            xRange=(centre.x() - width / 2, centre.x() + width / 2),
            yRange=(centre.y() - height / 2, centre.y() + height / 2),
            padding=0,
        )

    # ----------------------------------------------------------- window drag
    def window_drag(self, dx: float, dy: float, *, start: bool, finish: bool) -> None:
        """Change the window by a right-button drag of (`dx`, `dy`) screen pixels from its start."""
        if not self.state.is_grey:
            return
        if start or self._drag_origin is None:
            self._drag_origin = (self.state.center, self.state.width)
        center, width = render.drag_window(*self._drag_origin, dx, dy)
        self.state.set_window(center, width)
        if finish:
            self._drag_origin = None

    # ----------------------------------------------------------- editing tool
    def drawing_tool(self):
        """The pointer tool if it draws now, else None."""
        tool = self.pointer_tool
        return tool if tool is not None and tool.drawing else None

    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int]:
        """The (row, col) of the pixel under a scene position (may lie outside the frame)."""
        point = self.image_item.mapFromScene(scene_pos)
        return int(np.floor(point.y())), int(np.floor(point.x()))

    def keyPressEvent(self, event) -> None:  # noqa: N802 -- Qt API
        tool = self.drawing_tool()
        if tool is not None and event.key() == Qt.Key.Key_Escape and tool.busy:
            tool.cancel()
        elif tool is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and tool.busy:
            tool.finish()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ----------------------------------------------------------------- hover
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._last_hover = scene_pos
        self._emit_readout(scene_pos)
        tool = self.drawing_tool()
        if tool is not None:
            tool.hover(self.pixel_at(scene_pos))

    def _emit_readout(self, scene_pos: QPointF) -> None:
        frame = self.stored_frame
        if frame is None or self.shown_index is None:
            self.pixel_hovered.emit(None)
            return
        point = self.image_item.mapFromScene(scene_pos)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        slope, intercept = self.state.rescale()
        unit = self.state.document.rescale_unit if self.state.document is not None else ""
        readout = render.pixel_readout(frame, row, column, self.shown_index, slope, intercept, unit)
        if readout is not None and readout.value is not None and self.state.pipeline is not None:
            readout = dataclasses.replace(readout, value=self.state.modality_value(readout.stored[0]))
        self.pixel_hovered.emit(readout)

    def leaveEvent(self, event) -> None:  # noqa: N802 -- Qt API
        self._last_hover = None
        self.pixel_hovered.emit(None)
        tool = self.drawing_tool()
        if tool is not None:
            tool.leave()
        super().leaveEvent(event)
