"""Read/write mode of one file: a writable descriptor, the edit lock and the edit session.

Switching a document to read/write opens a second descriptor ``O_RDWR``
(checked to be the same file), takes the edit lock on it
(:mod:`viewer.model.storage.filelock`) and starts an
:class:`~viewer.model.editing.edits.EditSession`. A read lease cannot
coexist with a writable descriptor on the same file, so the document gives
its lease (and with it its mapping) up first and reads with positional reads
while editing; see :meth:`viewer.model.Document.set_writable`.
"""

from __future__ import annotations

import os

from viewer.model.dicom.native_layout import StackShape
from viewer.model.editing.edits import EditSession
from viewer.model.errors import FileChangedError, ReadOnlyError
from viewer.model.storage.filelock import EditLock, acquire_edit_lock


class WriteAccess:
    """What read/write mode holds; :meth:`close` gives it all back.

    Parameters
    ----------
    path : str
        The file.
    identity : (int, int)
        (device, inode) seen when the document opened it: the file now at
        `path` must be the same one.
    stack : StackShape
        The native pixel data's shape, dtype and strides.
    pixel_offset : int
        File offset of the first pixel.

    Raises
    ------
    ReadOnlyError, LockedError, FileChangedError
        If the file cannot be opened for writing, another process edits it,
        or another file is now at its path.
    """

    def __init__(self, path: str, identity: tuple[int, int], stack: StackShape, pixel_offset: int) -> None:
        self.path = path
        self._lock: EditLock | None = None
        try:
            self.fd: int | None = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise ReadOnlyError(path, f"cannot edit: {exc.strerror}") from exc
        try:
            status = os.fstat(self.fd)
            if (status.st_dev, status.st_ino) != identity:
                raise FileChangedError(path, "the file was replaced on disk since it was opened")
            self._lock = acquire_edit_lock(self.fd, path)
            self.session = EditSession(path, self.fd, stack, pixel_offset=pixel_offset)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the edit lock and close the writable descriptor (idempotent)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)
