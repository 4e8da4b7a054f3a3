"""A whole-slide image in a pannable, zoomable view: only the visible tiles, at the level for the scale.

:class:`SlideView` shows a :class:`~viewer.model.Slide` in level-0 pixel
coordinates. On every pan, zoom or resize (coalesced per event loop turn)
it plans the tiles the view needs
(:func:`viewer.model.view.slide_view.plan_tiles`: the level OpenSlide's rule
picks for the physical screen pixels, the visible tiles centre first, a
margin, and a few coarse tiles first) and hands the list to a
:class:`~viewer.model.view.tile_fetch.TileFetcher`, whose threads read and
decode the tiles (``slide.read_tile``: the slide's cache, else the file) and
convert them for the screen; the latest list wins. Tiles reach
:class:`~viewer.ui.slide_tiles.SlideTilesItem` on the UI thread, which
paints what it holds, coarser levels and a backdrop (the coarsest level
read whole, or the thumbnail) under the finer ones: never a blank while
fine tiles arrive. Pan and zoom from held tiles only repaint.

Over the view: the overview panel (top right; click or drag to move) and
the scale bar (bottom left). Under the pointer, :attr:`SlideView.pixel_text`
says where on the slide in mm and the pixel's value at the level drawn.
"""

from __future__ import annotations

import os
import threading
from typing import Hashable

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from viewer.model import Slide
from viewer.model.view import slide_view
from viewer.model.view.captions import SEPARATOR
from viewer.model.view.slide_view import LevelGeometry, Rect, TilePlan
from viewer.model.view.tile_fetch import TileFetcher
from viewer.ui.slide_overview import ScaleBar, SlideOverview
from viewer.ui.slide_tiles import SlideTilesItem, Tile, tile_image

VIEW_MARGIN = 0.25  # tiles fetched around the view, as a fraction of it on each side
CACHED_PER_UPDATE = 96  # tiles taken from the slide's cache on the UI thread per update (about 3 ms)
BACKDROP = ("backdrop",)  # the fetcher's key of the backdrop image
BACKDROP_SIDE = 4096  # the coarsest level is read whole for the backdrop up to this side, else the thumbnail
OVERLAY_GAP = 10
VIEW_BACKGROUND = (48, 48, 48)  # around the slide: not white, so the slide's edge shows


def tile_workers() -> int:
    """Threads fetching tiles: decoding is most of the work, and Pillow decodes without the GIL."""
    return max(2, min(4, os.cpu_count() or 2))


class _Inbox(QObject):
    """Results from the fetching threads, taken on the UI thread in batches (one signal per batch)."""

    ready = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._items: list[tuple] = []

    def put(self, *item) -> None:  # any thread
        with self._lock:
            self._items.append(item)
            first = len(self._items) == 1
        if first:
            try:
                self.ready.emit()
            except RuntimeError:  # the view went away meanwhile
                pass

    def take(self) -> list[tuple]:
        with self._lock:
            items, self._items = self._items, []
        return items


def read_backdrop(slide) -> QImage | None:
    """The whole slide small (worker thread): the coarsest level if it is small enough, else the thumbnail."""
    coarsest = slide.levels[-1]
    if max(coarsest.size) <= BACKDROP_SIDE:
        return tile_image(slide.read_region((0, 0), coarsest.index, coarsest.size))
    thumbnail = slide.thumbnail
    if thumbnail is None:
        return None
    pixels = thumbnail.frame(0)
    return tile_image(pixels if pixels.ndim == 3 else pixels[:, :, None])


