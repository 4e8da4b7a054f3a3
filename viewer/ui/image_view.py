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

Compressed frames are never decoded on the UI thread: the view asks
:meth:`ViewerModel.display_frame`, which returns None while the frame is
decoded elsewhere (the image shown stays) and announces it with
``frame_changed`` when it arrives. While a cine plays zoomed out, they are
decoded reduced (JPEG's DCT scaling, JPEG 2000's resolution levels: the
factor is the largest power of two not above the image pixels per screen
pixel) and placed over the frame with ``setRect``; paused, or zoomed in,
they are full resolution, which is all the readout ever reads.

Frames with more pixels than the view has physical screen pixels are never
handed over whole (pyqtgraph would convert, and past 32,767 pixels
downsample, the whole array on every update): the view asks for the region
it shows at the screen's scale (:func:`viewer.model.display.viewport.plan_view`),
from an area-averaged pyramid level when one is built (a strided view until
then, and while a cine plays), reads it off the UI thread
(:mod:`viewer.ui.region_loader`) and places the screen-sized image over that
region with ``setRect``. Pan, zoom and resize ask again (coalesced per event
loop turn); window/level, invert and palette apply to that image only.
:attr:`ImageView.frame_item` keeps frame pixel coordinates whatever is drawn:
the readout, the cursor and the editing tools use it, so they stay exact at
every zoom.

Mouse: wheel steps frames, Ctrl+wheel zooms, left drag pans, right drag
changes the window (centre up/down, width left/right). While an editing tool
draws (:attr:`ImageView.pointer_tool`), the left button and Enter/Escape go
to the tool, with the pixel under the pointer; the middle button still pans.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from viewer.model import DicomError
from viewer.model.display import render, viewport
from viewer.model.view import ViewerModel
from viewer.ui.image_items import FrameArea, FrameImageItem, FrameViewBox, PointerTool
from viewer.ui.region_loader import Loaded, RegionLoader, read_view

