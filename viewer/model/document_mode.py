"""Read/write mode of a document: switching it, and saving.

Files open read-only. :meth:`EditMode.enter` checks that the pixel data can
be edited in place, gives the read lease up (a lease cannot coexist with our
own writable descriptor; the mapping is neutralised first, so views handed
out read zeros instead of risking SIGBUS), and opens
:class:`~viewer.model.editing.write_access.WriteAccess` (writable
descriptor, edit lock, edit session). The document's frames then come from
positional reads. :meth:`EditMode.leave` gives all that back and takes the
lease (and the mapping) back where the file access wants it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from viewer.model.editing import deid
from viewer.model.editing.edits import EditSession
from viewer.model.editing.write_access import WriteAccess
from viewer.model.errors import FileChangedError, ReadOnlyError
from viewer.model.frames.choose import needs_pydicom
from viewer.model.storage.filelock import check_not_locked


class EditMode:
    """The read/write state of one document (its own state: the write access, the mapping policy)."""

    def __init__(self, document: Any) -> None:
        # The Document that owns this mode (typed Any: the document module imports this one).
        self._document = document
        self._write: WriteAccess | None = None
        #: The resolved file access maps the file (under a lease) when it can.
        self.map_wanted = False

    @property
    def session(self) -> EditSession | None:
        return self._write.session if self._write is not None else None

    def refusal(self) -> str | None:
        """Why the document cannot be edited, or None if it can."""
        document = self._document
        header, geometry = document.header, document.geometry
        if document.closed:
            return "the document is closed"
        if geometry is None or header.pixel is None or header.in_memory:
            return "the file has no pixel data that can be edited in place"
        source_refusal = getattr(document.source, "edit_refusal", None)
        if isinstance(source_refusal, str):  # a source that can never be edited says why (video)
            return source_refusal
        if header.is_encapsulated:
            return "the pixel data is compressed; only uncompressed files can be edited in place"
        if geometry.bits_allocated == 1:
            return "1-bit pixel data cannot be edited"
        if needs_pydicom(header):
            return f"{geometry.photometric_interpretation} pixel data cannot be edited in place"
        if geometry.pixel_keyword != "PixelData":
            return "float pixel data cannot be edited"
        if not os.access(document.path, os.W_OK):
            return "you do not have permission to write this file"
        return None

    def enter(self) -> None:
        """Switch to read/write (see the module docstring)."""
        document = self._document
        fd = document.file.fd
        if fd is not None and not document.is_encapsulated:
            # Another Cinemap editing the file is the likely reason for any other refusal: say who.
            check_not_locked(fd, document.path)
        reason = self.refusal()
        if reason:
            raise ReadOnlyError(document.path, f"cannot edit: {reason}")
        document.guard.check()
        layout = document.native_layout()
        document.guard.release_lease()
        try:
            self._write = WriteAccess(
                document.path, document.file.identity, layout.stack(document.num_frames), layout.pixel_offset
            )
        except BaseException:
            self._restore_mapping()
            raise
        self._write.session.changed.connect(document._on_edits_changed)
        document._swap_source()

    def leave(self, *, remap: bool = True) -> None:
        """Give read/write mode up (pending edits are dropped: the document asks first)."""
        write, self._write = self._write, None
        if write is None:
            return
        write.close()
        if remap:
            self._restore_mapping()

    def _restore_mapping(self) -> None:
        """Take the lease back and map again where the file access wants it; choose the source again."""
        document = self._document
        if self.map_wanted and document.guard.changed_reason is None:
            document._map_under_lease()
        document._swap_source()

    def save(self, edits: EditSession, progress: Callable[[int, int], None] | None) -> None:
        """Write pending edits through the rollback journal (see :meth:`EditSession.save`).

        May run on a worker thread. While it writes, frame fetches and the
        file watcher's checks on other threads must not take the file's new
        modification time for another program's change; nor afterwards, also
        when the save failed and was rolled back (which writes too).
        """
        document = self._document
        guard = document.guard
        guard.begin_own_write()
        try:
            edits.save(progress=progress)
        except FileChangedError:
            guard.end_own_write(note=False)  # another program's change: keep reporting it
            raise
        except BaseException:
            guard.end_own_write()
            raise
        guard.end_own_write()
        document._cache.clear()
        if document.source is not None:
            document.source.invalidate()
        document.history_changed.emit()

    def record_no_burned_in_annotation(self, edits: EditSession) -> bool:
        """Queue a same-length write of Burned In Annotation "NO"; False if there is nothing to change."""
        document = self._document
        implicit, little, _ = document.header.flags
        whole_file = document.file.window(0, document.file.size)
        patch = deid.burned_in_annotation_patch(document.dataset, whole_file, implicit, little)
        if patch is None:
            return False
        edits.set_header_patch(*patch, label="Record Burned In Annotation NO")
        return True
