"""Writer of valid synthetic multi-frame DICOM cine files.

Used by the tests, the built-in demo and the benchmarks.  The files are
streamed to disk in constant memory: the header (file meta information and
data set) is built in memory with pydicom, the header of the Pixel Data
element is written by hand with an explicit length, then the frames are
generated chunk by chunk into one reusable buffer and written with plain file
writes.  Nothing ever holds the whole pixel data.

Every frame shows a pattern of concentric rings over a diagonal gradient
whose centre moves on a small circle as the frame index grows (so playback
looks like a moving image), and carries its own index in the first eight
pixels of row 0 (see :func:`frame_index_of`).  :func:`expected_frame`
computes the exact array a reader should return for a frame.

Variants outside what the chosen IOD allows (planar configuration 1 or a
signed Pixel Representation where the IOD requires 0, 16-bit colour) are
still written, for reader tests, but a validator reports them as errors.
"""

from __future__ import annotations

import datetime
import io
import math
import os
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

__all__ = [
    "MAX_PIXEL_DATA_BYTES",
    "expected_frame",
    "frame_index_of",
    "frames_for_size",
    "write_cine",
]

MAX_PIXEL_DATA_BYTES = 0xFFFFFFFE
"""Largest explicit length a Pixel Data element can have (even, < 2**32 - 1)."""

SOP_CLASS_SC_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"  # Multi-frame Grayscale Byte SC
SOP_CLASS_SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word SC
SOP_CLASS_SC_COLOUR = "1.2.840.10008.5.1.4.1.1.7.4"  # Multi-frame True Color SC
SOP_CLASS_US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame

FRAME_TIME_TAG = 0x00181063
PIXEL_DATA_TAG = (0x7FE0, 0x0010)

STAMP_PIXELS = 8
"""Pixels at the start of row 0 that carry the frame index."""

_CHUNK_BYTES = 8 * 1024 * 1024
_MAX_PROGRESS_CALLS = 100
_ORBIT_FRAMES = 48  # frames per turn of the moving pattern

Region = tuple[int, int, int, int]
ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------
# Pixel format and validation
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _PixelFormat:
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
        """Range the moving pattern is mapped to: 5 % to 95 % of the type."""
        span = self.type_max - self.type_min
        return self.type_min + 0.05 * span, self.type_max - 0.05 * span

    @property
    def frame_shape_suffix(self) -> tuple[int, ...]:
        """Trailing axes of a frame: () for grey, (3,) for colour."""
        return (3,) if self.samples_per_pixel == 3 else ()


def _check_format(bits_allocated: int, samples_per_pixel: int, kind: str) -> None:
    """Raise ValueError for an unsupported sample format or IOD kind."""
    if bits_allocated not in (8, 16):
        raise ValueError(f"bits_allocated must be 8 or 16, not {bits_allocated!r}")
    if samples_per_pixel not in (1, 3):
        raise ValueError(f"samples_per_pixel must be 1 or 3, not {samples_per_pixel!r}")
    if kind not in ("sc", "us"):
        raise ValueError(f"kind must be 'sc' or 'us', not {kind!r}")
    if kind == "us" and bits_allocated != 8:
        raise ValueError("kind='us' (Ultrasound Multi-frame) needs bits_allocated=8")


def _check_geometry(rows: int, columns: int) -> None:
    """Raise ValueError for a frame size that cannot carry the index stamp."""
    if not 1 <= rows <= 0xFFFF:
        raise ValueError(f"rows must be in 1..65535, not {rows!r}")
    if not STAMP_PIXELS <= columns <= 0xFFFF:
        raise ValueError(f"columns must be in {STAMP_PIXELS}..65535, not {columns!r}")


