"""Which pixels to fetch so that the screen, not the image, sets the cost of a view.

Given the part of the frame a view shows and the size of that view in
physical screen pixels (device pixel ratio included), :func:`plan_view`
says which region to read, from which pyramid level and at which stride, so
that the image handed to the renderer is about the size of the screen area:

* the level is the coarsest one that still has at least one pixel per
  screen pixel: the largest ``2**k`` not above the image pixels per screen
  pixel (OpenSlide's ``get_best_level_for_downsample``, napari's
  ``compute_multiscale_level``), capped at the coarsest level there is;
* what the level leaves (no pyramid yet, or a level capped) is taken by a
  stride, again the largest not above what is asked, so the image never
  has fewer pixels than the screen area (while a cine plays, ``coarse=True``
  takes the smallest stride not below it instead: the image is then at most
  the screen's size, which is what lets a 2048 x 2048 cine keep its rate);
* the region is the visible part plus a margin (so that small pans need no
  new read), its first pixel aligned on the stride (so that panning does not
  make strided views shimmer), clipped to the frame.

Pure arithmetic; the Qt side places the result with :attr:`ViewRequest.rect`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels (x: columns, y: rows)


@dataclass(frozen=True)
class ViewRequest:
    """A region of a frame to fetch at a level and stride.

    Attributes
    ----------
    level : int
        Pyramid level (0: the frame itself; ``k``: means of ``2**k`` blocks).
    step : int
        Stride within the level.
    rows, cols : tuple of int
        ``[start, stop)`` in pixels of the level, ``start`` a multiple of `step`.
    """

    level: int
    step: int
    rows: tuple[int, int]
    cols: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the image fetched."""
        return (-(-(self.rows[1] - self.rows[0]) // self.step), -(-(self.cols[1] - self.cols[0]) // self.step))

    @property
    def pixel_size(self) -> int:
        """Frame pixels along one side of one fetched pixel."""
        return self.step << self.level

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """(x, y, width, height) in frame pixels where the fetched image goes."""
        size = self.pixel_size
        rows, cols = self.shape
        return (self.cols[0] << self.level, self.rows[0] << self.level, cols * size, rows * size)

    def covers(self, other: "ViewRequest") -> bool:
        """True if this request's pixels would do for `other` (same level and stride, region inside)."""
        return (self.level, self.step) == (other.level, other.step) and \
            self.rows[0] <= other.rows[0] and other.rows[1] <= self.rows[1] and \
            self.cols[0] <= other.cols[0] and other.cols[1] <= self.cols[1]

    def slices(self) -> tuple[slice, slice]:
        return slice(*self.rows), slice(*self.cols)


def image_pixels_per_screen_pixel(view: Rect, screen: tuple[float, float]) -> float:
    """How many frame pixels one physical screen pixel spans (the larger of the two axes)."""
    x0, y0, x1, y1 = view
    width, height = max(screen[0], 1.0), max(screen[1], 1.0)
    return max((x1 - x0) / width, (y1 - y0) / height)


def choose_level(scale: float, levels: int, coarse: bool = False) -> tuple[int, int]:
    """(level, step) for `scale` frame pixels per screen pixel, with levels 1..`levels` available.

    With `coarse` the stride is rounded up rather than down (at most one
    fetched pixel per screen pixel).
    """
    scale = max(scale, 1.0)
    level = min(levels, int(math.floor(math.log2(scale)))) if levels > 0 else 0
    rest = scale / (1 << level)
    return level, max(1, int(math.ceil(rest - 1e-9) if coarse else math.floor(rest)))


def plan_view(frame_shape: tuple[int, ...], view: Rect, screen: tuple[float, float], *, levels: int = 0,
              margin: float = 0.0, coarse: bool = False) -> ViewRequest:
    """The region, level and stride to fetch for `view` shown on `screen` physical pixels.

    Parameters
    ----------
    frame_shape : tuple
        The frame's shape (rows, cols[, samples]).
    view : (x0, y0, x1, y1)
        The part of the frame the view shows, in frame pixels (may reach
        past the frame).
    screen : (width, height)
        The view's size in physical pixels.
    levels : int
        Pyramid levels available (0: none, stride only).
    margin : float
        Extra region on each side, as a fraction of the visible size.
    coarse : bool
        Round the stride up (a playing cine): at most one pixel per screen pixel.
    """
    rows, cols = int(frame_shape[0]), int(frame_shape[1])
    level, step = choose_level(image_pixels_per_screen_pixel(view, screen), levels, coarse)
    x0, y0, x1, y1 = view
    pad_x, pad_y = (x1 - x0) * margin, (y1 - y0) * margin
    factor = 1 << level
    level_rows, level_cols = -(-rows // factor), -(-cols // factor)
    return ViewRequest(level, step, _span(y0 - pad_y, y1 + pad_y, factor, step, level_rows),
                       _span(x0 - pad_x, x1 + pad_x, factor, step, level_cols))


def _span(low: float, high: float, factor: int, step: int, size: int) -> tuple[int, int]:
    if size <= 0:
        return 0, 0
    start = max(0, int(math.floor(low / factor)))
    start -= start % step
    stop = min(size, int(math.ceil(high / factor)))
    start = min(start, (size - 1) // step * step)  # a view past the frame still shows its edge
    return start, max(start + 1, stop)


WHOLE_FRAME_SCREENS = 2.0
"""Frames with at most this many times the view's pixels are drawn whole (measured: a 1024 x 1024 cine in a
1016 x 696 view plays faster handed over whole, as a view of the mapping, than read as regions)."""


def fits_screen(frame_shape: tuple[int, ...], screen: tuple[float, float]) -> bool:
    """True if the frame is small enough next to the view to be drawn whole, as it is stored."""
    pixels = int(frame_shape[0]) * int(frame_shape[1])
    return pixels <= WHOLE_FRAME_SCREENS * max(screen[0], 1.0) * max(screen[1], 1.0)
