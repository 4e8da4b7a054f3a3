"""Writer of valid synthetic multi-frame DICOM cine files.

Used by the tests, the built-in demo and the benchmarks.  The files are
streamed to disk in bounded memory whatever the frame size: the header (file
meta information and data set) is built in memory with pydicom
(:mod:`viewer.synthetic.dataset`), the header of the Pixel Data element is
written by hand with an explicit length, then the pixels are generated into
one reusable buffer of about :data:`CHUNK_BYTES` and written with plain file
writes: several small frames per chunk, or one band of rows of a large frame
at a time (a 30,000 x 30,000 frame needs no more memory than a small one).
Nothing ever holds the whole pixel data, nor a whole large frame.

Two patterns (:mod:`viewer.synthetic.pattern`, :mod:`viewer.synthetic.grid`):

* ``"rings"``: concentric rings over a diagonal gradient whose centre moves
  on a small circle as the frame index grows (so playback looks like a
  moving image);
* ``"grid"``: thin bright grid lines over flat cells, which shows aliasing
  when a large frame is shown small; the expected pixels of any region,
  strided or area-averaged, come from :func:`expected_region` without
  drawing the frame.

Every frame carries its own index in the first eight pixels of row 0 (see
:func:`frame_index_of`).  :func:`expected_frame` computes the exact array a
reader should return for a frame.

Variants outside what the chosen IOD allows (planar configuration 1 or a
signed Pixel Representation where the IOD requires 0, 16-bit colour) are
still written, for reader tests, but a validator reports them as errors.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Callable, Sequence

import numpy as np

from viewer.synthetic import dataset
from viewer.synthetic.dataset import MAX_PIXEL_DATA_BYTES
from viewer.synthetic.grid import GridPainter, grid_region
from viewer.synthetic.pattern import (
    STAMP_PIXELS,
    PixelFormat,
    Region,
    RingsPainter,
    check_format,
    check_geometry,
    frame_index_of,
    resolve_regions,
)

__all__ = [
    "MAX_PIXEL_DATA_BYTES",
    "STAMP_PIXELS",
    "expected_frame",
    "expected_region",
    "frame_index_of",
    "frames_for_size",
    "write_cine",
]

CHUNK_BYTES = 8 * 1024 * 1024
"""Size of the buffer pixels are generated into before each write."""

PATTERNS = ("rings", "grid")
_MAX_PROGRESS_CALLS = 100

ProgressCallback = Callable[[int, int], None]
Painter = RingsPainter | GridPainter


def _frame_bytes(rows: int, columns: int, bits_allocated: int, samples_per_pixel: int) -> int:
    """Bytes of one uncompressed frame."""
    return rows * columns * samples_per_pixel * (bits_allocated // 8)


def _pixel_data_length(frames: int, frame_bytes: int) -> int:
    """Value length of Pixel Data: all frames, padded to an even length."""
    total = frames * frame_bytes
    return total + (total & 1)


def _painter(
    rows: int, columns: int, bits_allocated: int, samples_per_pixel: int, signed: bool,
    burned_in_annotation: str, ultrasound_regions: Sequence[Region] | None, kind: str, pattern: str = "rings",
) -> Painter:
    """Validate the arguments shared by the writer and the expectations; build the painter."""
    check_format(bits_allocated, samples_per_pixel, kind)
    check_geometry(rows, columns)
    if burned_in_annotation not in ("YES", "NO"):
        raise ValueError(f"burned_in_annotation must be 'YES' or 'NO', not {burned_in_annotation!r}")
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, not {pattern!r}")
    fmt = PixelFormat(bits_allocated, samples_per_pixel, bool(signed))
    regions = resolve_regions(ultrasound_regions, kind, rows, columns)
    if pattern == "grid":
        if kind != "sc" or burned_in_annotation == "YES":
            raise ValueError("pattern='grid' is drawn for kind='sc' without burned-in annotation only")
        return GridPainter(rows, columns, fmt)
    return RingsPainter(rows, columns, fmt, kind, regions, burned_in_annotation == "YES")


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
    pattern: str = "rings",
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
    pattern : {"rings", "grid"}, optional
        As for :func:`write_cine`.

    Returns
    -------
    numpy.ndarray
        What ``pydicom.pixels.pixel_array(path, index=index)`` returns:
        native byte order, shape (rows, columns) or (rows, columns, 3).
    """
    painter = _painter(rows, columns, bits_allocated, samples_per_pixel, signed,
                       burned_in_annotation, ultrasound_regions, kind, pattern)
    frame = painter.frame(index)
    return frame if samples_per_pixel == 3 else frame[..., 0]


