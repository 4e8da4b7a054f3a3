"""What a synthetic frame shows: sample formats, the moving rings, the index stamp.

A painter draws any band of rows of any frame (:meth:`RingsPainter.paint_rows`),
so that the writer can stream a frame of any size in row bands and hold
neither the frame nor anything frame-sized: a 30,000 x 30,000 frame is made
in bounded memory. The rings painter precomputes its base pattern (a little
larger than a frame) only when that is small (:data:`PRECOMPUTE_BYTES`, so
cine frames cost one copy each); beyond, it computes the rows each band
needs. Either way, the pixels are the same.

Every frame carries its own index in the first eight pixels of row 0 (see
:func:`frame_index_of`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

STAMP_PIXELS = 8
"""Pixels at the start of row 0 that carry the frame index."""

PRECOMPUTE_BYTES = 256 << 20
"""Largest base pattern the rings painter keeps in memory; larger frames compute their rows per band."""

_ORBIT_FRAMES = 48  # frames per turn of the moving pattern
_SPECKLE_BLOCK = 64  # rows of speckle drawn from one seed, so any band can be drawn alone
_BASE_BAND_PIXELS = 1 << 22  # pixels per float32 block while computing the base pattern

Region = tuple[int, int, int, int]


# --------------------------------------------------------------------------
# Pixel format and validation
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelFormat:
    """Sample type of a synthetic image.

    Parameters
    ----------
    bits_allocated : int
        8 or 16; Bits Stored is the same and High Bit one less.
    samples_per_pixel : int
        1 (MONOCHROME2) or 3 (RGB).
    signed : bool
        Pixel Representation 1 (two's complement) when True.
    """

    bits_allocated: int
    samples_per_pixel: int
    signed: bool

    @property
    def dtype(self) -> np.dtype:
        """Native-order numpy dtype of one sample."""
        return np.dtype(f"{'i' if self.signed else 'u'}{self.bits_allocated // 8}")

    @property
    def unsigned_dtype(self) -> np.dtype:
        """Native-order unsigned dtype of the same width (for bit patterns)."""
        return np.dtype(f"u{self.bits_allocated // 8}")

    @property
    def type_min(self) -> int:
        """Smallest value the sample type can hold."""
        return int(np.iinfo(self.dtype).min)

    @property
    def type_max(self) -> int:
        """Largest value the sample type can hold."""
        return int(np.iinfo(self.dtype).max)

    @property
    def pattern_range(self) -> tuple[float, float]:
        """Range the patterns are mapped to: 5 % to 95 % of the type."""
        span = self.type_max - self.type_min
        return self.type_min + 0.05 * span, self.type_max - 0.05 * span


def check_format(bits_allocated: int, samples_per_pixel: int, kind: str) -> None:
    """Raise ValueError for an unsupported sample format or IOD kind."""
    if bits_allocated not in (8, 16):
        raise ValueError(f"bits_allocated must be 8 or 16, not {bits_allocated!r}")
    if samples_per_pixel not in (1, 3):
        raise ValueError(f"samples_per_pixel must be 1 or 3, not {samples_per_pixel!r}")
    if kind not in ("sc", "us"):
        raise ValueError(f"kind must be 'sc' or 'us', not {kind!r}")
    if kind == "us" and bits_allocated != 8:
        raise ValueError("kind='us' (Ultrasound Multi-frame) needs bits_allocated=8")


def check_geometry(rows: int, columns: int) -> None:
    """Raise ValueError for a frame size that cannot carry the index stamp."""
    if not 1 <= rows <= 0xFFFF:
        raise ValueError(f"rows must be in 1..65535, not {rows!r}")
    if not STAMP_PIXELS <= columns <= 0xFFFF:
        raise ValueError(f"columns must be in {STAMP_PIXELS}..65535, not {columns!r}")


# --------------------------------------------------------------------------
# Ultrasound regions and burned-in annotation geometry
# --------------------------------------------------------------------------


def _default_us_region(rows: int, columns: int) -> Region:
    """One region covering the central part of the frame (x0, y0, x1, y1)."""
    x0, y0 = columns // 8, rows // 8
    x1, y1 = columns - 1 - columns // 8, rows - 1 - rows // 16
    return x0, max(y0, min(2, rows - 1)), max(x1, x0), max(y1, y0)


def resolve_regions(regions: Sequence[Region] | None, kind: str, rows: int, columns: int) -> list[Region]:
    """Validate the ultrasound regions, or supply the default for kind='us'.

    Coordinates are inclusive (RegionLocationMaxX1/MaxY1 is the last pixel).
    """
    if kind != "us":
        if regions:
            raise ValueError("ultrasound_regions is only allowed with kind='us'")
        return []
    if regions is None:
        return [_default_us_region(rows, columns)]
    if not regions:
        raise ValueError("kind='us' needs at least one ultrasound region")
    checked = []
    for region in regions:
        x0, y0, x1, y1 = (int(v) for v in region)
        if not (0 <= x0 <= x1 < columns and 0 <= y0 <= y1 < rows):
            raise ValueError(f"ultrasound region {region!r} is not inside a {columns}x{rows} frame")
        checked.append((x0, y0, x1, y1))
    return checked


def _annotation_band(rows: int, columns: int, regions: Sequence[Region]) -> tuple[int, int, np.ndarray] | None:
    """(first row, end row, mask) of a text-like band of blocks in the top rows, or None.

    Pseudo-random 5x7 "glyphs" grouped into words, scaled with the frame
    size, start at row ``max(2, rows // 64)`` (row 0 carries the index
    stamp); pixels inside any ultrasound region are left out. Only the band's
    rows are built, never a frame-sized mask.
    """
    scale = max(1, rows // 128)
    top, left = max(2, rows // 64), max(STAMP_PIXELS + 2, columns // 32)
    if top >= rows:
        return None
    end = min(rows, top + 7 * scale)
    mask = np.zeros((end - top, columns), dtype=bool)
    rng = np.random.default_rng(20240611)
    x = left
    while x + 5 * scale <= columns - left:
        word = int(rng.integers(2, 8))
        for _ in range(word):
            if x + 5 * scale > columns - left:
                break
            glyph = rng.random((7, 5)) < 0.55
            block = np.kron(glyph, np.ones((scale, scale), dtype=bool))
            mask[:, x : x + block.shape[1]] |= block[: end - top]
            x += 6 * scale
        x += 4 * scale
    mask[:, columns - left :] = False
    for x0, y0, x1, y1 in regions:
        mask[max(0, y0 - top) : max(0, y1 + 1 - top), x0 : x1 + 1] = False
    used = np.flatnonzero(mask.any(axis=1))
    if used.size == 0:
        return None
    first, last = int(used[0]), int(used[-1]) + 1
    return top + first, top + last, mask[first:last]


# --------------------------------------------------------------------------
# The moving rings
# --------------------------------------------------------------------------


def orbit_amplitude(rows: int, columns: int) -> tuple[int, int]:
    """Vertical and horizontal radius (pixels) of the pattern's orbit."""
    return max(1, rows // 10), max(1, columns // 10)


def orbit_offset(index: int, amplitude: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of frame ``index``'s window into the base pattern."""
    ay, ax = amplitude
    theta = 2.0 * math.pi * (index % _ORBIT_FRAMES) / _ORBIT_FRAMES
    return round(ay * (1.0 - math.cos(theta))), round(ax * (1.0 + math.sin(theta)))


def _speckle_rows(top: int, bottom: int, width: int) -> np.ndarray:
    """Deterministic multiplicative speckle in [0.7, 1.0] for base rows ``top:bottom``.

    Drawn in blocks of :data:`_SPECKLE_BLOCK` rows, each from its own seed,
    so that a band gives the same values as the whole.
    """
    first, last = top // _SPECKLE_BLOCK, (bottom - 1) // _SPECKLE_BLOCK
    blocks = [np.random.default_rng([3, block]).random((_SPECKLE_BLOCK, width), dtype=np.float32)
              for block in range(first, last + 1)]
    rows = np.concatenate(blocks)[top - first * _SPECKLE_BLOCK : bottom - first * _SPECKLE_BLOCK]
    return (0.7 + 0.3 * rows).astype(np.float32)


@dataclass
class RingsPainter:
    """Draws the moving rings; any band of rows of any frame, in bounded memory.

    A frame is a window into a base pattern (rings over a gradient, larger
    than a frame by twice the orbit amplitude) whose corner moves on a small
    circle with the frame index; for ``kind="us"`` only the ultrasound
    regions move and the rest is black; the burned-in annotation and the
    index stamp are drawn last.
    """

    rows: int
    columns: int
    fmt: PixelFormat
    kind: str = "sc"
    regions: list[Region] = field(default_factory=list)
    burned_in_annotation: bool = False

    def __post_init__(self) -> None:
        self._amplitude = ay, ax = orbit_amplitude(self.rows, self.columns)
        self._height, self._width = self.rows + 2 * ay, self.columns + 2 * ax
        if self.kind == "us":
            self._moving = [(y0, y1 + 1, x0, x1 + 1) for x0, y0, x1, y1 in self.regions]
        else:
            self._moving = [(0, self.rows, 0, self.columns)]
        band = _annotation_band(self.rows, self.columns, self.regions) if self.burned_in_annotation else None
        self._annotation = band
        base_bytes = self._height * self._width * self.fmt.samples_per_pixel * self.fmt.dtype.itemsize
        self._base = self._base_rows(0, self._height) if base_bytes <= PRECOMPUTE_BYTES else None

    def _base_rows(self, top: int, bottom: int) -> np.ndarray:
        """Base pattern rows ``top:bottom`` (all columns), computed in bounded float32 blocks."""
        out = np.empty((bottom - top, self._width, self.fmt.samples_per_pixel), self.fmt.dtype)
        step = max(1, _BASE_BAND_PIXELS // self._width)
        for start in range(top, bottom, step):
            stop = min(bottom, start + step)
            out[start - top : stop - top] = self._compute_base(start, stop)
        return out

    def _compute_base(self, top: int, bottom: int) -> np.ndarray:
        height, width = self._height, self._width
        y = np.arange(top, bottom, dtype=np.float32)[:, None]
        x = np.arange(width, dtype=np.float32)[None, :]
        radius = np.hypot(y - height / 2, x - width / 2)
        wavelength = max(8.0, max(self.rows, self.columns) / 9.0)
        gradient = 0.2 * (2.0 * (x + y) / (width + height) - 1.0)
        speckle = _speckle_rows(top, bottom, width) if self.kind == "us" else None
        lo, hi = self.fmt.pattern_range
        out = np.empty((bottom - top, width, self.fmt.samples_per_pixel), self.fmt.dtype)
        for channel in range(self.fmt.samples_per_pixel):
            phase = 2.0 * math.pi * channel / 3.0
            unit = 0.5 + 0.28 * np.cos(radius * (2.0 * math.pi / wavelength) - phase) + gradient
            if speckle is not None:
                unit = 0.02 + (unit - 0.02) * speckle
            out[..., channel] = np.rint(lo + unit * (hi - lo))
        return out

    def paint_rows(self, index: int, top: int, out: np.ndarray) -> None:
        """Draw rows ``top : top + len(out)`` of frame `index` into `out`.

        Parameters
        ----------
        index : int
            Frame index (0-based).
        top : int
            First frame row of the band.
        out : numpy.ndarray
            View of shape (band rows, columns, samples); any byte order and strides.
        """
        bottom = top + out.shape[0]
        background = self.fmt.type_min if self.kind == "us" else self.fmt.pattern_range[0]
        out[...] = round(background)
        dy, dx = orbit_offset(index, self._amplitude)
        for m_top, m_bottom, left, right in self._moving:
            r0, r1 = max(top, m_top), min(bottom, m_bottom)
            if r0 >= r1:
                continue
            if self._base is not None:
                source = self._base[dy + r0 : dy + r1]
            else:
                source = self._base_rows(dy + r0, dy + r1)
            out[r0 - top : r1 - top, left:right] = source[:, dx + left : dx + right]
        self._paint_annotation(top, bottom, out)
        if top == 0:
            stamp = stamp_values(index, self.fmt).view(self.fmt.dtype)
            out[0, :STAMP_PIXELS] = stamp[:, None]

    def _paint_annotation(self, top: int, bottom: int, out: np.ndarray) -> None:
        if self._annotation is None:
            return
        first, end, mask = self._annotation
        r0, r1 = max(top, first), min(bottom, end)
        if r0 < r1:
            out[r0 - top : r1 - top][mask[r0 - first : r1 - first]] = self.fmt.type_max

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a new native-order array (rows, columns, samples)."""
        out = np.empty((self.rows, self.columns, self.fmt.samples_per_pixel), self.fmt.dtype)
        self.paint_rows(index, 0, out)
        return out


# --------------------------------------------------------------------------
# The index stamp
# --------------------------------------------------------------------------


def stamp_values(index: int, fmt: PixelFormat) -> np.ndarray:
    """The eight unsigned sample values that encode ``index``.

    Pixels 0-3 hold the index's bytes, most significant first, pixels 4-7
    their complements (255 - byte) as a check.  A 16-bit sample repeats the
    byte in both halves (``byte * 257``), so the high byte alone decodes it.
    """
    if not 0 <= index <= 0xFFFFFFFF:
        raise ValueError(f"frame index {index} does not fit in 32 bits")
    data = np.frombuffer(int(index).to_bytes(4, "big"), dtype=np.uint8)
    values = np.concatenate([data, 255 - data]).astype(fmt.unsigned_dtype)
    if fmt.bits_allocated == 16:
        values *= 257
    return values


def frame_index_of(frame: np.ndarray) -> int:
    """Read the frame index stamped in the first pixels of row 0.

    Parameters
    ----------
    frame : numpy.ndarray
        One decoded frame, shape (rows, columns) or (rows, columns, 3), of an
        8- or 16-bit integer dtype (signed or unsigned, any byte order).

    Returns
    -------
    int
        The index the frame was written with.

    Raises
    ------
    ValueError
        If the frame does not carry a valid stamp (wrong shape or dtype, or
        the check bytes do not match, e.g. the pixels were changed).
    """
    array = np.asarray(frame)
    if array.ndim == 3:
        array = array[..., 0]
    if array.ndim != 2 or array.shape[1] < STAMP_PIXELS:
        raise ValueError(f"not a frame with an index stamp: shape {np.shape(frame)}")
    if array.dtype.kind not in "iu" or array.dtype.itemsize not in (1, 2):
        raise ValueError(f"frame dtype must be an 8- or 16-bit integer, not {array.dtype}")
    unsigned = array[0, :STAMP_PIXELS].astype(array.dtype.newbyteorder("=")).view(f"u{array.dtype.itemsize}")
    data = (unsigned >> 8 if array.dtype.itemsize == 2 else unsigned).astype(np.int64)
    if np.any(data[:4] + data[4:] != 255):
        raise ValueError("frame index stamp is damaged (check bytes do not match)")
    return int.from_bytes(bytes(int(b) for b in data[:4]), "big")
