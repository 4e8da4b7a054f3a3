"""Read/write mode, pixel edits and de-identification of a document.

Mixed into :class:`viewer.model.document.Document`. The mode lives here, in
the model: switching to read/write checks that the pixel data can be edited
in place, opens a writable descriptor and takes the edit lock
(:mod:`viewer.model.storage.filelock`); edits are pending in an
:class:`~viewer.model.editing.edits.EditSession` (never written through a mapping)
until :meth:`EditingMixin.save` writes them through the rollback journal.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

import numpy as np

from viewer.model.editing import deid
from viewer.model.storage import lease
from viewer.model.errors import FileChangedError, ReadOnlyError, UnsupportedError
from viewer.model.storage.filelock import check_not_locked


class EditingMixin:
    """Editing facade of :class:`~viewer.model.document.Document`."""

    @property
    def writable(self) -> bool:
        """True in read/write mode (edit lock held)."""
        return self._edits is not None

    def edit_refusal(self) -> str | None:
        """Why this document cannot be edited, or None if it can."""
        if self.closed:
            return "the document is closed"
        geometry = self.geometry
        if geometry is None or self.pixel_element is None or self._in_memory:
            return "the file has no pixel data that can be edited in place"
        if self.is_encapsulated:
            return "the pixel data is compressed; only uncompressed files can be edited in place"
        if self._mapping is None:
            return f"the file is not memory-mapped ({self.file_access_reason})"
        if geometry.bits_allocated == 1:
            return "1-bit pixel data cannot be edited"
        if self.frames is None or self._needs_pydicom():
            return f"{geometry.photometric_interpretation} pixel data cannot be edited in place"
        if geometry.pixel_keyword != "PixelData":
            return "float pixel data cannot be edited"
        if not os.access(self.path, os.W_OK):
            return "you do not have permission to write this file"
        return None

    def set_writable(self, writable: bool, *, discard: bool = False) -> None:
        """Switch between read-only and read/write mode.

        Switching on checks the file can be edited and takes the edit lock;
        switching off with unsaved edits raises unless ``discard=True``.

        Raises
        ------
        ReadOnlyError
            If the file cannot be edited (the reason is in the message).
        LockedError
            If another process holds the edit lock.
        """
        if writable == self.writable:
            return
        if writable:
            self._enter_write_mode()
        else:
            if self._edits is not None and self._edits.dirty and not discard:
                raise ReadOnlyError(self.path, "there are unsaved edits: save or discard them first")
            self._leave_write_mode()
        self.mode_changed.emit(self.writable)

    def _enter_write_mode(self) -> None:
        from viewer.model.editing.edits import EditSession
        from viewer.model.storage.filelock import acquire_edit_lock

        if self._fd is not None and not self.is_encapsulated:
            # Another Cinemap editing the file is the likely reason for any other
            # refusal (its writable descriptor refuses our read lease): say who.
            check_not_locked(self._fd, self.path)
        reason = self.edit_refusal()
        if reason:
            raise ReadOnlyError(self.path, f"cannot edit: {reason}")
        self._check_file()
        if self._lease is not None:
            self._lease.release()  # a read lease cannot coexist with our own writable descriptor
            self._lease = None
        try:
            self._write_fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise ReadOnlyError(self.path, f"cannot edit: {exc.strerror}") from exc
        try:
            status = os.fstat(self._write_fd)
            if (status.st_dev, status.st_ino) != self._identity:
                raise FileChangedError(self.path, "the file was replaced on disk since it was opened")
            self._lock = acquire_edit_lock(self._write_fd, self.path)
            assert self.frames is not None and self.pixel_element is not None
            self._edits = EditSession(
                self.path, self._write_fd, self.frames, pixel_offset=self.pixel_element.value_offset
            )
            self._edits.changed.connect(self._on_edits_changed)
        except BaseException:
            self._leave_write_mode()
            raise

    def _leave_write_mode(self) -> None:
        was_writing = self._write_fd is not None
        self._edits = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        if was_writing and self._mapping is not None and self._fd is not None and self._changed_reason is None:
            self._lease = lease.ReadLease.try_acquire(self._fd, self._on_lease_break)

    def _on_edits_changed(self, frames: Iterable[int] | None = None) -> None:
        self._cache.clear()
        self.frames_changed.emit(frames)
        self.history_changed.emit()

    def _require_edits(self):
        if self._edits is None:
            raise ReadOnlyError(self.path, "the document is read-only: switch to read/write mode to edit")
        return self._edits

    def apply_mask(self, mask: np.ndarray, value: Any, frames: Any = None, *, label: str = "Mask") -> None:
        """Set the pixels under `mask` to `value` on `frames` (pending until :meth:`save`).

        Parameters
        ----------
        mask : numpy.ndarray
            Boolean ``(rows, cols)``.
        value : scalar or sequence
            Fill value, per sample for colour images.
        frames : int, range, slice, iterable of int, or None
            Which frames; None means all.
        """
        self._require_edits().apply_mask(mask, value, frames, label=label)

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

    @property
    def can_undo(self) -> bool:
        return self._edits is not None and self._edits.can_undo

    @property
    def can_redo(self) -> bool:
        return self._edits is not None and self._edits.can_redo

    @property
    def undo_label(self) -> str:
        return self._edits.undo_label if self._edits is not None else ""

    @property
    def redo_label(self) -> str:
        return self._edits.redo_label if self._edits is not None else ""

    @property
    def dirty(self) -> bool:
        """True if there are edits not yet saved to the file."""
        return self._edits is not None and self._edits.dirty

    @property
    def edits(self):
        """The :class:`~viewer.model.editing.edits.EditSession` in read/write mode, else None."""
        return self._edits

    def save(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Write pending edits into the file through the rollback journal.

        ``progress(done, total)`` is called after each batch (see
        :meth:`viewer.model.editing.edits.EditSession.save`).

        May run on a worker thread. While it writes, frame fetches and the
        file watcher's checks on other threads must not take the file's new
        modification time for another program's change; nor afterwards, also
        when the save failed and was rolled back (which writes too).
        """
        edits = self._require_edits()
        self._saving = True
        try:
            edits.save(progress=progress)
        except FileChangedError:
            raise  # another program's change: keep reporting it
        except BaseException:
            self._note_own_write()
            raise
        else:
            self._note_own_write()
        finally:
            self._saving = False
        self._cache.clear()
        self.history_changed.emit()

    def _note_own_write(self) -> None:
        if self._fd is not None:
            self._mtime_ns = os.fstat(self._fd).st_mtime_ns  # our own write is not a foreign change

    def revert(self) -> None:
        """Drop every pending edit."""
        if self._edits is not None:
            self._edits.revert()

    # ------------------------------------------------------------ de-identify
    @property
    def ultrasound_regions(self) -> list[deid.Region]:
        """Image regions from the Sequence of Ultrasound Regions (empty if none)."""
        if self.geometry is None:
            return []
        return deid.ultrasound_regions(self.dataset, self.geometry.rows, self.geometry.columns)

    def outside_regions_mask(self) -> np.ndarray | None:
        """Boolean (rows, cols) mask of everything outside the ultrasound regions, or None."""
        regions = self.ultrasound_regions
        if not regions or self.geometry is None:
            return None
        return ~deid.inside_regions(regions, self.geometry.rows, self.geometry.columns)

    @property
    def black_value(self) -> int:
        """The stored value shown darkest: the smallest, or the largest for MONOCHROME1.

        A negative Rescale Slope (of the first frame) turns it around once more.
        What a mask should hold to hide burned-in text: 0 is white in a
        MONOCHROME1 image. For colour images, 0 in every channel.
        """
        if self.geometry is None or self.geometry.samples_per_pixel > 1:
            return 0
        low, high = self.geometry.stored_limits
        darkest_is_high = self.geometry.photometric_interpretation == "MONOCHROME1"
        if self.num_frames and self.rescale(0)[0] < 0:
            darkest_is_high = not darkest_is_high
        return high if darkest_is_high else low

    def mask_outside_ultrasound_regions(self, value: Any = None, frames: Any = None) -> None:
        """Set every pixel outside the ultrasound regions to `value` (pending until save).

        `value` defaults to :attr:`black_value`.

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
        edits = self._require_edits()
        if self._mapping is None:
            return False
        patch = deid.burned_in_annotation_patch(
            self.dataset, self._mapping, self.transfer_syntax.is_implicit_VR, self.transfer_syntax.is_little_endian
        )
        if patch is None:
            return False
        edits.set_header_patch(*patch, label="Record Burned In Annotation NO")
        return True