def expected_region(
    index: int,
    rows: slice = slice(None),
    cols: slice = slice(None),
    step: int = 1,
    level: int = 0,
    *,
    frame_rows: int,
    frame_columns: int,
    bits_allocated: int = 16,
    samples_per_pixel: int = 1,
    signed: bool = False,
) -> np.ndarray:
    """The pixels of a region of a ``pattern="grid"`` frame, strided or area-averaged.

    ``expected_region(k, rows, cols, step)`` is ``expected_frame(k)[rows,
    cols][::step, ::step]``; with ``level=L`` the region is taken from the
    pyramid level whose pixels are the means of ``2**L`` x ``2**L`` blocks
    (clipped at the edges, rounded half to even) and `rows`, `cols` count
    pixels of that level. Computed without drawing the frame: time and memory
    follow the output (see :func:`viewer.synthetic.grid.grid_region`).
    """
    painter = _painter(frame_rows, frame_columns, bits_allocated, samples_per_pixel, signed,
                       "NO", None, "sc", "grid")
    assert isinstance(painter, GridPainter)  # pattern="grid"
    return grid_region(painter, index, rows, cols, step, level)


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
    check_format(bits_allocated, samples_per_pixel, "sc")
    frame_bytes = _frame_bytes(rows, columns, bits_allocated, samples_per_pixel)
    if frame_bytes <= 0:
        raise ValueError("rows, columns must be positive")
    return max(1, min(int(target_bytes) // frame_bytes, _max_frames(frame_bytes)))



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


def _chunk_views(buffer: np.ndarray, samples: int, rows: int, columns: int, planar: bool) -> list[np.ndarray]:
    """One (rows, columns, samples) view per frame slot (or band) of a chunk buffer.

    ``buffer`` holds pixels in file order (byte order and planar layout);
    the views let the painter write interleaved samples straight into it.
    """
    if planar:
        slots = buffer.reshape(-1, samples, rows, columns)
        return [slot.transpose(1, 2, 0) for slot in slots]
    return list(buffer.reshape(-1, rows, columns, samples))


def _stream_frames(file, painter: Painter, frames: int, *, big_endian: bool,
                   planar: bool, reporter: _ProgressReporter) -> None:
    """Generate ``frames`` frames and write them to ``file``: whole frames per chunk, or row bands."""
    fmt, rows, columns = painter.fmt, painter.rows, painter.columns
    frame_bytes = _frame_bytes(rows, columns, fmt.bits_allocated, fmt.samples_per_pixel)
    file_dtype = fmt.dtype.newbyteorder(">" if big_endian else "<")
    if frame_bytes > CHUNK_BYTES:
        _stream_bands(file, painter, frames, file_dtype, planar, reporter)
    else:
        per_chunk = max(1, min(frames, CHUNK_BYTES // frame_bytes))
        buffer = np.empty(per_chunk * frame_bytes // fmt.dtype.itemsize, dtype=file_dtype)
        raw = buffer.view(np.uint8)
        views = _chunk_views(buffer, fmt.samples_per_pixel, rows, columns, planar)
        done = 0
        while done < frames:
            count = min(per_chunk, frames - done)
            for slot in range(count):
                painter.paint_rows(done + slot, 0, views[slot])
            file.write(raw[: count * frame_bytes])
            done += count
            reporter.update(done)
    if (frames * frame_bytes) % 2:
        file.write(b"\x00")


def _stream_bands(file, painter: Painter, frames: int, file_dtype: np.dtype, planar: bool,
                  reporter: _ProgressReporter) -> None:
    """Write each frame as bands of rows of about :data:`CHUNK_BYTES`.

    With planar configuration 1 a band's samples go to three places (one per
    colour plane), so the file is written at explicit offsets.
    """
    rows, columns, samples = painter.rows, painter.columns, painter.fmt.samples_per_pixel
    row_bytes = columns * samples * file_dtype.itemsize
    band_rows = max(1, CHUNK_BYTES // row_bytes)
    band = np.empty((band_rows, columns, samples), dtype=file_dtype)
    planes = np.empty((samples, band_rows, columns), dtype=file_dtype) if planar else None
    plane_bytes = rows * columns * file_dtype.itemsize
    start = file.tell()
    for index in range(frames):
        frame_start = start + index * rows * row_bytes
        for top in range(0, rows, band_rows):
            count = min(band_rows, rows - top)
            painter.paint_rows(index, top, band[:count])
            if planes is None:
                file.write(band[:count].view(np.uint8))
                continue
            planes[:, :count] = band[:count].transpose(2, 0, 1)
            for sample in range(samples):
                file.seek(frame_start + sample * plane_bytes + top * columns * file_dtype.itemsize)
                file.write(planes[sample, :count].view(np.uint8))
        file.seek(start + (index + 1) * rows * row_bytes)
        reporter.update(index + 1)


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
    pattern: str = "rings",
    progress: ProgressCallback | None = None,
) -> pathlib.Path:
    """Write a synthetic multi-frame cine DICOM file, streaming the frames.

    Memory use depends on neither ``frames`` nor the frame size: one chunk
    of :data:`CHUNK_BYTES`, plus, for the rings of frames up to a few
    thousand pixels a side, a precomputed pattern slightly larger than a
    frame (at most :data:`viewer.synthetic.pattern.PRECOMPUTE_BYTES`).  If writing fails or
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
    pattern : {"rings", "grid"}, optional
        ``"rings"`` (moving rings, the default) or ``"grid"``: 8-pixel bright
        lines every 1,000 pixels over flat cells, moving a little from frame to
        frame, whose strided and averaged regions :func:`expected_region`
        computes (kind="sc", no annotation).
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
                       burned_in_annotation, ultrasound_regions, kind, pattern)
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
    ds = dataset.build_dataset(
        sop_class=dataset.sop_class(kind, bits_allocated, samples_per_pixel), fmt=painter.fmt,
        rows=rows, columns=columns, frames=frames, planar_configuration=planar_configuration,
        kind=kind, frame_time_ms=frame_time_ms, regions=painter.regions,
        burned_in_annotation=burned_in_annotation, window=window, rescale=rescale,
    )
    if pattern == "grid":
        ds.SeriesDescription = "Synthetic grid"
    ds.file_meta = dataset.file_meta(ds, dataset.transfer_syntax(big_endian, implicit_vr))
    header = dataset.encode_header(ds) + dataset.pixel_data_element_header(
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
