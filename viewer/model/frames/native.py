"""Frame sources for native (uncompressed) pixel data.

* :class:`MappedNative` -- the file is mapped under a read lease: a frame is a
  zero-copy view of the mapping (the README's "memory-mapped" mode).
* :class:`ReadNative` -- no lease (read mode, read/write mode, a worker thread
  of a script, network or removable media): a frame or a region is read with
  positional reads into a new array, so a file truncated meanwhile gives an
  error, never SIGBUS.
* :class:`ConvertedNative` -- values pydicom changes (1-bit unpacking, YBR to
  RGB, odd big endian 8-bit OW): each frame's bytes go through pydicom's
  decoder, so the result equals ``pixel_array(path, index=k)``.

:class:`~viewer.model.dicom.native_layout.NativeLayout` says where each
frame's pixels lie.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from viewer.model.dicom.native_layout import NativeLayout
from viewer.model.frames.base import FrameSource
from viewer.model.frames.decoding import decode_errors
from viewer.model.platform.advice import DONTNEED, WILLNEED
from viewer.model.storage.opened import OpenedFile

SEQUENTIAL_READ_AHEAD_BYTES = 4 << 20
_BLOCK_READ_BYTES = 16 << 20  # rows read at once by ReadNative.region (bounds its scratch memory)
ADVISE_ROWS_FRAME_BYTES = 64 << 20
"""Frames at least this large get read-ahead advice for each row a region needs (see :func:`advise_region`)."""


def _bounds(key: slice, size: int) -> tuple[int, int]:
    start, stop, step = key.indices(size)
    if step != 1:
        raise ValueError("region slices take their step from the step argument")
    return start, max(start, stop)


def advise_region(opened: OpenedFile, layout: NativeLayout, index: int, rows: tuple[int, int],
                  cols: tuple[int, int], step: int) -> None:
    """Ask the kernel for every row span a region of a large frame needs, before reading any.

    A strided view of a huge frame touches hundreds of rows megabytes apart:
    read one page fault (or one ``pread``) after another, a cold disk serves
    them one at a time (1.6 s for the 257 rows of a 30,000 x 30,000 frame
    here); advised first, the reads overlap (18 ms). Warm, the advice costs
    about 2 us a row, so smaller frames (cine frames, advised whole) skip it.
    """
    if layout.frame_nbytes < ADVISE_ROWS_FRAME_BYTES or rows[1] <= rows[0] or cols[1] <= cols[0]:
        return
    item = layout.dtype.itemsize
    per_pixel = 1 if layout.planar else layout.samples
    row_bytes = layout.columns * per_pixel * item
    span = (cols[1] - cols[0]) * per_pixel * item
    plane_bytes = layout.rows * layout.columns * item
    # Every row of a region at least a quarter of the row wide: one call over the rows' whole
    # extent (at most 4x the bytes needed, and the system call per row costs more than that).
    whole = step == 1 and 4 * span >= row_bytes
    for plane in range(layout.samples if layout.planar else 1):
        start = layout.frame_offset(index) + plane * plane_bytes + cols[0] * per_pixel * item
        if whole:
            opened.advise(start + rows[0] * row_bytes, (rows[1] - rows[0] - 1) * row_bytes + span, WILLNEED)
            continue
        for row in range(rows[0], rows[1], step):
            opened.advise(start + row * row_bytes, span, WILLNEED)


class NativeSource(FrameSource):
    """Native frames in the values the file stores: the frames an edit session paints.

    :meth:`stored_frame` gives a frame's stored values; ``layout.from_stored``
    turns (painted) stored values into what :meth:`frame` returns.
    """

    def __init__(self, opened: OpenedFile, layout: NativeLayout, num_frames: int) -> None:
        super().__init__(num_frames, layout.frame_shape, layout.dtype)
        self.opened = opened
        self.layout = layout

    def stored_frame(self, index: int) -> np.ndarray:
        """Frame `index` as stored in the file."""
        raise NotImplementedError


class MappedNative(NativeSource):
    """Native frames as zero-copy views of a leased mapping."""

    zero_copy = True
    description = "memory-mapped"

    def __init__(self, opened: OpenedFile, mapping: np.ndarray, layout: NativeLayout, num_frames: int) -> None:
        super().__init__(opened, layout, num_frames)
        flat = mapping[layout.pixel_offset : layout.pixel_offset + num_frames * layout.frame_nbytes].view(layout.dtype)
        self.frames = layout.shape_frames(flat, num_frames)
        self._last_index = -2

    def frame(self, index: int) -> np.ndarray:
        self._advise(index)
        return self.layout.from_stored(self.frames[index])

    def stored_frame(self, index: int) -> np.ndarray:
        return self.frames[index]

    def region(self, index: int, rows: slice, cols: slice, step: int = 1) -> np.ndarray:
        (r0, r1), (c0, c1) = _bounds(rows, self.layout.rows), _bounds(cols, self.layout.columns)
        advise_region(self.opened, self.layout, index, (r0, r1), (c0, c1), step)
        return self.layout.from_stored(np.array(self.frames[index, r0:r1:step, c0:c1:step]))

    def _advise(self, index: int) -> None:
        """Ask the kernel to read frame `index` ahead (one request, not a fault per page).

        When frames are fetched in order, the next ~4 MiB are requested too,
        so sequential reads from a cold disk stream instead of stalling.
        """
        frame_nbytes = self.layout.frame_nbytes
        length = frame_nbytes
        if index == self._last_index + 1:
            length += max(frame_nbytes, SEQUENTIAL_READ_AHEAD_BYTES)
        self._last_index = index
        self.opened.advise(self.layout.frame_offset(index), length, WILLNEED)

    def prefetch(self, indices: Iterable[int]) -> None:
        for start, stop in _runs(indices):
            self.opened.advise(self.layout.frame_offset(start), (stop - start) * self.layout.frame_nbytes, WILLNEED)

    def close(self) -> None:
        # Views handed out keep the mapping alive (and protected) on their own.
        # Typed as an array for the life of the source: nothing reads it after close.
        self.frames = None  # type: ignore[assignment]

    def release(self, indices: Iterable[int]) -> None:
        for start, stop in _runs(indices):
            self.opened.advise(self.layout.frame_offset(start), (stop - start) * self.layout.frame_nbytes, DONTNEED)


class ReadNative(NativeSource):
    """Native frames read with positional reads into new arrays."""

    description = "read"

    def stored_frame(self, index: int) -> np.ndarray:
        layout = self.layout
        data = np.empty(layout.frame_nbytes // layout.dtype.itemsize, layout.dtype)
        self.opened.read_into(data, layout.frame_offset(index))
        return layout.shape_frame(data)

    def frame(self, index: int) -> np.ndarray:
        return self.layout.from_stored(self.stored_frame(index))

    def region(self, index: int, rows: slice, cols: slice, step: int = 1) -> np.ndarray:
        layout = self.layout
        (r0, r1), (c0, c1) = _bounds(rows, layout.rows), _bounds(cols, layout.columns)
        out_rows = range(r0, r1, step)
        out_cols = (c1 - c0 + step - 1) // step if c1 > c0 else 0
        shape = (len(out_rows), out_cols) + ((layout.samples,) if layout.samples > 1 else ())
        out = np.empty(shape, layout.dtype)
        if out.size == 0:
            return out
        if step > 1:  # row by row below: let the reads overlap
            advise_region(self.opened, layout, index, (r0, r1), (c0, c1), step)
        planes = range(layout.samples) if layout.planar else (None,)
        for plane in planes:
            target = out if plane is None else out[..., plane]
            self._read_plane_region(index, plane, out_rows, c0, c1, step, target)
        return layout.from_stored(out)

    def _read_plane_region(
        self, index: int, plane: int | None, out_rows: range, c0: int, c1: int, step: int, out: np.ndarray
    ) -> None:
        """Fill `out` with rows `out_rows`, columns ``c0:c1:step`` of one sample plane (or of interleaved pixels)."""
        layout = self.layout
        item = layout.dtype.itemsize
        per_pixel = 1 if plane is not None else layout.samples
        row_bytes = layout.columns * per_pixel * item
        base = layout.frame_offset(index)
        if plane is not None:
            base += plane * layout.rows * layout.columns * item
        span = (c1 - c0) * per_pixel * item
        if step == 1:
            # Contiguous rows: read blocks of whole row spans at once (the columns
            # outside c0:c1 of the rows in between come along and are dropped).
            rows_per_block = max(1, _BLOCK_READ_BYTES // row_bytes)
            first = out_rows.start
            for block_start in range(0, len(out_rows), rows_per_block):
                count = min(rows_per_block, len(out_rows) - block_start)
                start = base + (first + block_start) * row_bytes + c0 * per_pixel * item
                length = (count - 1) * row_bytes + span
                raw = self.opened.read_array(start, length)
                padded = np.empty(count * row_bytes, np.uint8)
                padded[:length] = raw
                block = padded.view(layout.dtype).reshape(count, layout.columns * per_pixel)[:, : (c1 - c0) * per_pixel]
                out[block_start : block_start + count] = block.reshape(out[block_start : block_start + count].shape)
            return
        row = np.empty(span // item, layout.dtype)
        for position, r in enumerate(out_rows):
            self.opened.read_into(row, base + r * row_bytes + c0 * per_pixel * item)
            values = row.reshape(c1 - c0, per_pixel) if per_pixel > 1 else row
            out[position] = values[::step].reshape(out[position].shape)

    def prefetch(self, indices: Iterable[int]) -> None:
        for start, stop in _runs(indices):
            self.opened.advise(self.layout.frame_offset(start), (stop - start) * self.layout.frame_nbytes, WILLNEED)


class ConvertedNative(FrameSource):
    """Native values pydicom changes (1-bit, YBR, odd big endian OW): each frame decoded by pydicom.

    Parameters
    ----------
    decoder : pydicom decoder
        ``pydicom.pixels.get_decoder(transfer_syntax)``.
    options : dict
        Decoder options for the whole value (:meth:`FileHeader.pixel_options`).
    value : FileWindow
        The whole Pixel Data value.
    """

    description = "read and converted by pydicom"

    def __init__(
        self, opened: OpenedFile, layout: NativeLayout, num_frames: int, frame_shape: tuple[int, ...],
        dtype: np.dtype, decoder: Any, options: dict[str, Any], value: Any, frame_bits: int, bits_allocated: int,
    ) -> None:
        super().__init__(num_frames, frame_shape, dtype)
        self.opened = opened
        self.layout = layout
        self._decoder = decoder
        self._options = options
        self._value = value
        # Bit-packed or odd-length frames are not byte/word aligned: such data is
        # small (1-bit masks), read it whole once and let pydicom find the frame.
        self._whole = bits_allocated == 1 or frame_bits % 16 != 0
        self._whole_bytes: np.ndarray | None = None

    def frame(self, index: int) -> np.ndarray:
        if self._whole:
            data = self._whole_bytes
            if data is None:
                data = self._whole_bytes = self._value[:]
            with decode_errors(self.opened.path, f"frame {index + 1}"):
                array, _ = self._decoder.as_array(data, index=index, **self._options)
            return array
        frame_bytes = bytes(self.opened.read(self.layout.frame_offset(index), self.layout.frame_nbytes))
        with decode_errors(self.opened.path, f"frame {index + 1}"):
            array, _ = self._decoder.as_array(frame_bytes, index=0, **dict(self._options, number_of_frames=1))
        return array

    def close(self) -> None:
        self._whole_bytes = None


def _runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted indices as ``[start, stop)`` runs of consecutive frames."""
    ordered = sorted(set(int(index) for index in indices))
    runs: list[tuple[int, int]] = []
    for index in ordered:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs
