"""Where a save's changed bytes lie in the file: the batches the journal and the write pass take.

:class:`BoxLayout` turns one bounding box of pending mask operations into
file byte ranges for every frame (runs for the journal, wider spans for the
write pass); :func:`header_batch` does the same for header patches. Used by
:meth:`viewer.model.editing.edits.EditSession.save`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from viewer.model.editing import journal

if TYPE_CHECKING:
    from viewer.model.editing.operations import HeaderPatch, MaskOp

WRITE_GAP = 4096
"""Runs less than this apart are written as one span (the bytes between rewritten unchanged)."""


class BoxLayout:
    """Where the pixels of one bounding box lie in every frame's bytes.

    `frames` describes the pixel data in the file (``shape``, ``dtype`` with
    its byte order, ``strides`` of the ``(frames, rows, cols[, samples])``
    view); the bytes themselves are always read with positional reads, never
    through a mapping (a file truncated meanwhile is an error, not SIGBUS).

    The box's elements sorted by file offset form runs of adjacent bytes: one
    per row for interleaved data, one per row and sample plane for planar
    configuration 1, one for the whole box when it spans full rows. The runs
    are what the journal saves. For writing, runs less than a page apart are
    joined into spans, the bytes between them rewritten unchanged: the kernel
    writes whole pages anyway, and one large ``pwrite`` is much cheaper than
    hundreds of small ones.
    """

    def __init__(self, frames: Any, pixel_offset: int, box: tuple[int, int, int, int]) -> None:
        top, bottom, left, right = box
        self.box = box
        self.frame_stride = frames.strides[0]
        self.pixel_offset = pixel_offset
        self.dtype = frames.dtype
        self.box_shape = (bottom - top, right - left, *frames.shape[3:])
        itemsize = frames.dtype.itemsize
        offsets = np.arange(top, bottom)[:, None] * frames.strides[1] + np.arange(left, right) * frames.strides[2]
        if frames.ndim == 4:
            offsets = offsets[..., None] + np.arange(frames.shape[3]) * frames.strides[3]
        offsets = offsets.ravel().astype(np.int64)
        order = np.argsort(offsets, kind="stable")
        ordered = offsets[order]
        # None when the box's C order already is file order (no gather needed).
        self.order = None if np.array_equal(order, np.arange(order.size)) else order
        run_starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered) != itemsize) + 1))
        self.run_offsets = ordered[run_starts]
        self.run_lengths = np.diff(np.concatenate((run_starts, [ordered.size]))) * itemsize
        self.nbytes = int(ordered.size * itemsize)
        self._join_runs()

    def _join_runs(self) -> None:
        run_ends = self.run_offsets + self.run_lengths
        opens_span = np.concatenate(([True], self.run_offsets[1:] - run_ends[:-1] > WRITE_GAP))
        first_runs = np.flatnonzero(opens_span)
        last_runs = np.concatenate((first_runs[1:] - 1, [self.run_offsets.size - 1]))
        self.span_offsets = self.run_offsets[first_runs]
        self.span_lengths = run_ends[last_runs] - self.span_offsets
        self.span_bytes = int(self.span_lengths.sum())
        if self.span_bytes == self.nbytes:
            self.scatter = None  # spans are the runs: nothing in between to fill
            return
        span_of_run = np.cumsum(opens_span) - 1
        span_positions = np.concatenate(([0], np.cumsum(self.span_lengths)[:-1]))
        run_positions = span_positions[span_of_run] + self.run_offsets - self.span_offsets[span_of_run]
        run_firsts = np.concatenate(([0], np.cumsum(self.run_lengths)[:-1]))
        # (position in a frame's concatenated spans, position in its changed bytes, length) of each run.
        self.scatter = list(zip(run_positions.tolist(), run_firsts.tolist(), self.run_lengths.tolist()))

    def _read_spans(self, fd: int, indices: np.ndarray) -> np.ndarray:
        """The spans of frames `indices` as they are in the file, ``(frames, span_bytes)``, by positional reads."""
        spans = np.empty((indices.size, self.span_bytes), np.uint8)
        offsets = (self.pixel_offset + indices[:, None] * self.frame_stride + self.span_offsets).ravel()
        lengths = np.tile(self.span_lengths, indices.size)
        for offset, piece in zip(offsets.tolist(), pieces(spans, lengths)):
            journal.pread_into(fd, piece, offset)
        return spans

    def _changed_bytes(self, spans: np.ndarray) -> np.ndarray:
        """The box's bytes in file order, ``(frames, nbytes)``, gathered from the spans read."""
        if self.scatter is None:
            return spans
        changed = np.empty((spans.shape[0], self.nbytes), np.uint8)
        for span_position, changed_position, length in self.scatter:
            changed[:, changed_position:changed_position + length] = spans[:, span_position:span_position + length]
        return changed

    def original(self, fd: int, indices: np.ndarray) -> journal.RegionBatch:
        """The runs of frames `indices` with their current bytes (for the journal)."""
        offsets = (self.pixel_offset + indices[:, None] * self.frame_stride + self.run_offsets).ravel()
        lengths = np.tile(self.run_lengths, indices.size)
        changed = self._changed_bytes(self._read_spans(fd, indices))
        return journal.RegionBatch.merged(offsets, lengths, np.ascontiguousarray(changed).ravel())

    def final(self, fd: int, indices: np.ndarray, ops: list["MaskOp"]) -> journal.RegionBatch:
        """The spans of frames `indices` with `ops` applied (for the in-place write)."""
        top, _bottom, left, _right = self.box
        spans = self._read_spans(fd, indices)
        pixels = self._box_pixels(self._changed_bytes(spans))
        for op in ops:
            op.paint(pixels, top, left)
        changed = self._file_order(pixels).reshape(indices.size, self.nbytes)
        if self.scatter is None:
            spans = changed
        else:
            for span_position, changed_position, length in self.scatter:
                spans[:, span_position:span_position + length] = changed[:, changed_position:changed_position + length]
        offsets = (self.pixel_offset + indices[:, None] * self.frame_stride + self.span_offsets).ravel()
        lengths = np.tile(self.span_lengths, indices.size)
        return journal.RegionBatch.merged(offsets, lengths, np.ascontiguousarray(spans).ravel())

    def _box_pixels(self, changed: np.ndarray) -> np.ndarray:
        """The box's pixels in C order, ``(frames, rows, cols[, samples])``, from its bytes in file order."""
        file_order = np.ascontiguousarray(changed).view(self.dtype)
        if self.order is None:
            flat = file_order
        else:
            flat = np.empty_like(file_order)
            flat[:, self.order] = file_order
        return flat.reshape((changed.shape[0], *self.box_shape))

    def _file_order(self, pixels: np.ndarray) -> np.ndarray:
        flat = pixels.reshape(pixels.shape[0], -1)
        if self.order is not None:
            flat = flat[:, self.order]
        return np.ascontiguousarray(flat).view(np.uint8).ravel()


def pieces(buffer: np.ndarray, lengths: np.ndarray) -> Iterator[memoryview]:
    view = buffer.reshape(-1).data  # memoryview(buffer), typed: numpy's stubs give ndarray no __buffer__ before 3.12
    position = 0
    for length in lengths.tolist():
        yield view[position:position + length]
        position += length


def header_batch(fd: int, patches: list["HeaderPatch"], contents: str) -> journal.RegionBatch:
    """Header patches merged into ranges (later patches win where they overlap)."""
    spans = sorted((patch.offset, patch.offset + len(patch.data)) for patch in patches)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    data = bytearray()
    for start, end in merged:
        piece = bytearray(journal.pread_exact(fd, end - start, start))
        if contents == "final":
            for patch in patches:
                if start <= patch.offset < end:
                    piece[patch.offset - start:patch.offset - start + len(patch.data)] = patch.data
        data += piece
    offsets = np.array([start for start, _end in merged], np.int64)
    lengths = np.array([end - start for start, end in merged], np.int64)
    return journal.RegionBatch(offsets, lengths, np.frombuffer(bytes(data), np.uint8))
