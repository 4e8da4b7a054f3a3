"""Making writes durable: through the drive's cache, and the folder entries too.

``fsync`` on Linux waits until the drive acknowledges the data (with a cache
flush on drives that need one). macOS's ``fsync`` only hands the data to the
drive, which may keep it in its volatile cache; Apple documents
``fcntl(F_FULLFSYNC)`` for a real flush, and SQLite uses it for the same
reason. Windows' ``os.fsync`` is ``FlushFileBuffers``, which flushes the file's
data and metadata.

Creating or deleting a file changes its folder: on POSIX the folder itself is
opened and fsynced. Windows cannot open a folder as a file (nor flush one);
NTFS records the change in its metadata log, which :func:`flush_file` of a
file in it commits, so :func:`flush_directory` does nothing there (see the
journal's notes in :mod:`viewer.model.editing.journal`).
"""

from __future__ import annotations

import errno
import os
import sys

from viewer.model.platform import CAPABILITIES, PORTABLE, WINDOWS

__all__ = ["REMOVES_OPEN_FILES", "flush_directory", "flush_file", "reserve_space"]

REMOVES_OPEN_FILES = not (WINDOWS or PORTABLE)
"""True where a file can be deleted while open (POSIX). Windows refuses
(Python opens files without ``FILE_SHARE_DELETE``), so the journal is closed
before it is deleted; portable mode does the same, so that order is tested."""

# F_FULLFSYNC is refused on file systems that cannot do it (network shares, FAT):
# fsync is then the best there is. Any other error is a failed flush, never retried.
_NO_FULL_FSYNC = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY})


def flush_file(fd: int) -> None:
    """Flush `fd`'s data and metadata to stable storage (``F_FULLFSYNC`` on macOS, else ``fsync``).

    Raises
    ------
    OSError
        If the flush failed. Do not retry it: after a failed flush the system
        may have dropped the dirty pages, so the state on disk is unknown.
    """
    if sys.platform == "darwin" and CAPABILITIES.full_fsync:
        import fcntl

        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError as exc:
            if exc.errno not in _NO_FULL_FSYNC:
                raise
    os.fsync(fd)


def flush_directory(path_inside: str, *, ignore_errors: bool = False) -> None:
    """Make a creation or deletion in the folder of `path_inside` durable (no-op on Windows)."""
    if not CAPABILITIES.directory_fsync:
        return
    try:
        directory_fd = os.open(os.path.dirname(path_inside) or ".",
                               os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            flush_file(directory_fd)
        finally:
            os.close(directory_fd)
    except OSError as exc:
        # Some file systems cannot fsync a directory (EINVAL); that is not a failed write.
        if not ignore_errors and exc.errno != errno.EINVAL:
            raise


def reserve_space(fd: int, length: int) -> bool:
    """Allocate `length` bytes for `fd`'s file now (``posix_fallocate``); False where it cannot be done here.

    Only an early answer to "is there room?": callers must still handle a
    later write failing with ``ENOSPC`` (a plain ``ftruncate`` makes a
    sparse file everywhere else).

    Raises
    ------
    OSError
        If the space is not there (``ENOSPC``) or the file system refused.
    """
    allocate = getattr(os, "posix_fallocate", None)  # Linux, FreeBSD; not macOS or Windows
    if allocate is None or PORTABLE:
        return False
    try:
        allocate(fd, 0, length)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            return False  # this file system cannot preallocate (some FUSE, NFSv3)
        raise
    return True