class SlideView(QWidget):
    """Shows a slide (see the module's description).

    Signals
    -------
    pixel_text(str)
        Where the pointer is on the slide and the pixel's value ('' when it leaves).
    failed(object)
        Reading a tile raised this exception (reported once per slide).
    view_changed()
        The visible rectangle or the level drawn changed.
    painted()
        A paint drew tiles (the first one is when the slide is on screen).
    """

    pixel_text = Signal(str)
    failed = Signal(object)
    view_changed = Signal()
    painted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slide: Slide | None = None
        self.levels: list[LevelGeometry] = []
        self.plan: TilePlan | None = None
        self.fetcher: TileFetcher | None = None
        self._generation = 0
        self._failed_reported = False
        self._backdrop_pending = False
        self._last_hover: QPointF | None = None

        self.graphics = pg.GraphicsView(background=VIEW_BACKGROUND)
        self.graphics.setParent(self)
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.graphics.setCentralItem(self.view_box)
        self.tiles = SlideTilesItem(self.visible_rect)
        self.tiles.on_painted = self.painted.emit
        self.tiles.before_paint = self._plan_before_paint
        self.view_box.addItem(self.tiles)
        self.overview = SlideOverview(self)
        self.overview.navigate.connect(self.centre_on)
        self.scale_bar = ScaleBar(self)
        self.overview.hide()
        self.scale_bar.hide()
        self._inbox = _Inbox(self)
        self._inbox.ready.connect(self._take_results)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)  # once per event loop turn, however many range changes came
        self._timer.timeout.connect(self.update_view)
        self.view_box.sigRangeChanged.connect(self._on_range_changed)
        self.view_box.sigResized.connect(self._on_range_changed)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # ---------------------------------------------------------------- slide
    def set_slide(self, slide) -> None:
        """Show `slide` fitted to the view (None: nothing). Does not close the old one; stops reading it."""
        self._stop_fetching()
        self._generation += 1
        self._failed_reported = False
        self._backdrop_pending = slide is not None
        self.slide = slide
        self.levels = slide_view.geometries(slide.levels) if slide is not None else []
        self.plan = None
        self.tiles.set_levels(self.levels)
        self.overview.set_slide(self.levels[0].extent if self.levels else None)
        self.scale_bar.set_scale(None)
        self._place_overlays()
        if slide is None:
            self.pixel_text.emit("")
            return
        generation = self._generation
        self.fetcher = TileFetcher(lambda key: self._fetch(slide, key),
                                   lambda key, result, error: self._inbox.put(generation, key, result, error),
                                   workers=tile_workers())
        self.fit()
        self.update_view()

    def _stop_fetching(self) -> None:
        self._timer.stop()
        if self.fetcher is not None:
            self.fetcher.stop()  # waits for the reads under way: the slide may be closed next
            self.fetcher = None

    @staticmethod
    def _fetch(slide, key):
        """One tile (or the backdrop), ready to draw (a fetching thread)."""
        if key == BACKDROP:
            return read_backdrop(slide)
        level, row, col = key
        return Tile.of(slide.read_tile(level, row, col), slide.levels[level])

    def _take_results(self) -> None:
        added = False
        for generation, key, result, error in self._inbox.take():
            if generation != self._generation:
                continue  # a tile of a slide no longer shown
            if key == BACKDROP:
                self._backdrop_pending = False
            if error is not None:
                self._report(error)
            elif key == BACKDROP:
                self.tiles.set_backdrop(result)
                self.overview.set_image(result)
            else:
                self.tiles.add(key, result)
                added = True
        if added:
            self.tiles.update()
        if self._last_hover is not None:
            self._show_readout(self._last_hover)

    def _report(self, error: BaseException) -> None:
        if not self._failed_reported:
            self._failed_reported = True
            self.failed.emit(error)

    # ----------------------------------------------------------------- view
    def visible_rect(self) -> Rect:
        """The part of the slide the view shows, in level-0 pixels (may reach past the slide)."""
        rect = self.view_box.viewRect()
        return rect.left(), rect.top(), rect.right(), rect.bottom()

    def screen_size(self) -> tuple[float, float]:
        """The view's size in physical pixels (device pixel ratio included)."""
        ratio = self.graphics.devicePixelRatioF() or 1.0
        return self.view_box.width() * ratio, self.view_box.height() * ratio

    def _on_range_changed(self, *_args) -> None:
        if self.slide is not None:
            self._timer.start()

    def _plan_before_paint(self) -> None:
        """A paint comes before the coalesced update: plan now, so that it paints the new level once."""
        if self._timer.isActive():
            self.update_view(repaint=False)

    def update_view(self, repaint: bool = True) -> None:
        """Plan the tiles for the view as it is now and ask for those not held (UI thread, cheap)."""
        self._timer.stop()
        if self.slide is None or self.fetcher is None:
            return
        view, screen = self.visible_rect(), self.screen_size()
        plan = slide_view.plan_tiles(self.levels, view, screen, margin=VIEW_MARGIN)
        self.plan = plan
        self.tiles.target = plan.level
        self._take_cached(plan.wanted)
        keys: list[Hashable] = [BACKDROP] if self._backdrop_pending else []
        self.fetcher.want(keys + list(plan.wanted), skip=self.tiles.holds)
        self.tiles.drop_unwanted(set(plan.wanted))
        if repaint:
            self.tiles.update()
        self.overview.set_visible_rect(view)
        spacing = self.slide.levels[0].pixel_spacing
        logical = (view[2] - view[0]) / max(self.view_box.width(), 1.0)
        self.scale_bar.set_scale(logical * spacing[1] if spacing else None)
        self.view_changed.emit()

    def _take_cached(self, wanted) -> None:
        """Tiles already decoded in the slide's cache go straight to the item, so that a pan or zoom
        over cached tiles is painted once, complete, instead of as the workers hand them over."""
        slide, taken = self.slide, 0
        if slide is None:
            return
        for key in wanted:
            if taken >= CACHED_PER_UPDATE:
                return
            if self.tiles.holds(key):
                continue
            pixels = slide.cache.get(key)
            if pixels is not None:
                self.tiles.add(key, Tile.of(pixels, slide.levels[key[0]]))
                taken += 1

    @property
    def shown_level(self) -> int | None:
        return self.plan.level if self.plan is not None else None

    @property
    def complete(self) -> bool:
        """True when every tile the view wants is held and nothing is being fetched or planned."""
        plan = self.plan
        return (plan is not None and not self._timer.isActive() and self.fetcher is not None
                and self.fetcher.pending == 0 and all(self.tiles.holds(key) for key in plan.wanted))

    @property
    def on_screen(self) -> bool:
        """True when the view is :attr:`complete` and its last paint showed what it holds now."""
        if not self.complete:
            return False
        x0, y0, x1, y1 = self.visible_rect()
        width, height = self.levels[0].extent
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            return True  # nothing of the slide to paint: Qt does not paint an item out of sight
        return self.tiles.painted_state == self.tiles.state()

    # ----------------------------------------------------------- navigation
    def fit(self) -> None:
        """Zoom so that the whole slide fits the view."""
        if self.levels:
            width, height = self.levels[0].extent
            self.view_box.setRange(QRectF(0, 0, width, height), padding=0)

    def actual_size(self) -> None:
        """One level-0 pixel per physical screen pixel, keeping the centre."""
        if not self.levels:
            return
        centre = self.view_box.viewRect().center()
        ratio = self.graphics.devicePixelRatioF() or 1.0
        width, height = self.view_box.width() * ratio, self.view_box.height() * ratio
        self.view_box.setRange(QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height), padding=0)

    def centre_on(self, x: float, y: float) -> None:
        """Move the view's centre to level-0 point (`x`, `y`), keeping the zoom."""
        rect = self.view_box.viewRect()
        self.view_box.setRange(QRectF(x - rect.width() / 2, y - rect.height() / 2, rect.width(), rect.height()),
                               padding=0)

    # -------------------------------------------------------------- overlays
    def resizeEvent(self, event) -> None:  # noqa: N802 -- Qt API
        super().resizeEvent(event)
        self.graphics.setGeometry(self.rect())
        self._place_overlays()

    def _place_overlays(self) -> None:
        self.overview.move(self.width() - self.overview.width() - OVERLAY_GAP, OVERLAY_GAP)
        self.scale_bar.move(OVERLAY_GAP, self.height() - self.scale_bar.height() - OVERLAY_GAP)
        self.overview.raise_()
        self.scale_bar.raise_()

    # --------------------------------------------------------------- readout
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self._last_hover = scene_pos
        self._show_readout(scene_pos)

    def _show_readout(self, scene_pos: QPointF) -> None:
        if self.slide is None:
            return
        point = self.tiles.mapFromScene(scene_pos)
        found = self.tiles.value_at(point.x(), point.y())
        if found is None:
            self.pixel_text.emit("")
            return
        level, row, col, value = found
        first = self.slide.levels[0]
        where = slide_view.position_text(point.x(), point.y(), first.pixel_spacing, self.slide.origin_mm,
                                         self.slide.orientation)
        text = slide_view.pixel_text(level, row, col, value)
        self.pixel_text.emit(f"{where}{SEPARATOR}{text}" if where else text)

    def leaveEvent(self, event) -> None:  # noqa: N802 -- Qt API
        self._last_hover = None
        self.pixel_text.emit("")
        super().leaveEvent(event)

    def close_slide(self) -> None:
        """Stop reading and show nothing (the caller closes the slide)."""
        self.set_slide(None)