def _frame_bytes(rows: int, columns: int, bits_allocated: int, samples_per_pixel: int) -> int:
    """Bytes of one uncompressed frame."""
    return rows * columns * samples_per_pixel * (bits_allocated // 8)


def _pixel_data_length(frames: int, frame_bytes: int) -> int:
    """Value length of Pixel Data: all frames, padded to an even length."""
    total = frames * frame_bytes
    return total + (total & 1)


# --------------------------------------------------------------------------
# Ultrasound regions and burned-in annotation geometry
# --------------------------------------------------------------------------


def _default_us_region(rows: int, columns: int) -> Region:
    """One region covering the central part of the frame (x0, y0, x1, y1)."""
    x0, y0 = columns // 8, rows // 8
    x1, y1 = columns - 1 - columns // 8, rows - 1 - rows // 16
    return x0, max(y0, min(2, rows - 1)), max(x1, x0), max(y1, y0)


def _resolve_regions(
    regions: Sequence[Region] | None, kind: str, rows: int, columns: int
) -> list[Region]:
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
            raise ValueError(
                f"ultrasound region {region!r} is not inside a {columns}x{rows} frame"
            )
        checked.append((x0, y0, x1, y1))
    return checked


def _regions_mask(regions: Sequence[Region], rows: int, columns: int) -> np.ndarray:
    """Boolean (rows, columns) mask, True inside any region."""
    mask = np.zeros((rows, columns), dtype=bool)
    for x0, y0, x1, y1 in regions:
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def _annotation_mask(rows: int, columns: int, regions: Sequence[Region]) -> np.ndarray:
    """Boolean (rows, columns) mask of a text-like band of blocks in the top rows.

    Pseudo-random 5x7 "glyphs" grouped into words, scaled with the frame
    size, start at row ``max(2, rows // 64)`` (row 0 carries the index
    stamp); pixels inside any ultrasound region are left out.
    """
    scale = max(1, rows // 128)
    top, left = max(2, rows // 64), max(STAMP_PIXELS + 2, columns // 32)
    mask = np.zeros((rows, columns), dtype=bool)
    rng = np.random.default_rng(20240611)
    x = left
    while x + 5 * scale <= columns - left:
        word = int(rng.integers(2, 8))
        for _ in range(word):
            if x + 5 * scale > columns - left:
                break
            glyph = rng.random((7, 5)) < 0.55
            block = np.kron(glyph, np.ones((scale, scale), dtype=bool))
            bottom = min(rows, top + block.shape[0])
            mask[top:bottom, x : x + block.shape[1]] |= block[: bottom - top]
            x += 6 * scale
        x += 4 * scale
    mask[:, columns - left :] = False
    mask[_regions_mask(regions, rows, columns)] = False
    return mask


# --------------------------------------------------------------------------
# Frame pattern
# --------------------------------------------------------------------------


def _orbit_amplitude(rows: int, columns: int) -> tuple[int, int]:
    """Vertical and horizontal radius (pixels) of the pattern's orbit."""
    return max(1, rows // 10), max(1, columns // 10)


def _orbit_offset(index: int, amplitude: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of frame ``index``'s window into the base pattern."""
    ay, ax = amplitude
    theta = 2.0 * math.pi * (index % _ORBIT_FRAMES) / _ORBIT_FRAMES
    return round(ay * (1.0 - math.cos(theta))), round(ax * (1.0 + math.sin(theta)))


def _base_pattern(rows: int, columns: int, fmt: _PixelFormat, kind: str) -> np.ndarray:
    """Rings over a gradient, larger than a frame by twice the orbit amplitude.

    Returns an array of shape (rows + 2*ay, columns + 2*ax, samples) in the
    native sample dtype; each frame is a window into it.
    """
    ay, ax = _orbit_amplitude(rows, columns)
    height, width = rows + 2 * ay, columns + 2 * ax
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    radius = np.hypot(y - height / 2, x - width / 2)
    wavelength = max(8.0, max(rows, columns) / 9.0)
    gradient = 0.2 * (2.0 * (x + y) / (width + height) - 1.0)
    speckle = _speckle(height, width) if kind == "us" else None
    lo, hi = fmt.pattern_range
    base = np.empty((height, width, fmt.samples_per_pixel), dtype=fmt.dtype)
    for channel in range(fmt.samples_per_pixel):
        phase = 2.0 * math.pi * channel / 3.0
        unit = 0.5 + 0.28 * np.cos(radius * (2.0 * math.pi / wavelength) - phase) + gradient
        if speckle is not None:
            unit = 0.02 + (unit - 0.02) * speckle
        base[..., channel] = np.rint(lo + unit * (hi - lo))
    return base


def _speckle(height: int, width: int) -> np.ndarray:
    """Deterministic multiplicative speckle in [0.7, 1.0] for ultrasound-like images."""
    rng = np.random.default_rng(3)
    return (0.7 + 0.3 * rng.random((height, width), dtype=np.float32)).astype(np.float32)


def _stamp_values(index: int, fmt: _PixelFormat) -> np.ndarray:
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


@dataclass
class _FramePainter:
    """Draws synthetic frames; everything costly is precomputed once.

    A frame is drawn in two steps: :meth:`paint_static` (background outside
    the ultrasound regions and the burned-in annotation, the same for every
    frame) and :meth:`paint_dynamic` (the moving pattern inside the moving
    rectangles, the annotation where it overlaps them, and the index stamp).
    A buffer painted statically once can be reused for any number of frames.
    """

    rows: int
    columns: int
    fmt: _PixelFormat
    kind: str = "sc"
    regions: list[Region] = field(default_factory=list)
    burned_in_annotation: bool = False

    def __post_init__(self) -> None:
        self._base = _base_pattern(self.rows, self.columns, self.fmt, self.kind)
        self._amplitude = _orbit_amplitude(self.rows, self.columns)
        if self.kind == "us":
            self._moving = [(y0, y1 + 1, x0, x1 + 1) for x0, y0, x1, y1 in self.regions]
        else:
            self._moving = [(0, self.rows, 0, self.columns)]
        self._annotation = self._annotation_rows()

    def _annotation_rows(self) -> tuple[int, int, np.ndarray] | None:
        """(first row, end row, mask) of the annotation band, or None."""
        if not self.burned_in_annotation:
            return None
        mask = _annotation_mask(self.rows, self.columns, self.regions)
        used = np.flatnonzero(mask.any(axis=1))
        if used.size == 0:
            return None
        first, end = int(used[0]), int(used[-1]) + 1
        return first, end, mask[first:end]

    def empty_frame(self) -> np.ndarray:
        """A new uninitialised frame array (rows, columns, samples)."""
        return np.empty((self.rows, self.columns, self.fmt.samples_per_pixel), self.fmt.dtype)

    def paint_static(self, out: np.ndarray) -> None:
        """Draw the parts that are the same in every frame into ``out``.

        Parameters
        ----------
        out : numpy.ndarray
            View of shape (rows, columns, samples); any dtype byte order and
            strides.
        """
        background = self.fmt.type_min if self.kind == "us" else self.fmt.pattern_range[0]
        out[...] = round(background)
        if self._annotation is not None:
            first, end, mask = self._annotation
            out[first:end][mask] = self.fmt.type_max

    def paint_dynamic(self, index: int, out: np.ndarray) -> None:
        """Draw the parts of frame ``index`` that change from frame to frame.

        Parameters
        ----------
        index : int
            Frame index (0-based).
        out : numpy.ndarray
            View of shape (rows, columns, samples) already painted by
            :meth:`paint_static` (for this or any other frame).
        """
        dy, dx = _orbit_offset(index, self._amplitude)
        for top, bottom, left, right in self._moving:
            out[top:bottom, left:right] = self._base[
                dy + top : dy + bottom, dx + left : dx + right
            ]
        if self._annotation is not None and self.kind != "us":
            first, end, mask = self._annotation
            out[first:end][mask] = self.fmt.type_max
        stamp = _stamp_values(index, self.fmt).view(self.fmt.dtype)
        out[0, :STAMP_PIXELS] = stamp[:, None]

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a new native-order array (rows, columns, samples)."""
        out = self.empty_frame()
        self.paint_static(out)
        self.paint_dynamic(index, out)
        return out


def _painter(
    rows: int,
    columns: int,
    bits_allocated: int,
    samples_per_pixel: int,
    signed: bool,
    burned_in_annotation: str,
    ultrasound_regions: Sequence[Region] | None,
    kind: str,
) -> _FramePainter:
    """Validate the arguments shared by the writer and expected_frame; build the painter."""
    _check_format(bits_allocated, samples_per_pixel, kind)
    _check_geometry(rows, columns)
    if burned_in_annotation not in ("YES", "NO"):
        raise ValueError(
            f"burned_in_annotation must be 'YES' or 'NO', not {burned_in_annotation!r}"
        )
    fmt = _PixelFormat(bits_allocated, samples_per_pixel, bool(signed))
    regions = _resolve_regions(ultrasound_regions, kind, rows, columns)
    return _FramePainter(rows, columns, fmt, kind, regions, burned_in_annotation == "YES")


# --------------------------------------------------------------------------
# Public helpers
# --------------------------------------------------------------------------


def expected_frame(
    index: int,
    *,
    rows: int,
    columns: int,
    bits_allocated: int = 16,
    samples_per_pixel: int = 1,
    signed: bool = False,
    burned_in_annotation: str = "NO",
    ultrasound_regions: Sequence[Region] | None = None,
    kind: str = "sc",
) -> np.ndarray:
    """Return the frame :func:`write_cine` writes at ``index``.

    The arguments must match those given to :func:`write_cine` (byte order,
    planar configuration and VR encoding do not change the decoded values).

    Parameters
    ----------
    index : int
        Frame index, 0-based.
    rows, columns : int
        Frame size.
    bits_allocated : int, optional
        8 or 16.
    samples_per_pixel : int, optional
        1 (grey) or 3 (RGB).
    signed : bool, optional
        Signed samples (Pixel Representation 1).
    burned_in_annotation : {"NO", "YES"}, optional
        Whether the annotation band is drawn.
    ultrasound_regions : list of (x0, y0, x1, y1), optional
        As for :func:`write_cine`.
    kind : {"sc", "us"}, optional
        As for :func:`write_cine`.

    Returns
    -------
    numpy.ndarray
        What ``pydicom.pixels.pixel_array(path, index=index)`` returns:
        native byte order, shape (rows, columns) or (rows, columns, 3).
    """
    painter = _painter(
        rows, columns, bits_allocated, samples_per_pixel, signed,
        burned_in_annotation, ultrasound_regions, kind,
    )
    frame = painter.frame(index)
    return frame if samples_per_pixel == 3 else frame[..., 0]


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
    unsigned = array[0, :STAMP_PIXELS].astype(array.dtype.newbyteorder("=")).view(
        f"u{array.dtype.itemsize}"
    )
    data = (unsigned >> 8 if array.dtype.itemsize == 2 else unsigned).astype(np.int64)
    if np.any(data[:4] + data[4:] != 255):
        raise ValueError("frame index stamp is damaged (check bytes do not match)")
    return int.from_bytes(bytes(int(b) for b in data[:4]), "big")


def _max_frames(frame_bytes: int) -> int:
    """Most frames whose Pixel Data (padded to even) fits in the length field."""
    frames = MAX_PIXEL_DATA_BYTES // frame_bytes
    while _pixel_data_length(frames, frame_bytes) > MAX_PIXEL_DATA_BYTES:
        frames -= 1
    return frames


def frames_for_size(
    target_bytes: int,
    *,
    rows: int,
    columns: int,
    bits_allocated: int = 16,
    samples_per_pixel: int = 1,
) -> int:
    """Number of frames whose pixel data comes closest to ``target_bytes``.

    Parameters
    ----------
    target_bytes : int
        Wanted size of the pixel data (the file is about 1.5 KB larger).
    rows, columns, bits_allocated, samples_per_pixel : int
        Frame format, as for :func:`write_cine`.

    Returns
    -------
    int
        ``target_bytes // frame_bytes``, at least 1 and at most the largest
        count whose pixel data fits in 0xFFFFFFFE bytes (so asking for
        "4 GiB" gives the largest file :func:`write_cine` can write).
    """
    _check_format(bits_allocated, samples_per_pixel, "sc")
    frame_bytes = _frame_bytes(rows, columns, bits_allocated, samples_per_pixel)
    if frame_bytes <= 0:
        raise ValueError("rows, columns must be positive")
    return max(1, min(int(target_bytes) // frame_bytes, _max_frames(frame_bytes)))


# --------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------


def _sop_class(kind: str, bits_allocated: int, samples_per_pixel: int) -> str:
    """SOP Class UID of the IOD matching the kind and the sample format."""
    if kind == "us":
        return SOP_CLASS_US_MULTIFRAME
    if samples_per_pixel == 3:
        return SOP_CLASS_SC_COLOUR
    return SOP_CLASS_SC_BYTE if bits_allocated == 8 else SOP_CLASS_SC_WORD


def _transfer_syntax(big_endian: bool, implicit_vr: bool) -> str:
    """Transfer Syntax UID for the requested encoding."""
    if big_endian and implicit_vr:
        raise ValueError("there is no implicit VR big endian transfer syntax")
    if big_endian:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian


def _add_patient_and_study(ds: Dataset, now: datetime.datetime) -> None:
    """Patient and General Study modules."""
    ds.PatientName = "Synthetic^Cine"
    ds.PatientID = "CINEMAP-SYNTHETIC"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.StudyDescription = "Cinemap synthetic cine"


def _add_series_and_equipment(ds: Dataset, kind: str, now: datetime.datetime) -> None:
    """General Series, General Equipment and (for SC) SC Equipment modules."""
    ds.Modality = "US" if kind == "us" else "OT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    # An unpaired body part makes Laterality (type 2C) not required.
    ds.BodyPartExamined = "HEART"
    ds.SeriesDate = now.strftime("%Y%m%d")
    ds.SeriesTime = now.strftime("%H%M%S")
    ds.SeriesDescription = "Synthetic moving rings"
    ds.Manufacturer = "Cinemap"
    ds.ManufacturerModelName = "Cinemap synthetic writer"
    ds.SoftwareVersions = "1"
    if kind == "sc":
        ds.ConversionType = "SYN"


def _add_general_image(ds: Dataset, kind: str, burned_in: str, now: datetime.datetime) -> None:
    """General Image module (and the SC / US image type attributes)."""
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "PRIMARY"] if kind == "us" else ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = burned_in
    ds.LossyImageCompression = "00"


def _add_image_pixel(ds: Dataset, fmt: _PixelFormat, rows: int, columns: int,
                     planar_configuration: int) -> None:
    """Image Pixel module, without Pixel Data (written by hand)."""
    ds.SamplesPerPixel = fmt.samples_per_pixel
    ds.PhotometricInterpretation = "RGB" if fmt.samples_per_pixel == 3 else "MONOCHROME2"
    if fmt.samples_per_pixel == 3:
        ds.PlanarConfiguration = planar_configuration
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = fmt.bits_allocated
    ds.BitsStored = fmt.bits_allocated
    ds.HighBit = fmt.bits_allocated - 1
    ds.PixelRepresentation = int(fmt.signed)


def _add_cine_and_multiframe(ds: Dataset, frames: int, frame_time_ms: float) -> None:
    """Cine and Multi-frame modules (Frame Increment Pointer -> Frame Time)."""
    if not frame_time_ms > 0:
        raise ValueError(f"frame_time_ms must be positive, not {frame_time_ms!r}")
    rate = max(1, round(1000.0 / frame_time_ms))
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = FRAME_TIME_TAG
    ds.FrameTime = format_number_as_ds(float(frame_time_ms))
    ds.CineRate = rate
    ds.RecommendedDisplayFrameRate = rate


def _add_grey_presentation(ds: Dataset, fmt: _PixelFormat, kind: str,
                           window: tuple[float, float] | None,
                           rescale: tuple[float, float] | None) -> None:
    """Presentation LUT Shape, rescale and window attributes for grey images."""
    sc_grey = kind == "sc" and fmt.samples_per_pixel == 1
    if rescale is not None and not (sc_grey and fmt.bits_allocated == 16):
        raise ValueError("rescale is only allowed for kind='sc' 16-bit grey images")
    if sc_grey:  # the SC Multi-frame Image module requires them for grey
        slope, intercept = rescale if rescale is not None else (1.0, 0.0)
        ds.RescaleIntercept = format_number_as_ds(float(intercept))
        ds.RescaleSlope = format_number_as_ds(float(slope))
        ds.RescaleType = "US"
    if window is not None:
        if fmt.samples_per_pixel != 1:
            raise ValueError("window is only allowed for grey images")
        ds.WindowCenter = format_number_as_ds(float(window[0]))
        ds.WindowWidth = format_number_as_ds(float(window[1]))
    if sc_grey:
        ds.PresentationLUTShape = "IDENTITY"


def _us_region_item(region: Region) -> Dataset:
    """One item of the Sequence of Ultrasound Regions (2D tissue, 0.2 mm/pixel)."""
    x0, y0, x1, y1 = region
    item = Dataset()
    item.RegionSpatialFormat = 1  # 2D
    item.RegionDataType = 1  # tissue
    item.RegionFlags = 0
    item.RegionLocationMinX0 = x0
    item.RegionLocationMinY0 = y0
    item.RegionLocationMaxX1 = x1
    item.RegionLocationMaxY1 = y1
    item.PhysicalUnitsXDirection = 3  # cm
    item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = 0.02
    item.PhysicalDeltaY = 0.02
    return item


def _add_ultrasound(ds: Dataset, regions: Sequence[Region]) -> None:
    """US Region Calibration module (Sequence of Ultrasound Regions)."""
    ds.SequenceOfUltrasoundRegions = DicomSequence([_us_region_item(r) for r in regions])


def _build_dataset(
    *, sop_class: str, fmt: _PixelFormat, rows: int, columns: int, frames: int,
    planar_configuration: int, kind: str, frame_time_ms: float,
    regions: Sequence[Region], burned_in_annotation: str,
    window: tuple[float, float] | None, rescale: tuple[float, float] | None,
) -> Dataset:
    """The whole data set except Pixel Data."""
    now = datetime.datetime.now()
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    _add_patient_and_study(ds, now)
    _add_series_and_equipment(ds, kind, now)
    _add_general_image(ds, kind, burned_in_annotation, now)
    _add_image_pixel(ds, fmt, rows, columns, planar_configuration)
    _add_cine_and_multiframe(ds, frames, frame_time_ms)
    _add_grey_presentation(ds, fmt, kind, window, rescale)
    if kind == "us":
        _add_ultrasound(ds, regions)
    return ds


def _file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    """File Meta Information group for ``ds``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CINEMAP_SYNTH"
    return meta


def _encode_header(ds: Dataset) -> bytes:
    """Preamble, File Meta Information and data set, encoded by pydicom."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _pixel_data_element_header(length: int, *, bits_allocated: int, big_endian: bool,
                               implicit_vr: bool) -> bytes:
    """Tag, VR and explicit length of the Pixel Data element."""
    if length > MAX_PIXEL_DATA_BYTES or length % 2:
        raise ValueError(f"bad Pixel Data length {length}")
    group, element = PIXEL_DATA_TAG
    order = ">" if big_endian else "<"
    tag = np.array([group, element], dtype=f"{order}u2").tobytes()
    size = np.array([length], dtype=f"{order}u4").tobytes()
    if implicit_vr:
        return tag + size
    vr = b"OW" if bits_allocated == 16 else b"OB"
    return tag + vr + b"\x00\x00" + size


# --------------------------------------------------------------------------
# Streaming the frames
# --------------------------------------------------------------------------


class _ProgressReporter:
    """Calls ``progress(done, total)`` at most about 100 times, always at the end."""

    def __init__(self, progress: ProgressCallback | None, total: int) -> None:
        self._progress = progress
        self._total = total
        self._step = max(1, math.ceil(total / _MAX_PROGRESS_CALLS))
        self._next = self._step

    def update(self, done: int) -> None:
        """Report ``done`` frames if it crossed the next step or is the total."""
        if self._progress is None:
            return
        if done >= self._next or done == self._total:
            self._progress(done, self._total)
            self._next = (done // self._step + 1) * self._step


def _chunk_views(buffer: np.ndarray, fmt: _PixelFormat, rows: int, columns: int,
                 planar: bool) -> list[np.ndarray]:
    """One (rows, columns, samples) view per frame slot of a chunk buffer.

    ``buffer`` holds frames in file order (byte order and planar layout);
    the views let the painter write interleaved samples straight into it.
    """
    samples = fmt.samples_per_pixel
    if planar:
        slots = buffer.reshape(-1, samples, rows, columns)
        return [slot.transpose(1, 2, 0) for slot in slots]
    return list(buffer.reshape(-1, rows, columns, samples))


def _stream_frames(file, painter: _FramePainter, frames: int, *, big_endian: bool,
                   planar: bool, reporter: _ProgressReporter) -> None:
    """Generate ``frames`` frames chunk by chunk and write them to ``file``."""
    fmt, rows, columns = painter.fmt, painter.rows, painter.columns
    frame_bytes = _frame_bytes(rows, columns, fmt.bits_allocated, fmt.samples_per_pixel)
    per_chunk = max(1, min(frames, _CHUNK_BYTES // frame_bytes))
    file_dtype = fmt.dtype.newbyteorder(">" if big_endian else "<")
    buffer = np.empty(per_chunk * frame_bytes // fmt.dtype.itemsize, dtype=file_dtype)
    raw = buffer.view(np.uint8)
    views = _chunk_views(buffer, fmt, rows, columns, planar)
    for view in views:
        painter.paint_static(view)
    done = 0
    while done < frames:
        count = min(per_chunk, frames - done)
        for slot in range(count):
            painter.paint_dynamic(done + slot, views[slot])
        file.write(raw[: count * frame_bytes])
        done += count
        reporter.update(done)
    if (frames * frame_bytes) % 2:
        file.write(b"\x00")


def write_cine(
    path: str | os.PathLike[str],
    *,
    frames: int,
    rows: int = 512,
    columns: int = 512,
    bits_allocated: int = 16,
    samples_per_pixel: int = 1,
    planar_configuration: int = 0,
    signed: bool = False,
    big_endian: bool = False,
    implicit_vr: bool = False,
    kind: str = "sc",
    frame_time_ms: float = 1000 / 30,
    ultrasound_regions: list[Region] | None = None,
    burned_in_annotation: str = "NO",
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    progress: ProgressCallback | None = None,
) -> pathlib.Path:
    """Write a synthetic multi-frame cine DICOM file, streaming the frames.

    Memory use does not depend on ``frames`` (one chunk of about 8 MB plus a
    precomputed pattern slightly larger than a frame).  If writing fails or
    ``progress`` raises (e.g. to cancel), the partial file is removed and the
    exception propagates.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (overwritten if it exists).
    frames : int
        Number of frames, at least 1.
    rows, columns : int, optional
        Frame size; ``columns`` must be at least 8 (the index stamp).
    bits_allocated : int, optional
        8 or 16 (Bits Stored equal, High Bit one less).
    samples_per_pixel : int, optional
        1 (MONOCHROME2) or 3 (RGB).
    planar_configuration : int, optional
        0 (RGBRGB...) or 1 (RRR...GGG...BBB... per frame); colour only.
    signed : bool, optional
        Pixel Representation 1 (two's complement samples).
    big_endian : bool, optional
        Explicit VR Big Endian (retired; for byte-order tests only).
    implicit_vr : bool, optional
        Implicit VR Little Endian.
    kind : {"sc", "us"}, optional
        ``"sc"``: Multi-frame Grayscale Byte, Grayscale Word or True Color
        Secondary Capture, chosen from the sample format.  ``"us"``:
        Ultrasound Multi-frame Image (8-bit only), with a Sequence of
        Ultrasound Regions; outside the regions the image is black.
    frame_time_ms : float, optional
        Frame Time (the Frame Increment Pointer points to it).
    ultrasound_regions : list of (x0, y0, x1, y1), optional
        Inclusive pixel bounds of each ultrasound region (kind="us" only);
        by default one region covering the central part of the frame.
    burned_in_annotation : {"NO", "YES"}, optional
        "YES" also draws a bright text-like band of blocks in the top rows,
        outside the ultrasound regions.
    window : (center, width), optional
        Window Center / Window Width (grey images).
    rescale : (slope, intercept), optional
        Rescale Slope / Intercept with Rescale Type "US" (kind="sc" 16-bit grey).
    progress : callable, optional
        Called as ``progress(frames_written, frames_total)`` at most about
        100 times, last with ``(frames, frames)``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        For unsupported arguments, or if the pixel data would exceed
        0xFFFFFFFE bytes.

    Notes
    -----
    The little-endian output validates without errors (dciodvfy) for:
    unsigned 8/16-bit grey and unsigned 8-bit RGB with planar configuration
    0 (kind="sc"), and unsigned 8-bit grey or RGB with either planar
    configuration (kind="us").  Signed samples, planar configuration 1 in
    True Color SC and 16-bit RGB are written for reader tests but break the
    IOD's enumerated values.  Grey SC images always carry Rescale
    Slope/Intercept/Type (identity unless ``rescale`` is given), because the
    SC Multi-frame Image module requires them.
    """
    path = pathlib.Path(path)
    painter = _painter(rows, columns, bits_allocated, samples_per_pixel, signed,
                       burned_in_annotation, ultrasound_regions, kind)
    if frames < 1:
        raise ValueError(f"frames must be at least 1, not {frames!r}")
    if planar_configuration not in (0, 1):
        raise ValueError(f"planar_configuration must be 0 or 1, not {planar_configuration!r}")
    frame_bytes = _frame_bytes(rows, columns, bits_allocated, samples_per_pixel)
    length = _pixel_data_length(frames, frame_bytes)
    if length > MAX_PIXEL_DATA_BYTES:
        raise ValueError(
            f"{frames} frames of {frame_bytes} bytes need {length} bytes of pixel data, "
            f"more than the {MAX_PIXEL_DATA_BYTES} an explicit length allows"
        )
    ds = _build_dataset(
        sop_class=_sop_class(kind, bits_allocated, samples_per_pixel), fmt=painter.fmt,
        rows=rows, columns=columns, frames=frames, planar_configuration=planar_configuration,
        kind=kind, frame_time_ms=frame_time_ms, regions=painter.regions,
        burned_in_annotation=burned_in_annotation, window=window, rescale=rescale,
    )
    ds.file_meta = _file_meta(ds, _transfer_syntax(big_endian, implicit_vr))
    header = _encode_header(ds) + _pixel_data_element_header(
        length, bits_allocated=bits_allocated, big_endian=big_endian, implicit_vr=implicit_vr
    )
    planar = samples_per_pixel == 3 and planar_configuration == 1
    try:
        with open(path, "wb") as file:
            file.write(header)
            _stream_frames(file, painter, frames, big_endian=big_endian, planar=planar,
                           reporter=_ProgressReporter(progress, frames))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
