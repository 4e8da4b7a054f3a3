"""The document: one DICOM file, opened in constant time and memory.

A :class:`Document` is composed of objects with their own state:

* ``doc.file`` -- :class:`~viewer.model.storage.opened.OpenedFile`: the
  read-only descriptor, the file's identity, and a mapping only while a
  read lease protects it;
* ``doc.guard`` -- :class:`~viewer.model.storage.guard.FileGuard`: the lease
  and the checks that the file is still the one opened;
* ``doc.header`` -- :class:`~viewer.model.dicom.file_header.FileHeader`: the
  dataset (parsed lazily for plain files), pixel element, geometry and the
  values left in the file;
* ``doc.source`` -- a :class:`~viewer.model.frames.base.FrameSource` chosen
  once at open (:func:`~viewer.model.frames.choose.choose_source`), and again
  only when read/write mode gives the lease up or takes it back;
* ``doc.edits`` -- the :class:`~viewer.model.editing.edits.EditSession` in
  read/write mode (:mod:`viewer.model.document_mode`), else None.

A frame goes one way: ``doc.frame(k)`` checks the index and the file, asks
the source, and paints pending edits over a copy if there are any. The
editing methods below forward to ``doc.edits``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np
from pydicom.dataset import Dataset

from viewer.model.dicom import header as dicom_header
from viewer.model.dicom.file_header import FileHeader, read_header
from viewer.model.dicom.native_layout import NativeLayout
from viewer.model.display import metadata, voi
from viewer.model.document_mode import EditMode
from viewer.model.editing import deid
from viewer.model.editing.edits import EditSession
from viewer.model.editing.recovery import recover_before_open
from viewer.model.errors import DicomError, ReadOnlyError, TruncatedFileError, UnsupportedError, converted_errors
from viewer.model.events import Signal
from viewer.model.frames.base import FrameSource
from viewer.model.frames.choose import choose_source, frame_dtype, native_layout
from viewer.model.dicom.frame_index import IndexStatus
from viewer.model.frames.encapsulated import EncapsulatedFrames
from viewer.model.frames.native import MappedNative, NativeSource
from viewer.model.frames.overview import Overview
from viewer.model.frames.stack import FrameStack
from viewer.model.storage import fileaccess, filelock
from viewer.model.storage.cache import FrameCache
from viewer.model.storage.guard import FileGuard
from viewer.model.storage.opened import OpenedFile

DEFAULT_MEMMAP_THRESHOLD = 1 << 20
DEFAULT_CACHE_BYTES = 256 << 20


class Document:
    """One open DICOM file. Create it with :func:`~viewer.model.opening.open_document` (the constructor opens it)."""

    def __init__(
        self, path: str, *, memmap_threshold: int = DEFAULT_MEMMAP_THRESHOLD, cache_bytes: int = DEFAULT_CACHE_BYTES,
        file_access: str = fileaccess.AUTOMATIC, disk_cache_settings: tuple[str, int] | None = None,
    ) -> None:
        started = time.perf_counter()
        self.path = path
        self.memmap_threshold = int(memmap_threshold)
        self.disk_cache_settings = disk_cache_settings
        self.frames_changed = Signal()  # emits a set of frame indices (or None: all)
        self.mode_changed = Signal()  # emits the new writable flag
        self.history_changed = Signal()  # undo/redo/dirty state changed
        self.frame_count_changed = Signal()  # emits the final frame count once a background index settles it
        self._overview: Overview | None = None
        self._cache = FrameCache(cache_bytes)
        self._mode = EditMode(self)
        status = dicom_header.open_mode_ok(path)
        access, self._access_reason = fileaccess.resolve_access(path, file_access, status.st_dev)
        self.recovery: Any = recover_before_open(path)
        filelock.remove_stale_lock_file(path)  # left beside the file by an editor that was killed
        self.file = OpenedFile(path)
        self.guard = FileGuard(self.file)
        try:
            self._mode.map_wanted = access == fileaccess.MEMORY_MAP
            if self._mode.map_wanted and not self._map_under_lease():
                self._access_reason = fileaccess.UNLEASED_REASON
            self.header: FileHeader = read_header(self.file, self.memmap_threshold)
            self.source: FrameSource | None = self._choose_source()
            self._declared_frames = self.num_frames  # as opened (a background index may count fewer)
            self._start_indexing()
        except BaseException:
            self.guard.release_lease()
            self.guard.close()
            raise
        self.open_seconds = time.perf_counter() - started

    def _map_under_lease(self) -> bool:
        """Map the file if that is safe here (see :meth:`FileGuard.map_protected`)."""
        return bool(self.file.size) and self.guard.map_protected()

    def _choose_source(self) -> FrameSource | None:
        return choose_source(self.header, self.guard, self._cache, self.disk_cache_settings)

    def _start_indexing(self) -> None:
        """Compressed data without offset tables: the index completes on a background thread (frames
        can be read meanwhile); the final count arrives through :attr:`frame_count_changed`."""
        if isinstance(self.source, EncapsulatedFrames):
            self.source.index_in_background(self._on_index_complete)

    def _on_index_complete(self, status: IndexStatus) -> None:
        """The frame index is complete (any thread): keep the end of the data, tell the views."""
        source = self.source
        if isinstance(source, EncapsulatedFrames) and not self.closed and not status.truncated:
            try:
                self.guard.required_size = source.index.locate_end()
            except DicomError:
                pass
        self.frame_count_changed.emit(status.num_frames)
        if status.regrouped:
            self.frames_changed.emit(None)

    def _swap_source(self) -> None:
        """Choose the source again after the lease was given up or taken back; views handed out are stale."""
        old = self.source
        self._cache.clear()
        self.source = self._choose_source()
        if old is not None and old is not self.source:
            old.close()
        self.frames_changed.emit(None)

    # -------------------------------------------------------------- properties
    closed = property(lambda self: self.file.closed, doc="True once :meth:`close` was called.")
    geometry = property(lambda self: self.header.geometry, doc="The checked Image Pixel module, or None.")
    pixel_element = property(lambda self: self.header.pixel, doc="Where the pixel data element is, or None.")
    transfer_syntax = property(lambda self: self.header.transfer_syntax)
    dataset = property(lambda self: self.header.dataset, doc="The dataset (parsed on first use for plain files).")
    mapped_elements = property(lambda self: self.header.mapped_elements,
                               doc="Every binary value left in the file: tag, keyword, VR, offset, length.")
    warnings = property(lambda self: self.header.warnings + list(getattr(self.source, "warnings", ())),
                        doc="What was odd but usable in the file.")
    file_size = property(lambda self: self.file.size)
    is_encapsulated = property(lambda self: self.header.is_encapsulated)
    has_lease = property(lambda self: self.guard.has_lease,
                         doc="True while a kernel read lease warns us before another program writes the file.")
    cache = property(lambda self: self._cache, doc="The decoded-frame memory cache.")

    @property
    def file_access(self) -> str:
        """How frames are reached now: ``"memory-map"`` (zero-copy, under a lease) or ``"read"``."""
        return fileaccess.MEMORY_MAP if self.is_memmapped else fileaccess.READ

    @property
    def file_access_reason(self) -> str:
        """Why :attr:`file_access` is what it is, in words a user understands."""
        if self.writable:
            return f"{fileaccess.READ_PREFIX}: editing gives the read lease up (it cannot coexist with a writer)"
        return self._access_reason

    @property
    def num_frames(self) -> int:
        """Number of frames that can be shown (complete frames only)."""
        return self.source.num_frames if self.source is not None else 0

    frame_shape = property(lambda self: self.geometry.frame_shape if self.geometry is not None else (),
                           doc="Shape of one frame: (rows, cols) or (rows, cols, samples).")
    dtype = property(lambda self: frame_dtype(self.header),
                     doc="dtype of :meth:`frame` results (big endian for big endian native files, as pydicom).")
    is_memmapped = property(lambda self: self.source is not None and self.source.zero_copy,
                            doc="True if frames are zero-copy views of a (leased) mapping of the file.")
    photometric_interpretation = property(
        lambda self: self.geometry.photometric_interpretation if self.geometry is not None else "")
    pixel_offset = property(lambda self: self.header.pixel.value_offset if self.header.pixel is not None else None,
                            doc="Offset of the first pixel data value byte in the file.")
    mapped_bytes = property(lambda self: sum(element.length for element in self.mapped_elements),
                            doc="Total length of the values left in the file.")

    disk_cache = property(lambda self: getattr(self.source, "disk_cache", None),
                          doc="The decoded-frame scratch file, once a compressed frame was decoded (or None).")
    decoding = property(lambda self: getattr(self.source, "requests", None),
                        doc="Compressed frames decoded off the calling thread, at reduced sizes too "
                            "(:class:`~viewer.model.frames.requests.FrameRequests`); None for other pixel data.")

    @property
    def changed_on_disk(self) -> str | None:
        """Why the file can no longer be trusted (changed by another program), or None."""
        if self.closed or self.header.in_memory:
            return None
        return self.guard.changed_on_disk

    def native_layout(self) -> NativeLayout:
        """Where native frames lie in the file (native pixel data only)."""
        return native_layout(self.header)

    # ------------------------------------------------------- display metadata
    def _lazy_groups(self):
        return self.header.per_frame.item if self.header.per_frame is not None else None

    @property
    def frame_time_ms(self) -> float | None:
        """Milliseconds per frame from the file, or None."""
        return metadata.frame_time_ms(self.dataset)

    def display_dataset(self, index: int = 0) -> Dataset:
        """Frame `index`'s grey transforms as one Dataset pydicom's LUT functions read
        (:func:`viewer.model.display.voi.frame_display_dataset`)."""
        return voi.frame_display_dataset(self.dataset, self.geometry, index, self._lazy_groups())

    @property
    def window_presets(self) -> list[metadata.WindowPreset]:
        """The file's VOIs for the first frame: VOI LUTs, then windows."""
        return voi.file_presets(self.display_dataset(0))

    @property
    def rescale_unit(self) -> str:
        try:
            with converted_errors(self.path, "cannot read Modality"):
                modality = str(self.dataset.get("Modality", "") or "")
        except DicomError:
            modality = ""  # a malformed Modality only loses the unit
        return voi.rescale_unit(self.display_dataset(0), modality)

    def rescale(self, index: int = 0) -> tuple[float, float]:
        """(slope, intercept) for frame `index` (per-frame functional groups aware)."""
        return voi.rescale_of(self.display_dataset(index))

    def per_frame_groups(self, index: int) -> Dataset | None:
        """Frame `index`'s Per-frame Functional Groups item (parsed on demand), or None."""
        if self.header.per_frame is not None:
            return self.header.per_frame.item(index)
        with converted_errors(self.path, "cannot read the Per-frame Functional Groups Sequence"):
            groups = self.dataset.get("PerFrameFunctionalGroupsSequence")
            return groups[index] if groups and 0 <= index < len(groups) else None

    # ------------------------------------------------------------------ frames
    @property
    def frames(self) -> np.ndarray | FrameStack | None:
        """Every frame as stored in the file, ``(frames, rows, cols[, samples])``, without pending edits.

        A zero-copy ``ndarray`` view of the mapping under a read lease (native
        data); otherwise a lazy :class:`~viewer.model.frames.stack.FrameStack`
        that reads or decodes each frame on access. None without pixel data.
        """
        source = self.source
        if source is None or self.closed:
            return None
        return source.frames if isinstance(source, MappedNative) else FrameStack(source, self._check_file)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as pydicom's ``pixel_array(path, index=index)`` returns it.

        Under a read lease, native little-endian data needing no conversion is
        a read-only view of the mapping; otherwise a new array. Pending edits
        are painted over a copy.

        Raises
        ------
        IndexError
            If `index` is outside ``range(num_frames)``.
        DicomError
            If the frame cannot be decoded, or the file changed on disk.
        """
        index = self._check_index(index)
        source = self.source
        assert source is not None
        if (edits := self.edits) is not None and edits.is_edited(index):
            assert isinstance(source, NativeSource)  # only native data can be edited (DocumentMode.refusal)
            return source.layout.from_stored(edits.render(index, source.stored_frame(index)))
        return source.frame(index)

    def region(self, frame: int, rows: slice = slice(None), cols: slice = slice(None), step: int = 1) -> np.ndarray:
        """``frame(frame)[rows, cols][::step, ::step]`` as a new array, reading only what it needs where it can.

        Memory is proportional to the output for native data; compressed
        frames are decoded whole (and cached) first.
        """
        index = self._check_index(frame)
        source = self.source
        assert source is not None
        step = max(1, int(step))
        if (edits := self.edits) is not None and edits.is_edited(index):
            assert isinstance(source, NativeSource)  # only native data can be edited (DocumentMode.refusal)
            return source.layout.from_stored(  # edits painted on the region: O(output)
                edits.render_region(index, source.region(index, rows, cols, step), rows, cols, step))
        return source.region(index, rows, cols, step)

    @property
    def overviews(self) -> Overview:
        """The area-averaged pyramid levels (:mod:`viewer.model.frames.overview`), made on first use."""
        self._overview = self._overview or Overview.for_document(self)
        return self._overview

    def overview(self, frame: int, level: int, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Level `level` of frame `frame` (a region of it in level pixels): means of ``2**level`` blocks."""
        return self.overviews.region(self._check_index(frame), level, rows, cols)

    def prefetch(self, indices) -> None:
        """Read-ahead hint: these frames will be shown soon (compressed ones are decoded into the caches)."""
        if self.source is not None and not self.closed:
            self.source.prefetch(indices)

    def release(self, indices) -> None:
        """Hint: these frames will not be shown again soon (their pages may leave the process)."""
        if self.source is not None and not self.closed:
            self.source.release(indices)

    def advise_range(self, start: int, length: int, kind: str) -> None:
        """Read-ahead advice for a byte range of the file: ``"willneed"`` or ``"dontneed"``."""
        if not self.closed:
            self.file.advise(start, length, kind)

    def _check_index(self, index: int) -> int:
        """`index` (negative from the end) checked against the frames, after checking the file is unchanged."""
        if self.closed:
            raise ValueError("the document is closed")
        count = self.num_frames
        if count == 0:
            raise UnsupportedError(self.path, "the file has no pixel data")
        index = int(index)
        if index < 0:
            index += count
        if not 0 <= index < count:
            if 0 <= index < self._declared_frames:
                # Counted from Number of Frames at open; the file turned out to hold fewer.
                raise TruncatedFileError(
                    self.path, f"frame {index + 1} is not in the file: its Pixel Data holds only {count} frame(s)"
                )
            raise IndexError(f"frame {index} is outside 0..{count - 1}")
        self._check_file()
        return index

    def _check_file(self) -> None:
        """Raise FileChangedError if the file changed on disk (not for deflated files read whole)."""
        if not self.header.in_memory:
            self.guard.check()

    # ---------------------------------------- read/write mode and edits (facade)
    @property
    def edits(self) -> EditSession | None:
        """The :class:`~viewer.model.editing.edits.EditSession` in read/write mode, else None."""
        return self._mode.session

    @property
    def writable(self) -> bool:
        """True in read/write mode (edit lock held)."""
        return self._mode.session is not None

    def edit_refusal(self) -> str | None:
        """Why this document cannot be edited, or None if it can."""
        return self._mode.refusal()

    def set_writable(self, writable: bool, *, discard: bool = False) -> None:
        """Switch between read-only and read/write mode (see :mod:`viewer.model.document_mode`).

        Raises
        ------
        ReadOnlyError
            If the file cannot be edited (the reason is in the message), or
            switching off with unsaved edits and `discard` is False.
        LockedError
            If another process holds the edit lock.
        """
        if writable == self.writable:
            return
        if writable:
            self._mode.enter()
        else:
            if self.dirty and not discard:
                raise ReadOnlyError(self.path, "there are unsaved edits: save or discard them first")
            self._mode.leave()
        self.mode_changed.emit(self.writable)

    def _on_edits_changed(self, frames=None) -> None:
        self._cache.clear()
        self.frames_changed.emit(frames)
        self.history_changed.emit()

    def _require_edits(self) -> EditSession:
        edits = self.edits
        if edits is None:
            raise ReadOnlyError(self.path, "the document is read-only: switch to read/write mode to edit")
        return edits

    def apply_mask(self, mask: np.ndarray, value: Any, frames: Any = None, *, label: str = "Mask",
                   origin: tuple[int, int] | None = None) -> None:
        """Set the pixels under the boolean ``(rows, cols)`` `mask` to `value` on `frames` (None: all).

        Pending until :meth:`save`; `value` is per sample for colour images; `frames` is an int,
        range, slice, iterable of int or None; `origin`: `mask` is a box with its corner there.
        """
        self._require_edits().apply_mask(mask, value, frames, label=label, origin=origin)

    def begin_stroke(self, label: str = "Brush") -> None:
        """Start grouping edits into one undo step (a brush drag)."""
        self._require_edits().begin_stroke(label)

    def commit_stroke(self) -> None:
        self._require_edits().commit_stroke()

    def abort_stroke(self) -> None:
        self._require_edits().abort_stroke()

    def undo(self) -> None:
        self._require_edits().undo()

    def redo(self) -> None:
        self._require_edits().redo()

    can_undo = property(lambda self: self.edits is not None and self.edits.can_undo)
    can_redo = property(lambda self: self.edits is not None and self.edits.can_redo)
    undo_label = property(lambda self: self.edits.undo_label if self.edits is not None else "")
    redo_label = property(lambda self: self.edits.redo_label if self.edits is not None else "")
    dirty = property(lambda self: self.edits is not None and self.edits.dirty,
                     doc="True if there are edits not yet saved to the file.")

    def save(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Write pending edits into the file through the rollback journal.

        ``progress(done, total)`` is called after each batch. May run on a
        worker thread (see :meth:`~viewer.model.document_mode.EditMode.save`).
        """
        self._mode.save(self._require_edits(), progress)

    def revert(self) -> None:
        """Drop every pending edit."""
        if self.edits is not None:
            self.edits.revert()

    # ------------------------------------------------------------ de-identify
    @property
    def ultrasound_regions(self) -> list[deid.Region]:
        """Image regions from the Sequence of Ultrasound Regions (empty if none)."""
        geometry = self.geometry
        return deid.ultrasound_regions(self.dataset, geometry.rows, geometry.columns) if geometry else []

    def outside_regions_mask(self) -> np.ndarray | None:
        """Boolean (rows, cols) mask of everything outside the ultrasound regions, or None."""
        regions, geometry = self.ultrasound_regions, self.geometry
        if not regions or geometry is None:
            return None
        return ~deid.inside_regions(regions, geometry.rows, geometry.columns)

    @property
    def black_value(self) -> int:
        """The stored value shown darkest (see :func:`viewer.model.editing.deid.black_value`)."""
        return deid.black_value(self.geometry, self.rescale(0)[0] if self.num_frames else 1.0)

    def mask_outside_ultrasound_regions(self, value: Any = None, frames: Any = None) -> None:
        """Set every pixel outside the ultrasound regions to `value` (default :attr:`black_value`), pending.

        Raises
        ------
        UnsupportedError
            If the file has no Sequence of Ultrasound Regions.
        """
        mask = self.outside_regions_mask()
        if mask is None:
            raise UnsupportedError(self.path, "the file has no Sequence of Ultrasound Regions to keep")
        self.apply_mask(mask, self.black_value if value is None else value, frames,
                        label="Mask outside ultrasound regions")

    @property
    def burned_in_annotation(self) -> str:
        """The Burned In Annotation value ("YES", "NO" or "" if absent)."""
        return str(self.dataset.get("BurnedInAnnotation", "") or "").strip().upper()

    def record_no_burned_in_annotation(self) -> bool:
        """Queue a same-length in-place write of Burned In Annotation "NO" for the next save.

        Returns False if there is nothing to change (absent, already NO).
        """
        return self._mode.record_no_burned_in_annotation(self._require_edits())

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Release the lock, the lease, the caches and the file handles (idempotent)."""
        self._mode.leave(remap=False)
        if self._overview is not None:
            self._overview.close()
        if self.source is not None:
            self.source.close()
        self._cache.clear()
        for element in self.mapped_elements:
            if element.value is not None:
                element.value.close()
        self.guard.close()

    def __enter__(self) -> "Document":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.num_frames} frame(s) {self.frame_shape}"
        return f"<Document {os.path.basename(self.path)!r} {state}>"


__all__ = ["DEFAULT_CACHE_BYTES", "DEFAULT_MEMMAP_THRESHOLD", "Document"]
