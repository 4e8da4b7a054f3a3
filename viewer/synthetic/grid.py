"""A test pattern that shows aliasing: thin bright grid lines over flat cells.

Bright lines :data:`LINE_WIDTH` pixels wide every :data:`PERIOD` pixels, in
both directions, each across the middle of a flat cell of one of a few dark
grey levels (per channel for colour), faint one-pixel lines every
:data:`MINOR_PERIOD` pixels, the whole grid shifted by a small orbit as the
frame index grows (so a cine moves), and the index stamp in row 0. At
fit-to-window a 30,000 pixel frame is shown about 40 times smaller: a
strided view hits a bright line only where the stride happens to land on it
and turns the faint lines into moiré; an area-averaged one shows every
bright line as a faint one and the faint lines as an even tint. That is
what the pattern is for.

The pattern is constant on rectangles, so the sum of any block of pixels is
known without drawing them: :func:`grid_region` computes the expected pixels
of any region of the frame, strided or area-averaged at a pyramid level
(the mean of each clipped ``2**level`` block, rounded half to even, exactly
as :mod:`viewer.model.frames.overview` builds it), in time and memory
proportional to the output alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.synthetic.pattern import STAMP_PIXELS, PixelFormat, Region, orbit_amplitude, orbit_offset, stamp_values

PERIOD = 1000
"""Pixels from one bright grid line to the next."""

LINE_WIDTH = 8
"""Width of a bright grid line in pixels."""

MINOR_PERIOD = 100
"""Pixels between the faint one-pixel lines drawn between the bright ones (a strided view shows them as moiré)."""

_CELL_LEVELS = 5  # grey levels of the cells
_MAJOR, _MINOR, _CELL = 0, 1, 2


@dataclass
class GridPainter:
    """Draws the grid pattern; any band of rows of any frame.

    Along each axis a period of :attr:`period` pixels holds a bright line
    (:attr:`line_width` pixels from its start), faint one-pixel lines every
    :attr:`minor_period` pixels, and the boundary between two cells half
    way, so each bright line crosses the middle of a flat cell.

    Attributes
    ----------
    rows, columns : int
        Frame size.
    fmt : PixelFormat
        Sample format.
    period, line_width, minor_period : int
        Grid spacing, bright line width and faint line spacing in pixels.
    """

    rows: int
    columns: int
    fmt: PixelFormat
    period: int = PERIOD
    line_width: int = LINE_WIDTH
    minor_period: int = MINOR_PERIOD

    def __post_init__(self) -> None:
        if not 0 < self.line_width < self.minor_period <= self.period // 2:
            raise ValueError(f"need 0 < line width < minor period <= period / 2: "
                             f"{self.line_width}, {self.minor_period}, {self.period}")
        # The grid moves by a tenth of a period at most, so frames differ but lines stay thin.
        self._amplitude = orbit_amplitude(min(self.rows, self.period), min(self.columns, self.period))
        half = self.period // 2
        minors = [m for m in range(self.minor_period, self.period, self.minor_period)]
        bounds = sorted({0, self.line_width, half, *minors, *(m + 1 for m in minors)} | {self.period})
        self._bounds = np.array(bounds, dtype=np.int64)  # segments of one period: [bounds[s], bounds[s + 1])
        starts = self._bounds[:-1]
        self._kinds = np.where(starts < self.line_width, _MAJOR,
                               np.where(np.isin(starts, minors), _MINOR, _CELL))
        self._cell_offsets = (starts >= half).astype(np.int64)  # the second half belongs to the next cell
        self._lut = self._table()

    def offset(self, index: int) -> tuple[int, int]:
        """How far frame `index`'s grid is shifted (rows, columns)."""
        return orbit_offset(index, self._amplitude)

    def classify(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cell index, kind) of shifted pixel positions along one axis."""
        period_index, within = np.divmod(positions, self.period)
        segment = np.searchsorted(self._bounds, within, side="right") - 1
        return period_index + self._cell_offsets[segment], self._kinds[segment]

    def _table(self) -> np.ndarray:
        """Value of each code ``kind * 2L + level`` (L cell levels; level = row part + column part)."""
        lo, hi = self.fmt.pattern_range
        levels = np.arange(2 * _CELL_LEVELS) % _CELL_LEVELS
        cells = np.rint(lo + (hi - lo) * (0.1 + levels * (0.1 / (_CELL_LEVELS - 1))))  # 15 % to 25 % of the range
        line, minor = np.rint(hi), np.rint(lo + 0.4 * (hi - lo))
        return np.concatenate([np.full(levels.size, line), np.full(levels.size, minor), cells]).astype(self.fmt.dtype)

    @property
    def regions(self) -> list[Region]:
        """Ultrasound regions: none (the grid is drawn for ``kind="sc"`` only)."""
        return []

    @property
    def line_value(self) -> float:
        return float(np.rint(self.fmt.pattern_range[1]))

    def values(self, row_cells, row_kinds, col_cells, col_kinds, channel: int) -> np.ndarray:
        """Pixel values for (broadcast) row and column classes: a bright line wins over a faint one over a cell."""
        level = (row_cells % _CELL_LEVELS).astype(np.uint8) \
            + ((2 * col_cells + channel) % _CELL_LEVELS).astype(np.uint8)
        code = np.minimum(row_kinds, col_kinds).astype(np.uint8) * np.uint8(2 * _CELL_LEVELS) + level
        return self._lut.take(code)

    def paint_rows(self, index: int, top: int, out: np.ndarray) -> None:
        """Draw rows ``top : top + len(out)`` of frame `index` into `out` ((rows, columns, samples) view)."""
        dy, dx = self.offset(index)
        row_cells, row_kinds = self.classify(np.arange(top, top + out.shape[0]) + dy)
        col_cells, col_kinds = self.classify(np.arange(self.columns) + dx)
        for channel in range(self.fmt.samples_per_pixel):
            out[..., channel] = self.values(row_cells[:, None], row_kinds[:, None], col_cells[None, :],
                                            col_kinds[None, :], channel)
        if top == 0:
            out[0, :STAMP_PIXELS] = stamp_values(index, self.fmt).view(self.fmt.dtype)[:, None]

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a new array (rows, columns, samples); for small frames and tests."""
        out = np.empty((self.rows, self.columns, self.fmt.samples_per_pixel), self.fmt.dtype)
        self.paint_rows(index, 0, out)
        return out


