"""What a whole-slide view draws: the level for the scale, the tiles to fetch, their order on screen. No Qt.

The view works in level-0 pixels (x: columns, y: rows); a tile of level
``l`` covers ``downsample`` level-0 pixels per pixel of its own.

* :func:`best_level` is OpenSlide's rule: the coarsest level whose
  downsample is at most the level-0 pixels one physical screen pixel spans,
  so the level drawn never has fewer pixels than the screen area.
* :func:`plan_tiles` lists that level's tiles under the view, centre first,
  then those of a margin around it (small pans need no fetch), and the few
  tiles of a coarser level under the view, fetched first so that a coarse
  image is on screen at once.
* :func:`compose` says what to paint, bottom to top, from the tiles held:
  where a tile of the level wanted is not there yet, a finer one held
  (after zooming out) or coarser ones show instead, so a pan or a zoom
  never shows a blank where any level has pixels.
* :func:`scale_bar` and :func:`position_text` are the words and lengths of
  the scale bar and the readout.

The levels are duck-typed (``size``, ``tile_size``, ``downsample``, as
:class:`viewer.model.slide.SlideLevel` has them), so the logic is tested
with plain numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in level-0 pixels
TileKey = tuple[int, int, int]  # level, row, col

FALLBACK_LEVELS = 3
"""Tiles of the level this many steps coarser than the one drawn are fetched first (1/64 of the tiles)."""
SCALE_BAR_STEPS = (1, 2, 5)


@dataclass(frozen=True)
class LevelGeometry:
    """Where a level's tiles lie in level-0 pixels.

    Attributes
    ----------
    index : int
        Position in the slide's levels (0: the finest).
    size, tile_size : (int, int)
        (width, height) of the level and of its tiles, in its own pixels.
    downsample : float
        Level-0 pixels per pixel of this level.
    """

    index: int
    size: tuple[int, int]
    tile_size: tuple[int, int]
    downsample: float

    @classmethod
    def of(cls, level) -> "LevelGeometry":
        """From a :class:`~viewer.model.slide.SlideLevel` (or anything with the same attributes)."""
        return cls(int(level.index), tuple(level.size), tuple(level.tile_size), float(level.downsample))

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(tile rows, tile columns)."""
        return -(-self.size[1] // self.tile_size[1]), -(-self.size[0] // self.tile_size[0])

    def tile_rect(self, row: int, col: int) -> Rect:
        """The level-0 rectangle of tile (`row`, `col`), its padding past the level's edge left out."""
        tile_width, tile_height = self.tile_size
        scale = self.downsample
        x0, y0 = col * tile_width, row * tile_height
        x1, y1 = min(x0 + tile_width, self.size[0]), min(y0 + tile_height, self.size[1])
        return x0 * scale, y0 * scale, x1 * scale, y1 * scale

    def tiles_in(self, rect: Rect) -> list[tuple[int, int]]:
        """(row, col) of the tiles meeting `rect` (level-0 pixels; clipped to the level), row by row."""
        x0, y0, x1, y1 = rect
        scale = self.downsample
        tile_width, tile_height = self.tile_size
        rows, cols = self.grid_shape
        col0, col1 = max(0, int(math.floor(x0 / scale / tile_width))), min(cols, int(math.ceil(x1 / scale / tile_width)))
        row0, row1 = max(0, int(math.floor(y0 / scale / tile_height))), min(rows, int(math.ceil(y1 / scale / tile_height)))
        return [(row, col) for row in range(row0, row1) for col in range(col0, col1)]

    def pixel_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, col) of this level's pixel under level-0 point (`x`, `y`), or None outside the level."""
        col, row = int(math.floor(x / self.downsample)), int(math.floor(y / self.downsample))
        if 0 <= col < self.size[0] and 0 <= row < self.size[1]:
            return row, col
        return None

    @property
    def extent(self) -> tuple[float, float]:
        """(width, height) the level covers, in level-0 pixels."""
        return self.size[0] * self.downsample, self.size[1] * self.downsample


def geometries(levels: Sequence) -> list[LevelGeometry]:
    """:meth:`LevelGeometry.of` of every level, finest first."""
    return [LevelGeometry.of(level) for level in levels]


# ------------------------------------------------------------------- level
def screen_scale(view: Rect, screen: tuple[float, float]) -> float:
    """Level-0 pixels one physical screen pixel spans (the larger of the two axes)."""
    x0, y0, x1, y1 = view
    return max((x1 - x0) / max(screen[0], 1.0), (y1 - y0) / max(screen[1], 1.0))


