"""The file guard: a lease before any mapping, and checks that the file is still the one opened.

Another program may truncate, rewrite or replace a file while Cinemap shows
it. Touching a mapped page past the new end of the file is SIGBUS, so:

* the file is mapped only under a kernel read lease (:mod:`viewer.model.storage.lease`,
  Linux): another program's ``open()`` for writing then waits while the
  SIGIO handler replaces the mapping by zero pages (:meth:`OpenedFile.unmap`)
  and marks the document changed; only then does the writer proceed;
* without a lease (no SIGIO handler in this process, the kernel refuses
  one, another OS, read/write mode) nothing is read through a mapping: frames
  are read with positional reads, and a truncated file gives a short read,
  i.e. a clean :class:`~viewer.model.errors.FileChangedError` or
  :class:`~viewer.model.errors.TruncatedFileError`;
* :meth:`FileGuard.check` compares size, modification time and link count
  (one ``fstat``) before each frame, so a change is reported at the next read
  even where no lease tells of it, and caches never serve the old file's
  pixels after a change this can see.
"""

from __future__ import annotations

import errno
import os
import time

from viewer.model.errors import FileChangedError
from viewer.model.platform import CAPABILITIES
from viewer.model.storage import lease
from viewer.model.storage.opened import OpenedFile

_LEASE_ATTEMPTS = 20
_LEASE_RETRY_SECONDS = 0.005


class FileGuard:
    """Lease, change checks and mapping safety for one :class:`OpenedFile`.

    Attributes
    ----------
    changed_reason : str or None
        Why the file can no longer be trusted (set by a lease break or a failed check).
    required_size : int
        The file must be at least this long (end of the data the document uses).
    """

    def __init__(self, opened: OpenedFile) -> None:
        self.opened = opened
        self.changed_reason: str | None = None
        self.required_size = 0
        self._lease: lease.ReadLease | None = None
        self._own_writes = 0  # > 0 while our own save writes the file

    # ---------------------------------------------------------------- leases
    @property
    def has_lease(self) -> bool:
        """True while a kernel read lease warns us before another program writes the file."""
        return self._lease is not None and self._lease.held

    def take_lease(self) -> bool:
        """Take a read lease; True if one is held (then mapping is safe).

        The SIGIO handler is installed on first use from the main thread if
        nobody else handles SIGIO (:func:`lease.install_default_handler`);
        without it (a worker thread of a script) there is no lease. A lease
        the kernel refuses because another program has the file open for
        writing right now is retried briefly (the writer may be closing it).
        """
        if self.has_lease:
            return True
        fd = self.opened.fd
        if fd is None or not lease.install_default_handler():
            return False
        for _attempt in range(_LEASE_ATTEMPTS):
            self._lease = lease.ReadLease.try_acquire(fd, self._on_lease_break)
            if self._lease is not None:
                return self._lease.held  # False if a writer broke it the moment it was granted
            refusal = lease.refusal(fd)
            if refusal is None:
                continue  # the writer closed the file in between: take the lease now
            if refusal != errno.EAGAIN:
                return False  # leases are not allowed here (not the owner, file system)
            time.sleep(_LEASE_RETRY_SECONDS)
        return False

    @property
    def mapping_protected(self) -> bool:
        """True if a mapping of the file cannot fault because another program truncates it.

        Under a read lease (Linux), the break handler neutralises the mapping
        first; on Windows, another program simply cannot truncate a file that is
        mapped (``SetEndOfFile`` fails with a sharing violation), so the mapping
        needs no lease there.
        """
        return self.has_lease or CAPABILITIES.mapping_blocks_truncation

    def protect_mapping(self) -> bool:
        """Take what makes mapping safe here (a lease on Linux); True if the file may be mapped."""
        return self.take_lease() or CAPABILITIES.mapping_blocks_truncation

    def map_protected(self) -> bool:
        """Map the file if a mapping can be protected here; True if it is now mapped.

        The lease may break between being granted and the mapping existing:
        its break handler then had nothing to neutralise, and the writer may
        already be truncating. So the mapping is kept only if the lease still
        holds once it exists (from then on a break neutralises it first).
        """
        if not self.protect_mapping():
            return False
        self.opened.map()
        if self.mapping_protected and self.changed_reason is None:
            return True
        self.opened.unmap(neutralise=True)  # untouched so far: no page was read through it
        return False

    def release_lease(self) -> None:
        """Give the lease up (read/write mode); the mapping goes first, neutralised."""
        self.opened.unmap(neutralise=True)
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def close(self) -> None:
        """Close the file; views of its mapping still alive keep the lease until they go."""
        lease, self._lease = self._lease, None
        self.opened.close(lease)

    def _on_lease_break(self) -> None:
        """SIGIO: another process opens the file for writing. Runs in a signal handler: keep it short."""
        self.changed_reason = "another program is writing or truncating the file"
        self.opened.unmap(neutralise=True)

    # ---------------------------------------------------------------- checks
    def check(self) -> None:
        """Raise FileChangedError if the file changed, shrank, was deleted or replaced since it was opened."""
        opened = self.opened
        if opened.fd is None:
            return
        if self.changed_reason is not None:
            raise FileChangedError(opened.path, f"the file changed on disk: {self.changed_reason}; reload it")
        status = os.fstat(opened.fd)
        if status.st_mtime_ns != opened.mtime_ns and status.st_size >= self.required_size and not self._own_writes:
            self._mark_changed("it was modified by another program")
            raise FileChangedError(opened.path, "the file was modified on disk by another program; reload it")
        if status.st_nlink == 0:
            self._mark_changed("it was deleted")
            raise FileChangedError(opened.path, "the file was deleted while open")
        if status.st_size < self.required_size:
            self._mark_changed(f"it was truncated to {status.st_size} bytes")
            raise FileChangedError(
                opened.path,
                f"the file was truncated to {status.st_size} bytes by another program while open "
                f"(it needs {self.required_size})",
            )

    def _mark_changed(self, reason: str) -> None:
        self.changed_reason = reason
        # Other threads may still hold views: make them read zeros, not fault.
        self.opened.unmap(neutralise=True)

    @property
    def changed_on_disk(self) -> str | None:
        """Why the file can no longer be trusted, or None (checks it now)."""
        if self.changed_reason is None and self.opened.fd is not None:
            try:
                self.check()
            except FileChangedError:
                pass
        return self.changed_reason

    # ------------------------------------------------------------ own writes
    def begin_own_write(self) -> None:
        """Our own save starts writing: its new modification time is not another program's change."""
        self._own_writes += 1

    def end_own_write(self, *, note: bool = True) -> None:
        """Our own save is done (or failed and was rolled back): remember the file's new state.

        ``note=False`` when the save stopped because another program changed
        the file: that change must keep being reported.
        """
        self._own_writes = max(0, self._own_writes - 1)
        fd = self.opened.fd
        if fd is not None and note:
            status = os.fstat(fd)
            self.opened.mtime_ns = status.st_mtime_ns