def _span(size: int, section: slice, step: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixel spans ``[start, stop)`` covered by each output row (or column).

    Output element ``t`` is level pixel ``start + t * step``, which covers frame
    pixels ``[p * 2**level, (p + 1) * 2**level)`` clipped to the frame.
    """
    factor = 1 << level
    level_size = -(-size // factor)
    first, last, _ = section.indices(level_size)
    positions = np.arange(first, max(first, last), step, dtype=np.int64)
    return positions * factor, np.minimum((positions + 1) * factor, size)


def _class_counts(painter: GridPainter, starts: np.ndarray, stops: np.ndarray, shift: int):
    """How many pixels of each span fall in each class (one segment of one period).

    Returns the counts ``(spans, classes)``, the classes' cells and kinds, and
    the first period counted (classes are laid out period by period).
    """
    period, bounds = painter.period, painter._bounds
    low = (int(starts.min()) + shift) // period if starts.size else 0
    high = (int(stops.max()) - 1 + shift) // period if starts.size else 0
    periods = np.arange(low, high + 1, dtype=np.int64)[:, None]
    lower = (periods * period + bounds[None, :-1]).ravel()
    upper = (periods * period + bounds[None, 1:]).ravel()
    a, b = (starts + shift)[:, None], (stops + shift)[:, None]
    counts = np.clip(np.minimum(b, upper[None, :]) - np.maximum(a, lower[None, :]), 0, None)
    cells, kinds = painter.classify(lower)
    return counts.astype(np.float64), cells, kinds, low


def grid_region(
    painter: GridPainter, index: int, rows: slice = slice(None), cols: slice = slice(None),
    step: int = 1, level: int = 0,
) -> np.ndarray:
    """The pixels a reader should see in a region of frame `index`, strided or averaged.

    Parameters
    ----------
    painter : GridPainter
        The pattern the file was written with.
    index : int
        Frame index.
    rows, cols : slice
        The region, in pixels of `level` (step 1 slices; ``slice(None)`` is all).
    step : int
        Take every `step`-th pixel of the level in both directions.
    level : int
        0 for the frame itself; ``k`` for the pyramid level whose pixels are the
        means of ``2**k`` x ``2**k`` blocks (clipped at the frame's edges),
        rounded half to even.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, 3)`` in the frame's dtype, built from
        sums over the pattern's rectangles: memory and time follow the output.
    """
    fmt = painter.fmt
    dy, dx = painter.offset(index)
    row_start, row_stop = _span(painter.rows, rows, step, level)
    col_start, col_stop = _span(painter.columns, cols, step, level)
    row_counts, row_cells, row_kinds, row_low = _class_counts(painter, row_start, row_stop, dy)
    col_counts, col_cells, col_kinds, col_low = _class_counts(painter, col_start, col_stop, dx)
    area = (row_stop - row_start).astype(np.float64)[:, None] * (col_stop - col_start)[None, :]
    out = np.empty(area.shape + (fmt.samples_per_pixel,), fmt.dtype)
    for channel in range(fmt.samples_per_pixel):
        values = painter.values(row_cells[:, None], row_kinds[:, None], col_cells[None, :], col_kinds[None, :],
                                channel)
        sums = row_counts @ values.astype(np.float64) @ col_counts.T
        _add_stamp(sums, painter, index, values, row_start, (col_start, col_stop), (row_low, col_low))
        out[..., channel] = np.rint(sums / area)
    return out if fmt.samples_per_pixel > 1 else out[..., 0]


def _add_stamp(sums, painter, index, values, row_start, col_spans, lows) -> None:
    """Replace the pattern by the stamp in the sums of the blocks holding row 0's first pixels."""
    if not row_start.size or row_start[0] != 0:
        return
    col_start, col_stop = col_spans
    dy, dx = painter.offset(index)
    stamp = stamp_values(index, painter.fmt).view(painter.fmt.dtype).astype(np.float64)
    row_class = _class_of(dy, lows[0], painter)
    for column in range(STAMP_PIXELS):
        hit = np.flatnonzero((col_start <= column) & (column < col_stop))
        if hit.size:
            sums[0, hit[0]] += stamp[column] - values[row_class, _class_of(column + dx, lows[1], painter)]


def _class_of(position: int, low: int, painter: GridPainter) -> int:
    """The index of shifted `position`'s class when classes start at period `low`."""
    period_index, within = divmod(position, painter.period)
    segment = int(np.searchsorted(painter._bounds, within, side="right") - 1)
    return (period_index - low) * (len(painter._bounds) - 1) + segment
