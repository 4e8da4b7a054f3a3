"""Shapes rasterised to boolean pixel masks, in numpy alone.

The editing tools draw in pixel coordinates: a point ``(row, col)`` is the
centre of pixel ``[row, col]``, so the pixel covers ``row - 0.5 .. row + 0.5``
and ``col - 0.5 .. col + 0.5``. Every function returns a boolean mask of the
frame's ``(rows, cols)`` shape, ready for :meth:`Document.apply_mask`; shapes
reaching past the frame are clipped. Each also has a bounded-box form
(:func:`thick_line_box`, ...) returning a :class:`BoxMask`: the mask of the
shape's bounding box (clipped to the frame) and its corner, for
``apply_mask(mask, value, origin=(top, left))``. That form costs time and
memory in proportion to the shape, not the frame: a brush dab on a
30,000 x 30,000 frame is a few hundred booleans, where the full-frame mask
would be 900 MB.

Which pixels a shape covers
---------------------------
* :func:`disc` and :func:`thick_line`: the pixels whose centre lies within
  the radius (half the width) of the point or segment; a thick line has
  round caps, like a pen in Qt.
* :func:`rectangle`: every pixel from one corner's pixel to the other's,
  both included.
* :func:`polygon`: the pixels whose centre is inside (even-odd or nonzero
  winding rule), plus, by default, the pixels its outline passes through, so
  that a mask drawn for de-identification never leaves a sliver uncovered
  along its edges.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence, Union

import numpy as np

__all__ = [
    "EVEN_ODD", "NONZERO", "BoxMask", "disc", "disc_box", "polygon", "polygon_box", "rectangle", "rectangle_box",
    "thick_line", "thick_line_box",
]

EVEN_ODD = "even-odd"
NONZERO = "nonzero"

Point = Union[Sequence[float], np.ndarray]

# Distances are compared with this slack so that pixels exactly on a radius count.
_EPSILON = 1e-9


class BoxMask(NamedTuple):
    """A shape's mask cropped to its bounding box (clipped to the frame), and where the box is.

    Attributes
    ----------
    top, left : int
        Frame row and column of ``mask[0, 0]``.
    mask : numpy.ndarray
        Boolean; may be empty (0 rows or columns) when the shape misses the frame.
    """

    top: int
    left: int
    mask: np.ndarray

    def to_frame(self, shape: tuple[int, int]) -> np.ndarray:
        """The full ``(rows, cols)`` mask."""
        full = np.zeros(_frame_shape(shape), dtype=bool)
        rows, cols = self.mask.shape
        full[self.top:self.top + rows, self.left:self.left + cols] = self.mask
        return full


def _empty_box() -> BoxMask:
    return BoxMask(0, 0, np.zeros((0, 0), dtype=bool))


def disc(shape: tuple[int, int], center: Point, radius: float) -> np.ndarray:
    """Pixels whose centre is at most `radius` from `center` (``(row, col)``).

    A radius of 0 centred on a pixel covers that pixel alone.
    """
    return disc_box(shape, center, radius).to_frame(shape)


def disc_box(shape: tuple[int, int], center: Point, radius: float) -> BoxMask:
    """:func:`disc` as a :class:`BoxMask`."""
    return thick_line_box(shape, center, center, 2 * radius)


def thick_line(shape: tuple[int, int], start: Point, end: Point, width: float) -> np.ndarray:
    """Pixels whose centre is within ``width / 2`` of the segment `start`-`end` (round caps).

    See :func:`thick_line_box` for the parameters.
    """
    return thick_line_box(shape, start, end, width).to_frame(shape)


def thick_line_box(shape: tuple[int, int], start: Point, end: Point, width: float) -> BoxMask:
    """Pixels whose centre is within ``width / 2`` of the segment `start`-`end` (round caps), in their box.

    A width of 1 gives an 8-connected line one pixel thick: for any slope,
    every row or column the segment crosses keeps a pixel within 0.5.

    Parameters
    ----------
    shape : (rows, cols)
        The frame's shape.
    start, end : (row, col)
        The segment's ends, in pixel coordinates.
    width : float
        The line's thickness in pixels (0 or more).
    """
    rows, cols = _frame_shape(shape)
    if width < 0:
        raise ValueError(f"the width must not be negative, not {width}")
    radius = width / 2
    (r0, c0), (r1, c1) = _point(start), _point(end)
    top, bottom = _span(min(r0, r1) - radius, max(r0, r1) + radius, rows)
    left, right = _span(min(c0, c1) - radius, max(c0, c1) + radius, cols)
    if top >= bottom or left >= right:
        return _empty_box()
    row = np.arange(top, bottom, dtype=np.float64)[:, None]
    col = np.arange(left, right, dtype=np.float64)[None, :]
    d_row, d_col = r1 - r0, c1 - c0
    length2 = d_row * d_row + d_col * d_col
    if length2 == 0:
        along = np.zeros((1, 1))
    else:
        along = np.clip(((row - r0) * d_row + (col - c0) * d_col) / length2, 0.0, 1.0)
    distance2 = (row - (r0 + along * d_row)) ** 2 + (col - (c0 + along * d_col)) ** 2
    return BoxMask(top, left, distance2 <= radius * radius + _EPSILON)


def rectangle(shape: tuple[int, int], corner: Point, opposite: Point) -> np.ndarray:
    """Every pixel from the pixel under `corner` to the pixel under `opposite`, both included."""
    return rectangle_box(shape, corner, opposite).to_frame(shape)


def rectangle_box(shape: tuple[int, int], corner: Point, opposite: Point) -> BoxMask:
    """:func:`rectangle` as a :class:`BoxMask`."""
    rows, cols = _frame_shape(shape)
    (r0, c0), (r1, c1) = _point(corner), _point(opposite)
    top, bottom = max(0, _pixel_index(min(r0, r1))), min(rows, _pixel_index(max(r0, r1)) + 1)
    left, right = max(0, _pixel_index(min(c0, c1))), min(cols, _pixel_index(max(c0, c1)) + 1)
    if top >= bottom or left >= right:
        return _empty_box()
    return BoxMask(top, left, np.ones((bottom - top, right - left), dtype=bool))


def polygon(shape: tuple[int, int], vertices: Iterable[Point], rule: str = NONZERO, *,
            outline: bool = True) -> np.ndarray:
    """Pixels inside the closed polygon through `vertices` (``(row, col)`` each).

    Parameters
    ----------
    shape : (rows, cols)
        The frame's shape.
    vertices : iterable of (row, col)
        The corners in order; the last joins the first. Fewer than three
        corners give the outline alone (a point or a segment).
    rule : {"nonzero", "even-odd"}
        Which pixels of a self-intersecting polygon are inside: "nonzero"
        fills every enclosed area, "even-odd" leaves areas enclosed twice
        empty (as Qt's default fill does).
    outline : bool
        Also include the pixels the edges pass through (a 1-pixel line),
        so that pixel centres on the boundary are always covered.
    """
    return polygon_box(shape, vertices, rule, outline=outline).to_frame(shape)


def polygon_box(shape: tuple[int, int], vertices: Iterable[Point], rule: str = NONZERO, *,
                outline: bool = True) -> BoxMask:
    """:func:`polygon` as a :class:`BoxMask` (the polygon's bounding box, clipped to the frame)."""
    rows, cols = _frame_shape(shape)
    if rule not in (NONZERO, EVEN_ODD):
        raise ValueError(f"the fill rule must be {NONZERO!r} or {EVEN_ODD!r}, not {rule!r}")
    points = np.array([_point(vertex) for vertex in vertices], dtype=np.float64).reshape(-1, 2)
    if not len(points):
        return _empty_box()
    # The outline reaches half a pixel past the vertices' centres.
    top, bottom = _span(points[:, 0].min() - 0.5, points[:, 0].max() + 0.5, rows)
    left, right = _span(points[:, 1].min() - 0.5, points[:, 1].max() + 0.5, cols)
    if top >= bottom or left >= right:
        return _empty_box()
    mask = np.zeros((bottom - top, right - left), dtype=bool)
    if len(points) >= 3:
        _fill_interior(mask, points - (top, left), rule)
    if outline:
        for start, end in zip(points, np.roll(points, -1, axis=0)):
            edge = thick_line_box((rows, cols), start, end, 1.0)
            height, width = edge.mask.shape
            mask[edge.top - top:edge.top - top + height, edge.left - left:edge.left - left + width] |= edge.mask
    return BoxMask(top, left, mask)


def _fill_interior(mask: np.ndarray, points: np.ndarray, rule: str) -> None:
    """Scanline fill of pixel centres, one difference array over the polygon's rows.

    For every row of pixel centres each edge crossing it adds its direction
    (+1 downwards, -1 upwards) at the first column at or right of the
    crossing; the running sum along the row is then the winding number of
    every pixel centre (crossings counted to its left). Edges are half-open
    in rows, so a vertex on a row is counted once.
    """
    rows, cols = mask.shape
    top, bottom = _span(points[:, 0].min(), points[:, 0].max(), rows)
    if top >= bottom:
        return
    starts, ends = points, np.roll(points, -1, axis=0)
    sloped = starts[:, 0] != ends[:, 0]
    starts, ends = starts[sloped], ends[sloped]
    if not len(starts):
        return
    row = np.arange(top, bottom, dtype=np.float64)[:, None]
    low, high = np.minimum(starts[:, 0], ends[:, 0]), np.maximum(starts[:, 0], ends[:, 0])
    crossing = (row >= low) & (row < high)
    # An edge only a hair high overflows on rows it does not cross; those are dropped below.
    with np.errstate(over="ignore", invalid="ignore"):
        fraction = (row - starts[:, 0]) / (ends[:, 0] - starts[:, 0])
        column = starts[:, 1] + fraction * (ends[:, 1] - starts[:, 1])
        first_inside = np.clip(np.ceil(np.nan_to_num(column - _EPSILON)), 0, cols).astype(np.int64)
    direction = np.where(ends[:, 0] > starts[:, 0], 1, -1) * np.ones_like(first_inside)
    row_index, edge_index = np.nonzero(crossing)
    counts = np.zeros((bottom - top, cols + 1), dtype=np.int64)
    weights = direction[row_index, edge_index] if rule == NONZERO else 1
    np.add.at(counts, (row_index, first_inside[row_index, edge_index]), weights)
    winding = np.cumsum(counts[:, :cols], axis=1)
    mask[top:bottom] |= winding != 0 if rule == NONZERO else (winding % 2) == 1


def _frame_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    rows, cols = (int(size) for size in shape[:2])
    if rows < 0 or cols < 0:
        raise ValueError(f"the shape must not be negative, not {shape}")
    return rows, cols


def _point(point: Point) -> tuple[float, float]:
    row, col = (float(value) for value in point)
    if not (np.isfinite(row) and np.isfinite(col)):
        raise ValueError(f"the point {point!r} is not finite")
    return row, col


def _pixel_index(coordinate: float) -> int:
    """The pixel a coordinate falls in (pixel n covers n - 0.5 up to n + 0.5)."""
    return int(np.floor(coordinate + 0.5))


def _span(low: float, high: float, size: int) -> tuple[int, int]:
    """Indices ``[start, stop)`` of the pixel centres in ``low..high``, clipped to ``0..size``."""
    start = max(0, int(np.ceil(low - _EPSILON)))
    stop = min(size, int(np.floor(high + _EPSILON)) + 1)
    return start, max(start, stop)