VIEW_MARGIN = 0.125  # region read beyond each side of the view, as a fraction of it: small pans need no read
MIN_SCREEN = (1920, 1080)  # the screen a view not laid out yet counts as (small frames are drawn whole)


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
        self.pointer_tool: PointerTool | None = None
        self.playing = False  # a cine plays: strided views are fine
        self.shown_request: viewport.ViewRequest | None = None  # what image_item shows, if not the whole frame
        self.shown_stored: np.ndarray | None = None  # its pixels as read (before palette or byte swap)
        self.shown_current = True  # False while it comes from levels still averaging in an edit
        self.shown_factor = 1  # image_item holds a reduced decode of this factor (display only; no readout)
        self._generation = 0  # of the document and its pixels; reads of older ones are dropped
        self._wanted_index: int | None = None
        self._wanted: viewport.ViewRequest | None = None

        self.graphics = pg.GraphicsView(background="k")
        self.view_box = FrameViewBox(self)
        self.graphics.setCentralItem(self.view_box)
        self.frame_item = FrameArea()
        self.view_box.addItem(self.frame_item)
        self.image_item = FrameImageItem()
        self.image_item.on_new_frame_painted = self.frame_painted.emit
        self.view_box.addItem(self.image_item, ignoreBounds=True)  # it may cover only what is visible
        self.loader = RegionLoader(self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.built.connect(self._on_levels_built)
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(0)  # once per event loop turn, however many range changes came
        self._view_timer.timeout.connect(lambda: self._request_view(force=False))
        self.view_box.sigRangeChanged.connect(self._on_view_changed)
        self.view_box.sigResized.connect(self._on_view_changed)
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
        self.loader.stop()  # before the old document closes
        self._generation += 1
        self.shown_index = None
        self.stored_frame = None
        self.shown_request = self.shown_stored = None
        self.shown_factor = 1
        self._wanted_index = None
        self._palette = None
        self.state.set_display_factor(1)
        if document is None or not document.num_frames:
            self.image_item.clear()
            self.frame_item.set_shape(0, 0)
            return
        self.frame_item.set_shape(*document.frame_shape[:2])
        if self.state.display_kind == render.PALETTE:
            self._palette = render.PaletteTable(document.dataset, document.geometry.bits_stored)
        self.fit()  # first: a region view reads what the fitted view shows
        self.show_frame(self.state.frame_index, wait=True)  # a document opens on a frame, at once
        self._apply_lut()

    # ---------------------------------------------------------------- frames
    def show_frame(self, index: int, wait: bool = False) -> None:
        """Fetch frame `index` from the document and display it (whole, or the region the view shows).

        A compressed frame not decoded yet is shown when it arrives (the
        model emits ``frame_changed`` again), unless `wait`.
        """
        document = self.state.document
        if document is None:
            return
        if self.uses_regions:
            if index in (self.shown_index, self._wanted_index):
                self._generation += 1  # the same frame again: its pixels changed, drop reads of the old ones
            self._request_view(force=True, index=index)
            return
        try:
            # fetched once per frame shown; a playing cine shows the frames the read-ahead planned
            shown = (self.state.frame(index), 1) if wait else \
                self.state.display_frame(index, self.display_factor(), ask=not self.playing)
        except DicomError as exc:
            self.frame_failed.emit(exc)
            return
        if shown is None:
            return  # decoding elsewhere: the image shown stays until it arrives
        stored, factor = shown
        self.stored_frame = stored if factor == 1 else None  # the readout reads full-resolution frames only
        self.shown_factor = factor
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
        self.shown_request = None
        self.shown_stored = stored if factor > 1 else None  # a reduced frame, for window changes
        self.image_item.smooth_when_reduced = False
        self.image_item.setImage(image, autoLevels=False, levels=levels)
        if factor > 1:  # each pixel of a reduced decode covers factor x factor frame pixels
            self.image_item.setRect(QRectF(0, 0, stored.shape[1] * factor, stored.shape[0] * factor))
        else:
            self.image_item.resetTransform()
        if self._last_hover is not None:
            self._emit_readout(self._last_hover)

    def _grey_image(self, stored: np.ndarray, index: int) -> tuple[np.ndarray, tuple[float, float]]:
        """The image and levels to hand the renderer: the stored frame with the pipeline's
        levels where it is linear, else the frame's grey levels (uint8, levels 0..255)."""
        pipeline = self.state.pipeline
        if pipeline is None:  # not grey: nothing to map
            return render.contiguous_native(stored), (0.0, 255.0)
        mapping = pipeline.mapping(index, self.state.choice)
        self._shown_linear = mapping.levels is not None
        if mapping.levels is not None:
            return render.contiguous_native(stored), mapping.levels
        return mapping.normalised(stored), (0.0, 255.0)

    # -------------------------------------------------------------- regions
    def screen_size(self) -> tuple[float, float]:
        """The view's size in physical pixels (device pixel ratio included)."""
        ratio = self.graphics.devicePixelRatioF() or 1.0
        return self.view_box.width() * ratio, self.view_box.height() * ratio

    def _screen_or_nominal(self) -> tuple[float, float]:
        """The view's physical size; :data:`MIN_SCREEN` while it is not shown or not laid out yet."""
        width, height = self.screen_size()
        if not self.isVisible() or width < MIN_SCREEN[0] / 4 or height < MIN_SCREEN[1] / 4:  # no size yet
            return MIN_SCREEN
        return width, height

    def display_factor(self) -> int:
        """The reduced decode to draw frames at: while a compressed cine plays zoomed out, else 1.

        The largest power of two not above the image pixels per screen pixel
        (the format may offer less; the frame says what it gave).
        """
        document = self.state.document
        if not self.playing or document is None or document.decoding is None or not self.isVisible():
            return 1
        scale = viewport.image_pixels_per_screen_pixel(self._visible_rect(), self._screen_or_nominal())
        return 1 << max(0, int(np.floor(np.log2(max(scale, 1.0)))))

    @property
    def uses_regions(self) -> bool:
        """True if frames are shown as screen-sized regions rather than whole.

        A view not shown or not laid out yet counts as :data:`MIN_SCREEN`, so
        that ordinary frames never take the region path because of a momentary size.
        A compressed frame decoded reduced counts at its reduced size.
        """
        document = self.state.document
        if document is None or document.closed or not document.num_frames:
            return False
        factor = self.display_factor()
        rows, cols = document.frame_shape[:2]
        return not viewport.fits_screen((-(-rows // factor), -(-cols // factor)), self._screen_or_nominal())

    def set_playing(self, playing: bool) -> None:
        """A cine started or stopped: strided views (or reduced decodes) while it plays, full ones when it stops."""
        self.playing = bool(playing)
        self.state.set_display_factor(self.display_factor())
        if not self.playing and self.shown_factor > 1 and self.state.document is not None:
            self.show_frame(self.state.frame_index)  # full resolution again, for the readout
        elif not self.playing and self.uses_regions:
            self._request_view(force=False)

    def _on_view_changed(self, *_args) -> None:
        self.state.set_display_factor(self.display_factor())
        if self.uses_regions or self.shown_request is not None:
            self._view_timer.start()

    def _visible_rect(self) -> viewport.Rect:
        rect = self.view_box.viewRect()
        return rect.left(), rect.top(), rect.right(), rect.bottom()

    def _levels_for(self, document, index: int) -> tuple[object, int]:
        """The overview to read levels from and how many are ready for `index` (0: stride only)."""
        if self.playing or self.state.display_kind == render.PALETTE:  # palette indices do not average
            return None, 0
        if document.is_encapsulated and document.geometry.frame_nbytes > document.cache.capacity_bytes // 2:
            return None, 0  # each block read would decode the whole frame again: strided views only
        overview = document.overviews
        if not overview.available or not overview.levels:
            return None, 0
        if overview.is_ready(index):
            return overview, overview.levels
        scale = viewport.image_pixels_per_screen_pixel(self._visible_rect(), self.screen_size())
        if viewport.choose_level(scale, overview.levels)[0] > 0:
            self.loader.build(overview, index)  # show the stride now, the averages when they are built
        return (overview, overview.levels) if overview.is_built(index) else (None, 0)

    def _request_view(self, *, force: bool, index: int | None = None) -> None:
        """Ask for the region the view shows (unless the image shown already covers it)."""
        document = self.state.document
        if document is None or document.closed or not document.num_frames:
            return  # (a coalesced update may come after the document was closed)
        if not self.uses_regions:
            if self.shown_request is not None:  # the window grew past the frame: draw it whole again
                self.show_frame(self.state.frame_index)
            return
        index = self.state.frame_index if index is None else index
        overview, levels = self._levels_for(document, index)
        view, screen, shape = self._visible_rect(), self.screen_size(), document.frame_shape
        visible = viewport.plan_view(shape, view, screen, levels=levels, coarse=self.playing)
        shown = self.shown_request
        if not force and shown is not None and self.shown_index == index and shown.covers(visible):
            return
        if not force and self._wanted_index == index and self.loader.busy and self._wanted == visible:
            return
        # A margin makes the next small pans free; a zoom step (new level or stride) does without, for speed.
        panning = shown is not None and (shown.level, shown.step) == (visible.level, visible.step)
        request = viewport.plan_view(shape, view, screen, levels=levels, margin=VIEW_MARGIN if panning else 0.0,
                                     coarse=self.playing)
        self._wanted_index, self._wanted = index, visible
        kind, palette = self.state.display_kind, self._palette
        self.loader.request(self._generation, index,
                            lambda: read_view(document, index, request, overview, kind, palette))

    def _on_loaded(self, loaded: Loaded) -> None:
        if loaded.generation != self._generation or self.state.document is None:
            return
        if not self.uses_regions:
            return
        self.shown_index, self.shown_request, self.shown_stored = loaded.index, loaded.request, loaded.stored
        self.shown_current, self.shown_factor = loaded.current, 1  # (a region read, never a reduced decode)
        self.stored_frame = None
        if self.state.display_kind == render.GREY:
            image, levels = self._grey_image(loaded.stored, loaded.index)  # the window applies to the region only
        else:
            image, levels = loaded.pixels, render.colour_levels(loaded.pixels.dtype)
        item = self.image_item
        item.smooth_when_reduced = not self.playing  # a playing cine is decimated: filtering costs frames
        item.setImage(image, autoLevels=False, levels=levels)
        x, y, _, _ = loaded.request.rect
        size = loaded.request.pixel_size
        item.setRect(QRectF(x, y, loaded.pixels.shape[1] * size, loaded.pixels.shape[0] * size))
        if self._last_hover is not None:
            self._emit_readout(self._last_hover)

    def _on_load_failed(self, exc: BaseException) -> None:
        if isinstance(exc, DicomError):
            self.frame_failed.emit(exc)

    def _on_levels_built(self, index: int) -> None:
        if self.state.document is not None and index == self.state.frame_index and self.uses_regions:
            self._request_view(force=True)

    def _apply_levels(self, *_: float) -> None:
        stored = self.stored_frame if self.stored_frame is not None else self.shown_stored  # whole frame, or region
        pipeline = self.state.pipeline
        if stored is None or self.shown_index is None or not self.state.is_grey or pipeline is None:
            return
        mapping = pipeline.mapping(self.shown_index, self.state.choice)
        if mapping.levels is not None and self._shown_linear:
            self.image_item.setLevels(mapping.levels)  # the stored pixels are shown already
            return
        image, levels = self._grey_image(stored, self.shown_index)
        self.image_item.setImage(image, autoLevels=False, levels=levels)  # the item keeps its placement

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
    def drawing_tool(self) -> PointerTool | None:
        """The pointer tool if it draws now, else None."""
        tool = self.pointer_tool
        return tool if tool is not None and tool.drawing else None

    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int]:
        """The (row, col) of the pixel under a scene position (may lie outside the frame)."""
        point = self.frame_item.mapFromScene(scene_pos)
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
        frame, document = self.stored_frame, self.state.document
        if document is None or self.shown_index is None or (frame is None and self.shown_request is None):
            self.pixel_hovered.emit(None)
            return
        row, column = self.pixel_at(scene_pos)
        slope, intercept = self.state.rescale()
        if frame is None:  # a region is shown: the stored pixel, exact at every zoom
            pixel = self._stored_pixel(document, row, column)
            readout = None if pixel is None else \
                render.pixel_readout(pixel, 0, 0, self.shown_index, slope, intercept, document.rescale_unit)
            if readout is not None:
                readout = dataclasses.replace(readout, row=row, column=column)
        else:
            readout = render.pixel_readout(frame, row, column, self.shown_index, slope, intercept,
                                           document.rescale_unit)
        if readout is not None and readout.value is not None and self.state.pipeline is not None:
            readout = dataclasses.replace(readout, value=self.state.modality_value(readout.stored[0]))
        self.pixel_hovered.emit(readout)

    def _stored_pixel(self, document, row: int, column: int) -> np.ndarray | None:
        """The stored value at (row, column) as a 1 x 1 region: from the image shown when it holds it, else read."""
        rows, cols = document.frame_shape[:2]
        if not (0 <= row < rows and 0 <= column < cols):
            return None
        request, stored = self.shown_request, self.shown_stored
        if request is not None and stored is not None and request.pixel_size == 1:
            inside_row, inside_col = row - request.rows[0], column - request.cols[0]
            if 0 <= inside_row < stored.shape[0] and 0 <= inside_col < stored.shape[1]:
                return stored[inside_row:inside_row + 1, inside_col:inside_col + 1]
        try:
            return document.region(self.shown_index, slice(row, row + 1), slice(column, column + 1))
        except DicomError:
            return None

    def leaveEvent(self, event) -> None:  # noqa: N802 -- Qt API
        self._last_hover = None
        self.pixel_hovered.emit(None)
        tool = self.drawing_tool()
        if tool is not None:
            tool.leave()
        super().leaveEvent(event)