def best_level(levels: Sequence[LevelGeometry], scale: float) -> int:
    """The coarsest level whose downsample is at most `scale` (OpenSlide's ``get_best_level_for_downsample``)."""
    best = 0
    for level in levels:
        if level.downsample <= scale * (1 + 1e-9):
            best = level.index
    return best


# ------------------------------------------------------------------- tiles
@dataclass(frozen=True)
class TilePlan:
    """The tiles a view wants.

    Attributes
    ----------
    level : int
        The level drawn at this scale.
    visible : list of TileKey
        Its tiles under the view, nearest the centre first.
    margin : list of TileKey
        Its tiles in the margin around the view, nearest first.
    fallback : list of TileKey
        Tiles of a coarser level under the view (few), fetched first.
    """

    level: int
    visible: list[TileKey]
    margin: list[TileKey]
    fallback: list[TileKey]

    @property
    def wanted(self) -> list[TileKey]:
        """Every tile, in the order to fetch them: coarse fallback, visible, margin."""
        return self.fallback + self.visible + self.margin


def expand(rect: Rect, margin: float) -> Rect:
    """`rect` grown by `margin` times its size on each side."""
    x0, y0, x1, y1 = rect
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def _by_distance(level: LevelGeometry, tiles: list[tuple[int, int]], centre: tuple[float, float]) -> list[TileKey]:
    def distance(tile: tuple[int, int]) -> float:
        x0, y0, x1, y1 = level.tile_rect(*tile)
        return ((x0 + x1) / 2 - centre[0]) ** 2 + ((y0 + y1) / 2 - centre[1]) ** 2

    return [(level.index, row, col) for row, col in sorted(tiles, key=distance)]


def plan_tiles(levels: Sequence[LevelGeometry], view: Rect, screen: tuple[float, float], *,
               margin: float = 0.25) -> TilePlan:
    """The tiles to fetch for `view` (level-0 pixels) shown on `screen` physical pixels.

    Parameters
    ----------
    levels : sequence of LevelGeometry
        Finest first.
    view : (x0, y0, x1, y1)
        The visible part of the slide (may reach past it).
    screen : (width, height)
        The view's size in physical pixels.
    margin : float
        Extra area fetched on each side, as a fraction of the view.
    """
    target = best_level(levels, screen_scale(view, screen))
    level = levels[target]
    centre = ((view[0] + view[2]) / 2, (view[1] + view[3]) / 2)
    inside = level.tiles_in(view)
    shown = set(inside)
    around = [tile for tile in level.tiles_in(expand(view, margin)) if tile not in shown]
    coarse = levels[min(len(levels) - 1, target + FALLBACK_LEVELS)]
    fallback = _by_distance(coarse, coarse.tiles_in(view), centre) if coarse.index != target else []
    return TilePlan(target, _by_distance(level, inside, centre), _by_distance(level, around, centre), fallback)


# ------------------------------------------------------------- composition
def _clip(rect: Rect, view: Rect) -> Rect:
    return max(rect[0], view[0]), max(rect[1], view[1]), min(rect[2], view[2]), min(rect[3], view[3])


def _cover(level: LevelGeometry, holes: list[Rect], held: Callable[[TileKey], bool]) -> tuple[list[TileKey], list[Rect]]:
    """The held tiles of `level` under `holes`, and the holes they leave (a hole not wholly covered stays)."""
    drawn: list[TileKey] = []
    seen: set[TileKey] = set()
    left = []
    for hole in holes:
        keys = [(level.index, row, col) for row, col in level.tiles_in(hole)]
        got = [key for key in keys if held(key)]
        drawn += [key for key in got if key not in seen]
        seen.update(got)
        if len(got) < len(keys) or not keys:
            left.append(hole)
    return drawn, left


@dataclass(frozen=True)
class Composition:
    """What to paint for a view, bottom to top.

    Attributes
    ----------
    tiles : list of TileKey
        Coarsest level first, the level wanted last (on top).
    complete : bool
        True if the tiles of the level wanted cover the view.
    covered : bool
        True if the tiles listed cover the view (else a backdrop goes under them).
    """

    tiles: list[TileKey]
    complete: bool
    covered: bool


