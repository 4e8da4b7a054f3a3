"""Area-averaged image pyramids: the arithmetic, in numpy alone.

Level ``k`` of a frame has ``ceil(rows / 2**k) x ceil(cols / 2**k)`` pixels;
each is the mean of the ``2**k x 2**k`` block of frame pixels it covers,
clipped at the frame's right and bottom edges (a partial block averages the
pixels it has), rounded half to even for integer samples and kept in the
frame's dtype, per sample for colour. This is what pathology viewers show
when a screen pixel covers many image pixels: every pixel counts, so an
8-pixel bright line at 1/40 scale is a faint line, not a line that appears
wherever a stride happens to land on it.

The means are computed from exact block sums (int64 for integer data), not
from rounded means of the level below, so every level is the same whether
it is built from the whole frame, from a band of rows, or recomputed for a
small box after an edit (:func:`band_levels` needs bands aligned to the
coarsest level's blocks). :func:`level_region` computes a region of a level
directly from the frame, in bands: the reference, and the way to serve a
level no store holds.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

TILE = 256
"""Side of the square tiles levels are stored in; also the size of the coarsest level."""

_DIRECT_BAND_BYTES = 32 << 20  # frame bytes read per band by level_region

Reader = Callable[[slice, slice], np.ndarray]
"""``read(rows, cols)``: the frame's pixels in that region (level 0, a new array)."""


def level_shape(shape: tuple[int, ...], level: int) -> tuple[int, int]:
    """(rows, cols) of pyramid level `level` of a frame of `shape`."""
    factor = 1 << level
    return -(-int(shape[0]) // factor), -(-int(shape[1]) // factor)


def top_level(shape: tuple[int, ...], tile: int = TILE) -> int:
    """The coarsest level worth keeping: the first whose both sides fit in one tile (0 if the frame does)."""
    level = 0
    while max(level_shape(shape, level)) > tile:
        level += 1
    return level


def _block_sums(values: np.ndarray) -> np.ndarray:
    """Sums of 2 x 2 blocks of the two leading axes, a missing last row or column counting as zero."""
    rows, cols = values.shape[:2]
    if rows % 2 or cols % 2:
        padded = np.zeros((rows + rows % 2, cols + cols % 2) + values.shape[2:], values.dtype)
        padded[:rows, :cols] = values
        values = padded
    # Strided adds: several times faster than a sum over the axes of a reshaped view.
    pairs = values[0::2] + values[1::2]
    return pairs[:, 0::2] + pairs[:, 1::2]


def _counts(length: int, factor: int) -> np.ndarray:
    """Frame pixels covered by each level pixel along an axis of `length` pixels starting on a block edge."""
    starts = np.arange(0, length, factor)
    return np.minimum(starts + factor, length) - starts


def _means(sums: np.ndarray, rows: int, cols: int, factor: int, dtype: np.dtype) -> np.ndarray:
    area = _counts(rows, factor)[:, None] * _counts(cols, factor)[None, :]
    if sums.ndim == 3:
        area = area[..., None]
    means = sums / area
    if dtype.kind in "iu":
        np.rint(means, out=means)
    return means.astype(dtype)


def _sum_dtype(dtype: np.dtype, levels: int) -> np.dtype:
    """Exact sums of ``4**levels`` samples: int32 when it cannot overflow (half the memory traffic), else int64."""
    if dtype.kind == "f":
        return np.dtype(np.float64)
    if dtype.kind in "iu" and (1 << (8 * dtype.itemsize)) * (4 ** levels) <= 1 << 31:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


def band_levels(band: np.ndarray, levels: int) -> list[np.ndarray]:
    """Levels 1..`levels` of the pixels of `band`.

    Parameters
    ----------
    band : numpy.ndarray
        ``(rows, cols[, samples])`` frame pixels whose top-left corner lies on a
        multiple of ``2**levels`` in both directions, and which reaches a
        multiple of ``2**levels`` or the frame's edge on each side.
    levels : int
        The coarsest level wanted.

    Returns
    -------
    list of numpy.ndarray
        Element ``k - 1`` holds level ``k``'s pixels for the band, in its dtype.
    """
    dtype = band.dtype.newbyteorder("=")
    sums = band.astype(_sum_dtype(dtype, levels))
    rows, cols = band.shape[:2]
    out = []
    for level in range(1, levels + 1):
        sums = _block_sums(sums)
        out.append(_means(sums, rows, cols, 1 << level, dtype))
    return out


def level_region(read: Reader, shape: tuple[int, ...], level: int, rows: slice = slice(None),
                 cols: slice = slice(None), itemsize: int = 2) -> np.ndarray:
    """A region of level `level` computed from the frame itself, in bands of rows.

    Reads every frame pixel under the region once (time follows the region's
    footprint in the frame) but holds only one band of them.

    Parameters
    ----------
    read : callable
        ``read(rows, cols)`` returns those frame pixels (level 0).
    shape : tuple
        The frame's shape.
    level : int
        The level (0 returns the frame's own pixels).
    rows, cols : slice
        The region in pixels of the level (plain slices).
    itemsize : int
        Bytes per pixel, to size the bands.
    """
    factor = 1 << level
    level_rows, level_cols = level_shape(shape, level)
    r0, r1, _ = rows.indices(level_rows)
    c0, c1, _ = cols.indices(level_cols)
    r1, c1 = max(r0, r1), max(c0, c1)
    frame_cols = slice(c0 * factor, min(c1 * factor, int(shape[1])))
    band_rows = max(1, _DIRECT_BAND_BYTES // max(1, (frame_cols.stop - frame_cols.start) * itemsize * factor))
    parts = []
    for start in range(r0, r1, band_rows):
        stop = min(r1, start + band_rows)
        pixels = read(slice(start * factor, min(stop * factor, int(shape[0]))), frame_cols)
        if level == 0:
            parts.append(pixels)
            continue
        sums = pixels.astype(_sum_dtype(pixels.dtype, level))
        for _ in range(level):
            sums = _block_sums(sums)
        parts.append(_means(sums, pixels.shape[0], pixels.shape[1], factor, pixels.dtype.newbyteorder("=")))
    if not parts:
        empty = read(slice(0, 0), slice(0, 0))
        return np.zeros((0, c1 - c0) + empty.shape[2:], empty.dtype.newbyteorder("="))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
