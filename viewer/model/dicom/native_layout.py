"""Where native (uncompressed) frames lie in a file: the one description the frame sources and the edit session share.

Row-major frames one after the other; samples interleaved for planar
configuration 0, one plane per sample for 1; the file's byte order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from viewer.model.dicom.geometry import PixelGeometry


@dataclass(frozen=True)
class NativeLayout:
    """Where the pixels of native frames lie in the file.

    Attributes
    ----------
    pixel_offset : int
        File offset of frame 0's first byte.
    rows, columns, samples : int
    planar : bool
        Planar configuration 1 (all of sample 0, then sample 1, ...).
    dtype : numpy.dtype
        Stored values, with the file's byte order.
    frame_nbytes : int
    unused_high_bits : int
        Bits above Bits Stored that pydicom masks (unsigned) or sign-extends (signed).
    """

    pixel_offset: int
    rows: int
    columns: int
    samples: int
    planar: bool
    dtype: np.dtype
    frame_nbytes: int
    unused_high_bits: int

    @classmethod
    def of(cls, geometry: PixelGeometry, pixel_offset: int, little_endian: bool) -> "NativeLayout":
        return cls(
            pixel_offset=pixel_offset,
            rows=geometry.rows,
            columns=geometry.columns,
            samples=geometry.samples_per_pixel,
            planar=geometry.samples_per_pixel > 1 and geometry.planar_configuration == 1,
            dtype=geometry.dtype.newbyteorder("<" if little_endian else ">"),
            frame_nbytes=geometry.frame_nbytes,
            unused_high_bits=geometry.unused_high_bits,
        )

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return (self.rows, self.columns) if self.samples == 1 else (self.rows, self.columns, self.samples)

    def frame_offset(self, index: int) -> int:
        return self.pixel_offset + index * self.frame_nbytes

    def shape_frames(self, flat: np.ndarray, count: int) -> np.ndarray:
        """View `count` frames of stored values (a flat array of `dtype`) as ``(count, rows, cols[, samples])``."""
        rows, cols, samples = self.rows, self.columns, self.samples
        if samples == 1:
            return flat.reshape(count, rows, cols)
        if not self.planar:
            return flat.reshape(count, rows, cols, samples)
        return flat.reshape(count, samples, rows, cols).transpose(0, 2, 3, 1)

    def shape_frame(self, flat: np.ndarray) -> np.ndarray:
        """One frame's stored values as ``(rows, cols[, samples])``."""
        return self.shape_frames(flat, 1)[0]

    @property
    def strides(self) -> tuple[int, ...]:
        """Byte strides of the ``(frames, rows, cols[, samples])`` view over the file."""
        item = self.dtype.itemsize
        if self.samples == 1:
            return (self.frame_nbytes, self.columns * item, item)
        if not self.planar:
            return (self.frame_nbytes, self.columns * self.samples * item, self.samples * item, item)
        return (self.frame_nbytes, self.columns * item, item, self.rows * self.columns * item)

    def from_stored(self, stored: np.ndarray) -> np.ndarray:
        """Stored values as pydicom returns them: unused high bits masked (unsigned) or sign-extended (signed).

        A view stays a view when there is nothing to change.
        """
        shift = self.unused_high_bits
        if not shift:
            return stored
        corrected = np.array(stored, copy=True)
        np.left_shift(corrected, shift, out=corrected)
        np.right_shift(corrected, shift, out=corrected)
        return corrected

    def stack(self, count: int) -> "StackShape":
        """Shape, dtype and strides of the ``(count, rows, cols[, samples])`` pixels in the file."""
        return StackShape((count, *self.frame_shape), self.dtype, self.strides)


class StackShape(NamedTuple):
    """What an array view of native pixel data would be, without the data: shape, dtype, strides."""

    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)
