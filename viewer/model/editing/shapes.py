"""Shapes rasterised to boolean pixel masks, in numpy alone.

The editing tools draw in pixel coordinates: a point ``(row, col)`` is the
centre of pixel ``[row, col]``, so the pixel covers ``row - 0.5 .. row + 0.5``
and ``col - 0.5 .. col + 0.5``. Every function returns a boolean mask of the
frame's ``(rows, cols)`` shape, ready for :meth:`Document.apply_mask`; shapes
reaching past the frame are clipped. The work is done inside the shape's
bounding box only, so a small brush dab on a large frame stays cheap.

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

from typing import Iterable, Sequence

import numpy as np

__all__ = ["EVEN_ODD", "NONZERO", "disc", "polygon", "rectangle", "thick_line"]

EVEN_ODD = "even-odd"
NONZERO = "nonzero"

Point = Sequence[float]

# Distances are compared with this slack so that pixels exactly on a radius count.
_EPSILON = 1e-9


def disc(shape: tuple[int, int], center: Point, radius: float) -> np.ndarray:
    """Pixels whose centre is at most `radius` from `center` (``(row, col)``).

    A radius of 0 centred on a pixel covers that pixel alone.
    """
    return thick_line(shape, center, center, 2 * radius)


def thick_line(shape: tuple[int, int], start: Point, end: Point, width: float) -> np.ndarray:
    """Pixels whose centre is within ``width / 2`` of the segment `start`-`end` (round caps).

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
    mask = np.zeros((rows, cols), dtype=bool)
    if top >= bottom or left >= right:
        return mask
    row = np.arange(top, bottom, dtype=np.float64)[:, None]
    col = np.arange(left, right, dtype=np.float64)[None, :]
    d_row, d_col = r1 - r0, c1 - c0
    length2 = d_row * d_row + d_col * d_col
    if length2 == 0:
        along = np.zeros((1, 1))
    else:
        along = np.clip(((row - r0) * d_row + (col - c0) * d_col) / length2, 0.0, 1.0)
    distance2 = (row - (r0 + along * d_row)) ** 2 + (col - (c0 + along * d_col)) ** 2
    mask[top:bottom, left:right] = distance2 <= radius * radius + _EPSILON
    return mask


def rectangle(shape: tuple[int, int], corner: Point, opposite: Point) -> np.ndarray:
    """Every pixel from the pixel under `corner` to the pixel under `opposite`, both included."""
    rows, cols = _frame_shape(shape)
    (r0, c0), (r1, c1) = _point(corner), _point(opposite)
    top, bottom = _pixel_index(min(r0, r1)), _pixel_index(max(r0, r1)) + 1
    left, right = _pixel_index(min(c0, c1)), _pixel_index(max(c0, c1)) + 1
    mask = np.zeros((rows, cols), dtype=bool)
    mask[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] = True
    return mask


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
    rows, cols = _frame_shape(shape)
    if rule not in (NONZERO, EVEN_ODD):
        raise ValueError(f"the fill rule must be {NONZERO!r} or {EVEN_ODD!r}, not {rule!r}")
    points = np.array([_point(vertex) for vertex in vertices], dtype=np.float64).reshape(-1, 2)
    mask = np.zeros((rows, cols), dtype=bool)
    if len(points) >= 3:
        _fill_interior(mask, points, rule)
    if outline and len(points):
        for start, end in zip(points, np.roll(points, -1, axis=0)):
            mask |= thick_line((rows, cols), start, end, 1.0)
    return mask


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
