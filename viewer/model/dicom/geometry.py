"""Pixel geometry: what the Image Pixel module says, checked before use.

Every product (rows x columns x samples x bits x frames) is computed with
Python integers, so a crafted header cannot overflow it, and every value is
checked for plausibility before anything is mapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from pydicom.dataset import Dataset

from viewer.model.errors import UnsupportedError, converted_errors

MAX_FRAMES = 2**31 - 1
MAX_FRAME_PIXELS = 2**32  # 65535 x 65535 is the most DICOM rows/columns can say
MAX_DECODED_FRAME_BYTES = 1 << 30
"""Largest frame a decoder may be asked to produce: a lying header must not make it allocate more."""


@dataclass(frozen=True)
class PixelGeometry:
    """The shape and encoding of the pixel data, as declared by the header."""

    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    planar_configuration: int
    number_of_frames: int
    photometric_interpretation: str
    pixel_keyword: str

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame as pydicom returns it: (rows, cols[, samples])."""
        if self.samples_per_pixel == 1:
            return (self.rows, self.columns)
        return (self.rows, self.columns, self.samples_per_pixel)

    @property
    def pixels_per_frame(self) -> int:
        return self.rows * self.columns * self.samples_per_pixel

    @property
    def frame_bits(self) -> int:
        """Bits of one native frame; YBR_FULL_422 stores 2 samples per pixel, not 3."""
        samples = 2 if self.photometric_interpretation == "YBR_FULL_422" else self.samples_per_pixel
        return self.rows * self.columns * samples * self.bits_allocated

    @property
    def unused_high_bits(self) -> int:
        """Bits Allocated - Bits Stored for integer data (pydicom masks or sign-extends them)."""
        if self.pixel_keyword != "PixelData" or self.bits_allocated == 1:
            return 0
        return self.bits_allocated - self.bits_stored

    @property
    def stored_limits(self) -> tuple[int, int]:
        """The smallest and largest stored value (:func:`stored_limits`)."""
        return stored_limits(self.bits_stored, bool(self.pixel_representation))

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one native frame (for 1-bit data, rounded up)."""
        return (self.frame_bits + 7) // 8

    def native_nbytes(self, frames: int) -> int:
        """Bytes that `frames` native frames occupy (1-bit frames are packed)."""
        return (self.frame_bits * frames + 7) // 8

    def complete_native_frames(self, available: int) -> int:
        """How many whole native frames fit in `available` bytes."""
        return min(self.number_of_frames, (available * 8) // self.frame_bits)

    @property
    def dtype(self) -> np.dtype:
        """The native-order dtype pydicom returns for these pixels."""
        if self.pixel_keyword == "FloatPixelData":
            return np.dtype("float32")
        if self.pixel_keyword == "DoubleFloatPixelData":
            return np.dtype("float64")
        if self.bits_allocated == 1:
            return np.dtype("uint8")
        kind = "i" if self.pixel_representation else "u"
        return np.dtype(f"{kind}{self.bits_allocated // 8}")


def stored_limits(bits_stored: int, signed: bool) -> tuple[int, int]:
    """The smallest and largest value Bits Stored allows (two's complement if signed).

    Bits Stored rather than the dtype: pydicom masks (or sign-extends) the
    unused high bits, so a 12-bit file's maximum is 4095, not 65535.
    """
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


def read_geometry(path: str, dataset: Dataset | Mapping[str, Any], pixel_keyword: str, encapsulated: bool) -> PixelGeometry:
    """Read and check the Image Pixel module.

    `dataset` is the file's dataset, or a mapping of keyword to value with
    the same values (the fast open path's, :mod:`viewer.model.dicom.quickscan`):
    only ``dataset.get(keyword, default)`` is used.

    Raises
    ------
    UnsupportedError
        For values Cinemap cannot show (Bits Allocated 7, 0 rows, ...).
    """
    def number(keyword: str, default: int | None = None) -> int:
        with converted_errors(path, f"{keyword} cannot be read", UnsupportedError):
            value = dataset.get(keyword, default)
        if value is None or value == "":
            if default is None:
                raise UnsupportedError(path, f"the image has no {keyword} element")
            return default
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise UnsupportedError(path, f"{keyword} has an unusable value {value!r}") from exc

    rows = number("Rows")
    columns = number("Columns")
    samples = number("SamplesPerPixel", 1)
    bits_allocated = number("BitsAllocated")
    bits_stored = number("BitsStored", bits_allocated)
    representation = number("PixelRepresentation", 0)
    planar = number("PlanarConfiguration", 0) if samples > 1 else 0
    frames = number("NumberOfFrames", 1)
    photometric = str(dataset.get("PhotometricInterpretation", "") or "").strip().upper()
    if not photometric:
        photometric = "MONOCHROME2" if samples == 1 else "RGB"

    if rows <= 0 or columns <= 0:
        raise UnsupportedError(path, f"Rows x Columns is {rows} x {columns}; both must be at least 1")
    if rows > 65535 or columns > 65535:
        raise UnsupportedError(path, f"Rows x Columns is {rows} x {columns}, beyond what DICOM allows")
    if samples not in (1, 3, 4):
        raise UnsupportedError(path, f"Samples per Pixel is {samples}; Cinemap shows 1 or 3")
    allowed_bits = {"FloatPixelData": (32,), "DoubleFloatPixelData": (64,)}.get(pixel_keyword, (1, 8, 16, 32, 64))
    if bits_allocated not in allowed_bits:
        raise UnsupportedError(
            path, f"Bits Allocated is {bits_allocated}; supported are {', '.join(map(str, allowed_bits))}"
        )
    if encapsulated and bits_allocated not in (8, 16, 32):
        raise UnsupportedError(path, f"Bits Allocated {bits_allocated} cannot be compressed")
    if not 1 <= bits_stored <= bits_allocated:
        raise UnsupportedError(path, f"Bits Stored is {bits_stored} with Bits Allocated {bits_allocated}")
    if representation not in (0, 1):
        raise UnsupportedError(path, f"Pixel Representation is {representation}; it must be 0 or 1")
    if planar not in (0, 1):
        raise UnsupportedError(path, f"Planar Configuration is {planar}; it must be 0 or 1")
    if frames <= 0 or frames > MAX_FRAMES:
        raise UnsupportedError(path, f"Number of Frames is {frames}; it must be 1 to {MAX_FRAMES}")
    geometry = PixelGeometry(
        rows, columns, samples, bits_allocated, bits_stored, representation, planar, frames, photometric,
        pixel_keyword,
    )
    decoded = rows * columns * samples * (bits_allocated // 8)
    if encapsulated and decoded > MAX_DECODED_FRAME_BYTES:
        raise UnsupportedError(
            path,
            f"Rows x Columns x Samples per Pixel x Bits Allocated ({rows} x {columns} x {samples} x "
            f"{bits_allocated} bits) declares compressed frames of {decoded} bytes when decoded; "
            f"Cinemap decodes at most {MAX_DECODED_FRAME_BYTES} bytes a frame",
        )
    return geometry
