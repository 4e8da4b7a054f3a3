"""Pending pixel edits with undo/redo, written to the file only by a journaled save.

An :class:`EditSession` sits beside a document opened in read/write mode. It
never touches a mapping: old values are read and new ones written with
positional reads and writes on its own descriptor, and every edit waits in
memory until :meth:`EditSession.save` hands the changed byte ranges to
:mod:`viewer.model.editing.journal`, which writes them atomically.

How edits are held (why memory scales with the edit, not the file)
-----------------------------------------------------------------
An edit is a :class:`MaskOp`: a compact frame selection (a ``range`` or a
sorted int array), the bounding box of the mask, the mask cropped to that box
and the fill value. Masking a 200 x 300 band on all 7,000 frames of a 3.5 GB
file costs one 60 kB mask, not 7,000 copies. Rendering frame ``k`` copies the
stored frame and applies, in order, the operations that touch ``k``.

Undo entries follow napari's Labels atoms (bounding box, mask, old values),
with one saving: the old values are still in the file until the next save, so
they are not held at all. Undo removes the last step (one apply, or one whole
brush stroke, as in napari's ``_begin_stroke``/``_commit_stroke``); redo puts
it back. Every step carries a label for the Edit menu ("Undo Mask region"),
as on glue's command stack.

After a successful save the history is cleared: the old values then exist
only in the journal, which the save deletes, so an undo past the save would
have nothing to restore from. Keeping it would mean holding every old value
in memory, which is what this design avoids.

Header patches (:meth:`EditSession.set_header_patch`) are same-length byte
writes outside the pixel data (e.g. Burned In Annotation ``YES`` -> ``NO``),
undoable and saved in the same journaled write as the pixels.

The session is not thread-safe: call it from one thread (the GUI's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from viewer.model.editing import journal
from viewer.model.errors import FileChangedError, ReadOnlyError
from viewer.model.events import Signal
from viewer.model.editing.operations import (
    FrameSelection,
    HeaderPatch,
    MaskOp,
    bounding_box,
    fill_value,
    union_box,
)
from viewer.model.platform import process
from viewer.model.editing.save_layout import BoxLayout, header_batch

__all__ = ["EditSession", "FrameSelection", "HeaderPatch", "MaskOp"]

# Bytes of pixel data gathered per save batch; bounds the save's memory.
_SAVE_BATCH_BYTES = 8 << 20


@dataclass(frozen=True, eq=False)
class _Step:
    """One undo step: the operations of one apply or one brush stroke."""

    label: str
    ops: tuple[MaskOp | HeaderPatch, ...]

    def frames(self) -> FrameSelection:
        return FrameSelection.union(op.frames for op in self.ops if isinstance(op, MaskOp))


@dataclass
class _Stroke:
    label: str
    ops: list[MaskOp | HeaderPatch] = field(default_factory=list)


class EditSession:
    """Pending edits of one file's pixel data, with undo/redo and a journaled save.

    Parameters
    ----------
    path : str or os.PathLike
        The DICOM file.
    fd : int
        A descriptor opened ``O_RDWR`` on `path`, owned by the caller (never closed here).
    frames : numpy.ndarray or StackShape
        Describes the native pixel data, ``(frames, rows, cols[, samples])``:
        its ``shape``, ``dtype`` (with the file's byte order) and ``strides``.
        A :class:`~viewer.model.dicom.native_layout.StackShape`, or an array
        view of the pixel data (any byte order and strides). Pixels are always
        read with positional reads on `fd`, never through `frames`.
    pixel_offset : int, optional
        File offset of ``frames[0, 0, 0(, 0)]``; found from a ``numpy.memmap``
        view if omitted.

    Attributes
    ----------
    changed : Signal
        Emitted with the affected frames (a ``range`` or tuple of ints; empty for
        header-only changes) after every apply, undo, redo, revert and save.

    Raises
    ------
    ReadOnlyError
        If `fd` is not open for writing or the file system is read-only.
    """

    def __init__(self, path: str | os.PathLike[str], fd: int, frames: Any, *, pixel_offset: int | None = None) -> None:
        self.path = os.path.abspath(os.fspath(path))
        if frames.ndim not in (3, 4):
            raise ValueError(f"frames must have 3 or 4 dimensions, not shape {frames.shape}")
        _require_writable(self.path, fd)
        self._fd = fd
        self._frames = frames
        self.pixel_offset = _find_pixel_offset(frames) if pixel_offset is None else int(pixel_offset)
        self._pixel_span = _byte_span(frames, self.pixel_offset)
        self._identity = journal.FileIdentity.of_fd(fd)
        self._done: list[_Step] = []
        self._undone: list[_Step] = []
        self._stroke: _Stroke | None = None
        self._layouts: dict[tuple[int, int, int, int], BoxLayout] = {}
        self.changed = Signal()

    # ------------------------------------------------------------------ state
    @property
    def dirty(self) -> bool:
        """True if there are edits not yet in the file."""
        return bool(self._done) or bool(self._stroke and self._stroke.ops)

    @property
    def can_undo(self) -> bool:
        return bool(self._done) or bool(self._stroke and self._stroke.ops)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone) and self._stroke is None

    @property
    def undo_label(self) -> str:
        """Menu text such as ``"Undo Mask region"``; plain ``"Undo"`` when there is nothing to undo."""
        if self._stroke and self._stroke.ops:
            return f"Undo {self._stroke.label}"
        return f"Undo {self._done[-1].label}" if self._done else "Undo"

    @property
    def redo_label(self) -> str:
        """Menu text such as ``"Redo Mask region"``; plain ``"Redo"`` when there is nothing to redo."""
        return f"Redo {self._undone[-1].label}" if self.can_redo else "Redo"

    @property
    def memory_bytes(self) -> int:
        """Bytes held by pending edits and undo/redo entries (masks, values, frame lists, patches)."""
        ops = [op for step in self._done + self._undone for op in step.ops]
        ops += self._stroke.ops if self._stroke else []
        return sum(op.nbytes for op in ops)

    @property
    def header_patches(self) -> list[tuple[int, bytes]]:
        """Pending header writes as ``(offset, bytes)``, in the order they apply."""
        return [(op.offset, op.data) for op in self._pending_ops() if isinstance(op, HeaderPatch)]

    def is_edited(self, index: int) -> bool:
        """True if frame `index` has pending edits."""
        return any(index in op.frames for op in self._pending_mask_ops())

    def mask_ops(self, index: int | None = None) -> list[MaskOp]:
        """The pending mask operations in order (touching frame `index` if given): their boxes say what may change."""
        ops = self._pending_mask_ops()
        return ops if index is None else [op for op in ops if index in op.frames]

    def render_region(self, index: int, pixels: np.ndarray, rows: slice, cols: slice, step: int = 1) -> np.ndarray:
        """Paint frame `index`'s pending edits on `pixels` in place and return it.

        `pixels` is a writable copy of ``frame[rows, cols][::step, ::step]``
        (plain slices). The work is bounded by the region and the edits'
        boxes, not the frame.
        """
        top, left = rows.indices(self._frames.shape[1])[0], cols.indices(self._frames.shape[2])[0]
        for op in self.mask_ops(index):
            op.paint_sampled(pixels, top, left, step)
        return pixels

    def render(self, index: int, base_frame: np.ndarray) -> np.ndarray:
        """Frame `index` with its pending edits applied.

        Parameters
        ----------
        index : int
            The frame.
        base_frame : numpy.ndarray
            The stored frame, ``frames[index]``.

        Returns
        -------
        numpy.ndarray
            A C-contiguous copy with the edits applied (same dtype and shape), or
            `base_frame` itself if the frame has no edits.
        """
        ops = [op for op in self._pending_mask_ops() if index in op.frames]
        if not ops:
            return base_frame
        if base_frame.shape != self._frames.shape[1:]:
            raise ValueError(f"base_frame has shape {base_frame.shape}, expected {self._frames.shape[1:]}")
        pixels = np.array(base_frame, order="C")
        for op in ops:
            op.paint(pixels, 0, 0)
        return pixels

    # ------------------------------------------------------------------ edits
    def apply_mask(self, mask: np.ndarray, value: Any, frames: Any = None, label: str = "Mask", *,
                   origin: tuple[int, int] | None = None) -> None:
        """Set the pixels under `mask` to `value` on `frames` (pending until :meth:`save`).

        Parameters
        ----------
        mask : numpy.ndarray
            Boolean ``(rows, cols)``, or with `origin` a box of any size inside the
            frame. An empty mask is a no-op (no undo step).
        value : scalar or sequence
            The new pixel value; for colour data a scalar or one value per sample.
        frames : int, range, slice, iterable of int or None
            The frames to change; None means all.
        label : str
            Undo step name ("Mask region" gives "Undo Mask region"); ignored inside a stroke.
        origin : (int, int), optional
            Frame row and column of ``mask[0, 0]`` when `mask` is a cropped box
            (a :class:`~viewer.model.editing.shapes.BoxMask`): cost follows the box.

        Raises
        ------
        ValueError
            If the mask has the wrong shape or dtype or lies outside the frame, a
            frame is out of range, or `value` does not fit the pixel type.
        """
        frame_count, rows, cols = self._frames.shape[:3]
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise ValueError(f"the mask must be boolean, not {mask.dtype}")
        origin_row, origin_col = (0, 0) if origin is None else (int(origin[0]), int(origin[1]))
        if origin is None and mask.shape != (rows, cols):
            raise ValueError(f"the mask has shape {mask.shape}, but frames are {rows} x {cols}")
        if mask.ndim != 2 or origin_row < 0 or origin_col < 0 or origin_row + mask.shape[0] > rows \
                or origin_col + mask.shape[1] > cols:
            raise ValueError(f"a {mask.shape} mask at {(origin_row, origin_col)} is not inside {rows} x {cols} frames")
        selection = FrameSelection.parse(frames, frame_count)
        fill = fill_value(value, self._frames.dtype, self._frames.shape[3] if self._frames.ndim == 4 else None)
        box = bounding_box(mask)
        if box is None or not len(selection):
            return
        top, bottom, left, right = box
        cropped = mask[top:bottom, left:right].copy()
        cropped.setflags(write=False)
        self._record(MaskOp(selection, origin_row + top, origin_col + left, cropped, fill), label)
        self.changed.emit(selection.as_sequence())

    def set_header_patch(self, offset: int, new_bytes: bytes, label: str = "Edit header") -> None:
        """Write `new_bytes` at file `offset` at the next save (same length, undoable).

        Raises
        ------
        ValueError
            If the range is empty, outside the file, or overlaps the pixel data.
        """
        data = bytes(new_bytes)
        offset = int(offset)
        end = offset + len(data)
        if not data or offset < 0 or end > self._identity.size:
            raise ValueError(f"header patch {offset}..{end} is empty or outside the file (0..{self._identity.size})")
        pixel_start, pixel_end = self._pixel_span
        if offset < pixel_end and end > pixel_start:
            raise ValueError(f"header patch {offset}..{end} overlaps the pixel data ({pixel_start}..{pixel_end})")
        self._record(HeaderPatch(offset, data), label)
        self.changed.emit(())

    def begin_stroke(self, label: str = "Brush") -> None:
        """Group the following :meth:`apply_mask` calls into one undo step."""
        if self._stroke is not None:
            raise RuntimeError("a stroke is already open: commit or abort it first")
        self._stroke = _Stroke(label)

    def commit_stroke(self) -> None:
        """Close the open stroke as one undo step (nothing if it changed nothing or none is open)."""
        stroke, self._stroke = self._stroke, None
        if stroke is not None and stroke.ops:
            self._push(_Step(stroke.label, tuple(stroke.ops)))

    def abort_stroke(self) -> None:
        """Drop the open stroke's edits (nothing if none is open)."""
        stroke, self._stroke = self._stroke, None
        if stroke is not None and stroke.ops:
            self.changed.emit(_Step(stroke.label, tuple(stroke.ops)).frames().as_sequence())

    def undo(self) -> None:
        """Remove the last step (an open stroke is committed first); nothing if there is none."""
        self.commit_stroke()
        if self._done:
            step = self._done.pop()
            self._undone.append(step)
            self.changed.emit(step.frames().as_sequence())

    def redo(self) -> None:
        """Re-apply the last undone step; nothing if there is none."""
        if self._undone and self._stroke is None:
            step = self._undone.pop()
            self._done.append(step)
            self.changed.emit(step.frames().as_sequence())

    def revert(self) -> None:
        """Drop every pending edit, the open stroke and the history."""
        frames = self._pending_frames()
        self._stroke = None
        self._done.clear()
        self._undone.clear()
        self.changed.emit(frames.as_sequence())

    # ------------------------------------------------------------------- save
    def save(
        self,
        *,
        progress: Callable[[int, int], None] | None = None,
        _step_hook: Callable[[str], None] | None = None,
    ) -> journal.SaveStats:
        """Write the pending edits into the file through the rollback journal.

        An open stroke is committed first. Afterwards :attr:`dirty` is False and
        the undo history is cleared (see the module docstring for why).

        Parameters
        ----------
        progress : callable, optional
            ``progress(done, total)`` after each batch, in frames: each edited
            frame counts twice, once journaled and once written.
        _step_hook : callable, optional
            For tests: called with each step name in :data:`journal.SAVE_STEPS`.

        Returns
        -------
        journal.SaveStats
            What was written.

        Raises
        ------
        FileChangedError
            If the file was replaced or modified since the session started.
        SaveError
            If writing failed; the file is unchanged (or, if even the rollback
            failed, will be restored from the journal at the next open) and the
            edits are still pending.
        """
        self.commit_stroke()
        if not self.dirty:
            return journal.SaveStats(regions=0, bytes_written=0, journal_bytes=0)
        self._check_file_unchanged()
        frames = self._pending_frames()
        batches = self._region_batches if progress is None else self._reporting_batches(progress)
        try:
            stats = journal.journaled_write(self.path, self._fd, batches, step_hook=_step_hook)
        except BaseException:
            # Our own writes and rollback changed the mtime: that is not another program's change.
            self._identity = journal.FileIdentity.of_fd(self._fd)
            raise
        self._done.clear()
        self._undone.clear()
        self._identity = journal.FileIdentity.of_fd(self._fd)
        self.changed.emit(frames.as_sequence())
        return stats

    # --------------------------------------------------------------- internals
    def _record(self, op: MaskOp | HeaderPatch, label: str) -> None:
        if self._stroke is not None:
            self._stroke.ops.append(op)
        else:
            self._push(_Step(label, (op,)))

    def _push(self, step: _Step) -> None:
        self._done.append(step)
        self._undone.clear()

    def _pending_ops(self) -> list[MaskOp | HeaderPatch]:
        ops = [op for step in self._done for op in step.ops]
        return ops + (self._stroke.ops if self._stroke else [])

    def _pending_mask_ops(self) -> list[MaskOp]:
        return [op for op in self._pending_ops() if isinstance(op, MaskOp)]

    def _pending_frames(self) -> FrameSelection:
        return FrameSelection.union(op.frames for op in self._pending_mask_ops())

    def _check_file_unchanged(self) -> None:
        try:
            now = journal.FileIdentity.of_fd(self._fd)
            at_path = os.stat(self.path)
        except OSError as exc:
            raise FileChangedError(self.path, f"cannot check the file before saving: {exc.strerror}") from exc
        if (at_path.st_dev, at_path.st_ino) != (now.dev, now.ino):
            problem = "the file was replaced by another program since it was opened"
        elif now != self._identity:
            problem = "the file was modified by another program since it was opened"
        else:
            return
        raise FileChangedError(self.path, f"{problem}; nothing was saved and your edits are still pending")

    def _reporting_batches(self, progress: Callable[[int, int], None]) -> Callable[[str], Iterator[Any]]:
        """:meth:`_region_batches` calling ``progress(done, total)`` as each batch is done with."""
        total = 2 * self._edited_frames().size

        def batches(contents: str) -> Iterator[journal.RegionBatch]:
            done = 0 if contents == "original" else total // 2
            for batch, frame_count in self._counted_batches(contents):
                yield batch  # resumed once the journal has written it
                done += frame_count
                progress(done, total)

        return batches

    def _edited_frames(self) -> np.ndarray:
        """The indices of the frames pending mask operations change."""
        ops = self._pending_mask_ops()
        if not ops:
            return np.zeros(0, dtype=np.int64)
        return FrameSelection.union(op.frames for op in ops).as_array()

    def _region_batches(self, contents: str) -> Iterator[journal.RegionBatch]:
        """The changed byte ranges with their ``"original"`` or ``"final"`` bytes, in bounded batches."""
        return (batch for batch, _frames in self._counted_batches(contents))

    def _counted_batches(self, contents: str) -> Iterator[tuple[journal.RegionBatch, int]]:
        """:meth:`_region_batches`, each with the number of frames it holds."""
        patches = [op for op in self._pending_ops() if isinstance(op, HeaderPatch)]
        if patches:
            yield header_batch(self._fd, patches, contents), 0
        ops = self._pending_mask_ops()
        if not ops:
            return
        edited = self._edited_frames()
        touches = np.stack([op.frames.contains_array(edited) for op in ops])
        # Consecutive frames touched by the same operations share a box and a byte layout.
        starts = np.flatnonzero(np.any(touches[:, 1:] != touches[:, :-1], axis=0)) + 1
        bounds = [0, *starts.tolist(), edited.size]
        for first, stop in zip(bounds[:-1], bounds[1:]):
            group_ops = [op for op, hit in zip(ops, touches[:, first]) if hit]
            layout = self._layout(union_box(group_ops))
            per_batch = max(1, _SAVE_BATCH_BYTES // layout.span_bytes)
            for chunk in range(first, stop, per_batch):
                indices = edited[chunk:min(stop, chunk + per_batch)]
                if contents == "original":
                    batch = layout.original(self._fd, indices)
                else:
                    batch = layout.final(self._fd, indices, group_ops)
                yield batch, indices.size

    def _layout(self, box: tuple[int, int, int, int]) -> BoxLayout:
        layout = self._layouts.get(box)
        if layout is None:
            if len(self._layouts) > 64:
                self._layouts.clear()
            layout = self._layouts[box] = BoxLayout(self._frames, self.pixel_offset, box)
        return layout


def _require_writable(path: str, fd: int) -> None:
    """ReadOnlyError now rather than at the save, where the OS can tell (POSIX; a failed write elsewhere)."""
    if process.open_for_writing(fd) is False:
        raise ReadOnlyError(path, "the file is open read-only; edits need it opened for writing")
    if process.on_read_only_filesystem(fd):
        raise ReadOnlyError(path, "the file is on a read-only file system")


def _find_pixel_offset(frames: np.ndarray) -> int:
    """File offset of ``frames``' first element, from the ``numpy.memmap`` it views."""
    base: np.ndarray | None = frames
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and not isinstance(base.base, np.ndarray):
            address = frames.__array_interface__["data"][0]
            return address - base.__array_interface__["data"][0] + base.offset
        base = base.base
    raise ValueError("frames is not a view of a numpy.memmap: pass pixel_offset=")


def _byte_span(frames: np.ndarray, pixel_offset: int) -> tuple[int, int]:
    """The file bytes ``[start, end)`` that `frames` covers."""
    low = sum((n - 1) * s for n, s in zip(frames.shape, frames.strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(frames.shape, frames.strides) if s > 0)
    return pixel_offset + low, pixel_offset + high + frames.dtype.itemsize
