"""Defences against a file changed by another program while it is open.

Mixed into :class:`viewer.model.document.Document`. Touching a mapped page
after another process truncated the file is SIGBUS, so a document

* takes a kernel read lease before mapping (:mod:`viewer.model.storage.lease`): a
  writer's open then waits while the SIGIO handler replaces the mapping by
  zero pages and marks the document changed;
* reads with ``preadv`` instead of mapping when the lease is refused because
  another program has the file open for writing;
* checks size, mtime and link count with ``fstat`` before each frame.
"""

from __future__ import annotations

import errno
import os
import time

import numpy as np

from viewer.model.storage import fileaccess
from viewer.model.storage import lease
from viewer.model.errors import FileChangedError


class FileGuardMixin:
    """Lease, mapping and ``fstat`` checks of :class:`~viewer.model.document.Document`."""

    _saving = False  # True while our own save writes the file (EditingMixin.save)

    def _map_whole_file(self) -> None:
        """Map the file read-only, after checking it still has the size we saw."""
        if os.fstat(self._fd).st_size != self.file_size:
            raise FileChangedError(self.path, "the file changed size while being opened")
        try:
            self._mapping = fileaccess.map_file(self.path, self._fd, self.file_size)
        except (ValueError, OSError) as exc:
            raise FileChangedError(self.path, f"the file changed while being opened ({exc})") from exc

    def _take_lease(self) -> bool:
        """Take a read lease before mapping; False means: read instead of mapping.

        The SIGIO handler is installed on first use from the main thread if
        nobody else handles SIGIO (:func:`viewer.model.storage.lease.install_default_handler`).

        Without the SIGIO handler (library use) the file is mapped unleased and
        guarded by ``fstat`` checks alone. With it, a lease the kernel refuses
        because another program has the file open for writing right now is
        retried briefly; if it stays refused, mapping would risk SIGBUS, so the
        document reads with ``preadv`` instead.
        """
        if not lease.install_default_handler():
            return True
        assert self._fd is not None
        for attempt in range(20):
            self._lease = lease.ReadLease.try_acquire(self._fd, self._on_lease_break)
            if self._lease is not None:
                return True
            refusal = lease.refusal(self._fd)
            if refusal is None:
                continue  # the writer closed the file in between: take the lease now
            if refusal != errno.EAGAIN:
                return True  # leases are not allowed here at all: map, guarded by fstat
            time.sleep(0.005)
        self.file_access = fileaccess.READ
        self.file_access_reason = "read with preadv: another program had the file open for writing"
        return False

    @property
    def changed_on_disk(self) -> str | None:
        """Why the file can no longer be trusted (changed by another program), or None."""
        if self._changed_reason is None and self._fd is not None and not self._in_memory:
            try:
                self._check_file()
            except FileChangedError:
                pass
        return self._changed_reason

    @property
    def has_lease(self) -> bool:
        """True while a kernel read lease warns us before another program writes the file."""
        return self._lease is not None and self._lease.held

    def _on_lease_break(self) -> None:
        """SIGIO: another process opens the file for writing. Runs in a signal handler."""
        self._changed_reason = "another program is writing or truncating the file"
        mapping = self._mapping
        if mapping is not None:
            lease.neutralise_mapping(mapping.ctypes.data, int(mapping.shape[0]))

    def _check_file(self) -> None:
        """Refuse to touch the mapping if the file shrank, changed or was replaced."""
        if self._fd is None or self._in_memory:
            return
        if self._changed_reason is not None:
            raise FileChangedError(self.path, f"the file changed on disk: {self._changed_reason}; reload it")
        status = os.fstat(self._fd)
        if status.st_mtime_ns != self._mtime_ns and status.st_size >= self._required_size and not self._saving:
            self._changed_reason = "it was modified by another program"
            raise FileChangedError(self.path, "the file was modified on disk by another program; reload it")
        if status.st_nlink == 0:
            self._changed_reason = "it was deleted"
            raise FileChangedError(self.path, "the file was deleted while open")
        if status.st_size < self._required_size:
            self._changed_reason = f"it was truncated to {status.st_size} bytes"
            # Other threads may still hold views (read-ahead, auto-window): make
            # them read zeros instead of faulting past the new end of the file.
            if self._mapping is not None:
                lease.neutralise_mapping(self._mapping.ctypes.data, int(self._mapping.shape[0]))
            raise FileChangedError(
                self.path,
                f"the file was truncated to {status.st_size} bytes by another program while open "
                f"(it needs {self._required_size})",
            )