def compose(levels: Sequence[LevelGeometry], target: int, view: Rect, held: Callable[[TileKey], bool]) -> Composition:
    """The held tiles that show `view` at level `target`, in painting order.

    Where a tile of `target` is not held, the finer level's held tiles and
    then every coarser level's are used, each coarser one painted under the
    finer ones, until the area is covered or the levels run out.
    """
    level = levels[target]
    view = _clip(view, (0.0, 0.0, *levels[0].extent))
    if view[0] >= view[2] or view[1] >= view[3]:
        return Composition([], True, True)
    top = []
    holes = []
    for row, col in level.tiles_in(view):
        key = (target, row, col)
        if held(key):
            top.append(key)
        else:
            holes.append(_clip(level.tile_rect(row, col), view))
    complete = not holes
    layers = [top]
    if holes and target > 0:  # a finer level held after zooming out is sharper than any coarser one
        drawn, holes = _cover(levels[target - 1], holes, held)
        layers.insert(0, drawn)
    for coarser in levels[target + 1:]:
        if not holes:
            break
        drawn, holes = _cover(coarser, holes, held)
        layers.insert(0, drawn)
    return Composition([key for layer in layers for key in layer], complete, not holes)


# --------------------------------------------------------- scale and place
def scale_bar(mm_per_pixel: float, longest: float = 160.0) -> tuple[float, str, float] | None:
    """The scale bar for `mm_per_pixel` screen pixels: (length in mm, its label, its length in pixels).

    The length is the longest of 1, 2 and 5 times a power of ten (in mm)
    that takes at most `longest` pixels; None without a usable spacing.
    """
    if not mm_per_pixel or mm_per_pixel <= 0 or not math.isfinite(mm_per_pixel):
        return None
    most = longest * mm_per_pixel
    exponent = math.floor(math.log10(most))
    best = None
    for power in (exponent - 1, exponent):
        for step in SCALE_BAR_STEPS:
            length = step * 10.0 ** power
            if length <= most * (1 + 1e-9):
                best = length
    if best is None:
        return None
    return best, length_text(best), best / mm_per_pixel


def length_text(mm: float) -> str:
    """"250 nm", "10 µm", "500 µm", "1 mm", "20 mm": whole numbers in the unit that gives them."""
    for unit, factor in (("mm", 1.0), ("µm", 1e3), ("nm", 1e6)):
        value = mm * factor
        if value >= 1 - 1e-9:
            return f"{value:.3g} {unit}"
    return f"{mm * 1e6:.3g} nm"


def slide_position(x: float, y: float, spacing: tuple[float, float], origin: tuple[float, float] | None = None,
                   orientation: Sequence[float] | None = None) -> tuple[float, float, bool]:
    """(X, Y) in mm of level-0 point (`x`, `y`), and True if on the slide's own axes.

    `spacing` is level 0's (row, column) Pixel Spacing. With the Total Pixel
    Matrix Origin and Image Orientation (Slide), the position is in the slide
    coordinate system (the first three cosines are the direction of
    increasing columns, the next three of increasing rows); else it is
    measured from the image's top-left corner.
    """
    across, down = x * spacing[1], y * spacing[0]
    if origin is None or orientation is None or len(orientation) != 6:
        return across, down, False
    return (origin[0] + across * orientation[0] + down * orientation[3],
            origin[1] + across * orientation[1] + down * orientation[4], True)


def position_decimals(spacing_mm: float) -> int:
    """Decimals of a position in mm that tell neighbouring pixels of `spacing_mm` apart, at least 1."""
    return max(1, int(math.ceil(-math.log10(spacing_mm) - 1e-9)) if spacing_mm > 0 else 3)


def position_text(x: float, y: float, spacing: tuple[float, float] | None, origin: tuple[float, float] | None = None,
                  orientation: Sequence[float] | None = None) -> str:
    """"x 19.8765 mm, y 39.1234 mm on the slide" (or "from the image corner"), '' without a Pixel Spacing."""
    if spacing is None:
        return ""
    mm_x, mm_y, on_slide = slide_position(x, y, spacing, origin, orientation)
    decimals = min(6, position_decimals(min(spacing)))
    where = "on the slide" if on_slide else "from the image corner"
    return f"x {mm_x:.{decimals}f} mm, y {mm_y:.{decimals}f} mm {where}"


def pixel_text(level: int, row: int, col: int, value: Sequence[float] | None) -> str:
    """"level 2, row 567, col 1234: RGB (230, 200, 210)" (or one value for grey; no value while not loaded)."""
    where = f"level {level}, row {row}, col {col}"
    if value is None:
        return where
    numbers = ", ".join(str(int(v)) if float(v).is_integer() else f"{v:.4g}" for v in value)
    return f"{where}: RGB ({numbers})" if len(value) == 3 else f"{where}: {numbers}"
