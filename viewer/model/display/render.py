"""Pure numpy transforms from decoded frames to what a screen shows.

The grey pipeline (Modality LUT, VOI, inversion) is in
:mod:`viewer.model.display.pipeline`; here are the pieces around it: presets,
the automatic window, the pixel readout, colour and palette display. Colour frames are shown as they come (pydicom already
converts YBR to RGB); PALETTE COLOR frames go through a table built once
from the palette (:class:`PaletteTable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from viewer.model.dicom.geometry import stored_limits
from viewer.model.display.metadata import WindowPreset

GREY = "grey"
COLOUR = "colour"
PALETTE = "palette"

AUTO_WINDOW_NAME = "Automatic"
FULL_RANGE_NAME = "Full range"
_SAMPLE_PIXELS = 1 << 16  # pixels per frame used for percentiles


def display_kind(photometric_interpretation: str, samples_per_pixel: int) -> str:
    """:data:`GREY`, :data:`COLOUR` (RGB or YBR, shown as RGB) or :data:`PALETTE`."""
    if photometric_interpretation == "PALETTE COLOR":
        return PALETTE
    return COLOUR if samples_per_pixel > 1 else GREY


def invert_lut(invert: bool) -> np.ndarray | None:
    """A 256-entry uint8 LUT reversing grey levels, or None for the identity."""
    if not invert:
        return None
    return np.arange(255, -1, -1, dtype=np.uint8)


def contiguous_native(frame: np.ndarray) -> np.ndarray:
    """`frame` as a C-contiguous array in native byte order (a no-op when it already is)."""
    if not frame.dtype.isnative:
        frame = frame.astype(frame.dtype.newbyteorder("="))
    return np.ascontiguousarray(frame)


class PaletteTable:
    """The RGB table of a PALETTE COLOR image, built once from its dataset.

    pydicom's :func:`~pydicom.pixels.apply_color_lut` is applied to every
    possible stored value once; a frame is then a single ``take``.
    """

    def __init__(self, dataset: Dataset, bits_stored: int) -> None:
        count = 1 << min(int(bits_stored), 16)
        self.table = np.ascontiguousarray(apply_color_lut(np.arange(count, dtype=np.uint16), dataset))
        self._last = count - 1

    @property
    def dtype(self) -> np.dtype:
        return self.table.dtype

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """RGB ``(rows, cols, 3)`` of a palette-indexed frame."""
        indices = np.clip(frame, 0, self._last) if frame.dtype.kind == "i" else np.minimum(frame, self._last)
        return self.table[indices]


def colour_levels(dtype: np.dtype) -> tuple[float, float]:
    """Levels showing colour samples of `dtype` as stored (0 to the type's max)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return 0.0, 1.0
    return 0.0, float(np.iinfo(dtype).max)


def rescaled(value: Any, slope: float, intercept: float) -> Any:
    """The modality-rescaled value of a stored value (or array of them)."""
    return value * slope + intercept


def full_range_window(bits_stored: int, signed: bool, slope: float = 1.0, intercept: float = 0.0) -> WindowPreset:
    """The window covering every storable value, in rescaled units."""
    low, high = stored_limits(bits_stored, signed)
    ends = sorted((rescaled(low, slope, intercept), rescaled(high, slope, intercept)))
    # A window counts values: 0..255 is 256 wide, as Window Width is in DICOM.
    step = abs(slope) or 1.0
    return WindowPreset((ends[0] + ends[1] + step) / 2, ends[1] - ends[0] + step, FULL_RANGE_NAME)


def drag_window(center: float, width: float, dx: float, dy: float, min_width: float = 1.0) -> tuple[float, float]:
    """New (center, width) after dragging `dx`, `dy` screen pixels.

    Right widens the window, up raises the centre; one pixel moves both by
    1/256 of the current width, so the feel is the same for 8-bit data and
    for CT values.
    """
    step = max(abs(width), min_width) / 256.0
    return center - dy * step, max(min_width, width + dx * step)


def sample_indices(num_frames: int, count: int) -> list[int]:
    """Up to `count` frame indices spread evenly over ``range(num_frames)``."""
    if num_frames <= 0 or count <= 0:
        return []
    if num_frames <= count:
        return list(range(num_frames))
    return sorted({round(i * (num_frames - 1) / (count - 1)) for i in range(count)}) if count > 1 else [0]


def sample_grid(frame: np.ndarray, budget: int = _SAMPLE_PIXELS) -> np.ndarray:
    """About `budget` pixels of `frame` (its first sample) on a regular grid, flat, in the frame's dtype."""
    grey = frame if frame.ndim == 2 else frame[..., 0]
    stride = max(1, int(np.sqrt(grey.size / budget)))
    return np.asarray(grey[::stride, ::stride]).ravel()


def sample_region(document, index: int, budget: int = _SAMPLE_PIXELS) -> np.ndarray:
    """The pixels :func:`sample_grid` takes from frame `index`, read as a strided region of the document.

    Only those pixels are read: 65,536 of a 30,000 x 30,000 frame, not the
    1.8 GB (and not the whole frame's read-ahead) that fetching the frame
    would cost. ``sample_grid(sample_region(doc, k))`` equals ``sample_grid(doc.frame(k))``.
    """
    rows, cols = document.frame_shape[:2]
    return document.region(index, step=max(1, int(np.sqrt(rows * cols / budget))))


def window_from_values(
    values: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5), min_width: float = 1.0
) -> WindowPreset | None:
    """The :data:`AUTO_WINDOW_NAME` window from the `percentiles` of `values` (modality units).

    None when no value is finite. A flat image gets a window `min_width` wide.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    low, high = np.percentile(values, percentiles)
    if high <= low:
        high = low + min_width
    return WindowPreset((low + high) / 2, high - low, AUTO_WINDOW_NAME)


def auto_window(
    frames: Iterable[np.ndarray],
    slope: float = 1.0,
    intercept: float = 0.0,
    percentiles: tuple[float, float] = (0.5, 99.5),
    pixels_per_frame: int = _SAMPLE_PIXELS,
) -> WindowPreset | None:
    """A window from percentiles of pixels sampled (on a grid) from `frames`.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        A few frames (see :func:`sample_indices`); only a grid of about
        `pixels_per_frame` pixels of each is looked at.
    slope, intercept : float
        Modality rescale, so that the window is in rescaled units
        (:meth:`viewer.model.display.pipeline.GreyPipeline.automatic_window`
        applies a Modality LUT too).
    percentiles : (float, float)
        Lower and upper percentile.

    Returns
    -------
    WindowPreset or None
        Named :data:`AUTO_WINDOW_NAME`; None if `frames` was empty.
    """
    samples = [sample_grid(frame, pixels_per_frame).astype(np.float64) for frame in frames]
    if not samples:
        return None
    values = rescaled(np.concatenate(samples), slope, intercept)
    return window_from_values(values, percentiles, max(abs(slope), 1.0))


@dataclass(frozen=True)
class PixelReadout:
    """What is under the cursor, for the status bar."""

    row: int
    column: int
    frame: int
    stored: tuple[float, ...]
    value: float | None
    unit: str

    def text(self) -> str:
        """E.g. "row 12, col 40, frame 7: stored 1024 = 24 HU"."""
        where = f"row {self.row}, col {self.column}, frame {self.frame}"
        if len(self.stored) > 1:
            return f"{where}: RGB ({', '.join(_number(v) for v in self.stored)})"
        text = f"{where}: stored {_number(self.stored[0])}"
        if self.value is not None:
            text += f" = {_number(self.value)}"
            if self.unit:
                text += f" {self.unit}"
        return text


def pixel_readout(
    frame: np.ndarray, row: int, column: int, frame_index: int, slope: float, intercept: float, unit: str
) -> PixelReadout | None:
    """The :class:`PixelReadout` at (`row`, `column`) of `frame`, or None outside it."""
    if not (0 <= row < frame.shape[0] and 0 <= column < frame.shape[1]):
        return None
    sample = frame[row, column]
    stored = tuple(float(v) for v in np.atleast_1d(sample))
    value = rescaled(stored[0], slope, intercept) if len(stored) == 1 else None
    return PixelReadout(row, column, frame_index, stored, value, unit)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def presets_for(
    file_presets: Sequence[WindowPreset], automatic: WindowPreset | None, full_range: WindowPreset
) -> list[WindowPreset]:
    """The window menu: the file's presets, then the automatic one, then full range."""
    presets = list(file_presets)
    if automatic is not None:
        presets.append(automatic)
    presets.append(full_range)
    return presets
