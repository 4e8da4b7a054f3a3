"""The graphics item that paints a slide's tiles, coarser levels under the finer ones.

:class:`SlideTilesItem` lives in level-0 pixel coordinates (its bounds are
the slide, so Fit zooms to it). It holds the tiles fetched so far as
``QImage`` s in the screen's own format (``RGB32``: converted once, on the
fetching thread, by :func:`tile_image`; drawing ``RGB888`` scaled costs
twice as much per paint) and paints what :func:`viewer.model.view.slide_view.compose`
says, bottom to top: a backdrop (the coarsest level, or the thumbnail)
where no tile covers the view, then coarser tiles, then the level wanted.
Each tile is drawn into its rectangle rounded to device pixels, so
neighbouring tiles meet without seams at any zoom; a tile drawn smaller
than its pixels is filtered (at most two of its pixels per screen pixel,
since the level is chosen for the scale), a magnified one stays sharp.

Tiles no view needs are dropped least recently used first, beyond
:data:`RETAINED_BYTES` (the slide's own cache keeps the decoded pixels).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from viewer.model.view import slide_view
from viewer.model.view.slide_view import Composition, LevelGeometry, Rect, TileKey

RETAINED_BYTES = 96 << 20
"""Tiles kept beyond those the view wants (about 380 of 256 x 256)."""


class Tile:
    """A fetched tile: its image (None where the level has no tile: painted as its background)."""

    __slots__ = ("image", "background", "samples", "nbytes")

    def __init__(self, image: QImage | None, background: int, samples: int = 3) -> None:
        self.image = image
        self.background = background
        self.samples = samples
        self.nbytes = image.sizeInBytes() if image is not None else 0

    @classmethod
    def of(cls, pixels: np.ndarray | None, level) -> "Tile":
        """The tile for `pixels` of a :class:`~viewer.model.slide.SlideLevel` (None: it has none there)."""
        return cls(tile_image(pixels) if pixels is not None else None, level.background, level.samples)


def tile_image(pixels: np.ndarray) -> QImage:
    """`pixels` ``(rows, cols, samples)`` as an ``RGB32`` QImage of its own (any thread).

    16-bit samples are shown by their high byte (no window for slides yet).
    """
    if pixels.dtype.itemsize > 1:
        pixels = (pixels >> (8 * pixels.dtype.itemsize - 8)).astype(np.uint8)
    pixels = np.ascontiguousarray(pixels)
    rows, cols, samples = pixels.shape
    if samples == 1:
        source = QImage(pixels.data, cols, rows, cols, QImage.Format.Format_Grayscale8)
    else:
        source = QImage(pixels.data, cols, rows, cols * 3, QImage.Format.Format_RGB888)
    return source.convertToFormat(QImage.Format.Format_RGB32)  # a copy: `pixels` may go


def background_colour(value: int) -> QColor:
    grey = 255 if value > 255 else int(value)
    return QColor(grey, grey, grey)


class SlideTilesItem(pg.GraphicsObject):
    """Paints a slide's held tiles for the visible rectangle (see the module's description)."""

    def __init__(self, visible_rect: Callable[[], Rect]) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._visible_rect = visible_rect
        self.levels: list[LevelGeometry] = []
        self.target = 0
        self.tiles: OrderedDict[TileKey, Tile] = OrderedDict()
        self.backdrop: QImage | None = None
        self._bounds = QRectF()
        self.last_composition: Composition | None = None
        self.painted = 0  # paints that drew something (for tests and the benchmark)
        self.added = 0  # tiles added so far
        self.held_bytes = 0
        self.painted_state: tuple | None = None  # (tiles added, level wanted, visible rectangle) of the last paint
        self.first_paint_at: float | None = None  # time.perf_counter() of the first paint with tiles
        self.on_painted: Callable[[], None] | None = None
        self.before_paint: Callable[[], None] | None = None  # the view's chance to plan for the new rectangle

    # ---------------------------------------------------------------- state
    def set_levels(self, levels: Sequence[LevelGeometry]) -> None:
        """A new slide (or none: an empty list)."""
        self.prepareGeometryChange()
        self.levels = list(levels)
        self.tiles.clear()
        self.held_bytes = 0
        self.backdrop = None
        self.target = 0
        self.last_composition = None
        self.first_paint_at = None
        width, height = self.levels[0].extent if self.levels else (0.0, 0.0)
        self._bounds = QRectF(0, 0, width, height)
        self.informViewBoundsChanged()
        self.update()

    def set_backdrop(self, image: QImage | None) -> None:
        self.backdrop = image
        self.update()

    def add(self, key: TileKey, tile: Tile) -> None:
        self.added += 1
        old = self.tiles.get(key)
        self.held_bytes += tile.nbytes - (old.nbytes if old is not None else 0)
        self.tiles[key] = tile
        self.tiles.move_to_end(key)

    def holds(self, key: TileKey) -> bool:
        return key in self.tiles

    def drop_unwanted(self, wanted: set[TileKey], budget: int = RETAINED_BYTES) -> None:
        """Forget the least recently added tiles not in `wanted` until the rest fit `budget` bytes."""
        if self.held_bytes <= budget:
            return
        for key in list(self.tiles):
            if self.held_bytes <= budget:
                return
            if key not in wanted:
                self.held_bytes -= self.tiles.pop(key).nbytes

    # ---------------------------------------------------------------- paint
    def boundingRect(self) -> QRectF:  # noqa: N802 -- Qt API
        return self._bounds

    def state(self) -> tuple:
        """What a paint now would show: compared with :attr:`painted_state`."""
        return self.added, self.target, self._visible_rect()

    def composition(self) -> Composition:
        """What a paint of the visible rectangle draws now."""
        return slide_view.compose(self.levels, self.target, self._visible_rect(), self.holds)

    def paint(self, painter: QPainter, *_args) -> None:
        if not self.levels:
            return
        if self.before_paint is not None:
            self.before_paint()
        composition = self.composition()
        self.last_composition = composition
        self.painted_state = self.state()
        transform = painter.transform()
        ratio = painter.device().devicePixelRatioF() or 1.0  # rounded to physical pixels on a HiDPI screen
        reduced = abs(transform.m11()) * ratio < 1 - 1e-9
        painter.save()
        painter.resetTransform()  # draw into device pixels, each tile's rectangle rounded
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, reduced)
        if not composition.covered and self.backdrop is not None:
            self._paint_backdrop(painter, transform)
        for key in composition.tiles:
            self._paint_tile(painter, transform, ratio, key)
        painter.restore()
        if composition.tiles:
            self.painted += 1
            if self.first_paint_at is None:
                self.first_paint_at = time.perf_counter()
            if self.on_painted is not None:
                self.on_painted()

    def _paint_backdrop(self, painter: QPainter, transform) -> None:
        """The backdrop's part under the visible rectangle (never the whole image scaled past the screen)."""
        backdrop = self.backdrop
        x0, y0, x1, y1 = self._visible_rect()
        shown = QRectF(x0, y0, x1 - x0, y1 - y0).intersected(self._bounds)
        if backdrop is None or shown.isEmpty():
            return
        across = backdrop.width() / self._bounds.width()
        down = backdrop.height() / self._bounds.height()
        source = QRectF(shown.x() * across, shown.y() * down, shown.width() * across, shown.height() * down)
        painter.drawImage(transform.mapRect(shown), backdrop, source)

    def _paint_tile(self, painter: QPainter, transform, ratio: float, key: TileKey) -> None:
        tile = self.tiles[key]
        level = self.levels[key[0]]
        x0, y0, x1, y1 = level.tile_rect(key[1], key[2])
        corner, far = transform.map(QPointF(x0, y0)), transform.map(QPointF(x1, y1))
        left, top = round(corner.x() * ratio) / ratio, round(corner.y() * ratio) / ratio
        right, bottom = round(far.x() * ratio) / ratio, round(far.y() * ratio) / ratio
        if right <= left or bottom <= top:
            return
        target = QRectF(left, top, right - left, bottom - top)
        image = tile.image
        if image is None:
            painter.fillRect(target, background_colour(tile.background))
            return
        width = level.size[0] - key[2] * level.tile_size[0]
        height = level.size[1] - key[1] * level.tile_size[1]
        source = QRectF(0, 0, min(image.width(), width), min(image.height(), height))  # no padding
        painter.drawImage(target, image, source)

    # -------------------------------------------------------------- readout
    def value_at(self, x: float, y: float) -> tuple[int, int, int, tuple[int, ...] | None] | None:
        """(level, row, col, value) of the pixel drawn on top at level-0 point (`x`, `y`), or None.

        The value is None where the tile is still on its way.
        """
        if not self.levels:
            return None
        composition = self.last_composition
        drawn = composition.tiles if composition is not None else []
        for key in reversed(drawn):
            level = self.levels[key[0]]
            x0, y0, x1, y1 = level.tile_rect(key[1], key[2])
            if x0 <= x < x1 and y0 <= y < y1:
                return self._value(level, key, x, y)
        level = self.levels[self.target]
        where = level.pixel_at(x, y)
        return None if where is None else (level.index, where[0], where[1], None)

    def _value(self, level: LevelGeometry, key: TileKey, x: float, y: float):
        row, col = level.pixel_at(x, y) or (0, 0)
        tile = self.tiles[key]
        if tile.image is None:
            return level.index, row, col, (tile.background,) * tile.samples
        colour = tile.image.pixelColor(col - key[2] * level.tile_size[0], row - key[1] * level.tile_size[1])
        value = (colour.red(), colour.green(), colour.blue())
        return level.index, row, col, value[:1] if tile.samples == 1 else value
