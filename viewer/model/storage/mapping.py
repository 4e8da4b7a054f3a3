"""A leased, read-only mapping of a whole file whose memory lives as long as any view of it.

Views of a frame outlive the document they came from: a widget still paints
the last frame after Reload closed the old document, a script keeps
``f = doc.frame(3)`` after its ``with`` block. Unmapping under them would be
SIGSEGV; leaving the mapping unprotected would be SIGBUS once another program
truncates the file. So the mapping, the read lease that protects it and the
descriptor the lease lives on are owned together by a :class:`MappingLife`,
which numpy's views keep alive (their base is a ctypes array carrying it):

* while any view exists, the lease stays held; if it breaks, the SIGIO
  handler calls :meth:`MappingLife.neutralise`, which replaces the pages by
  zeros (views read zeros, never fault);
* when the last view goes, the life ends in this order: mark dead (the SIGIO
  handler no longer touches the address), release the lease, close the
  descriptor, unmap. A Python ``mmap`` alone would unmap first and run
  weak-reference callbacks after, leaving a moment in which the handler
  could map zeros over freed address space.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from typing import Any

import numpy as np

from viewer.model.storage import lease as leases


class MappingLife:
    """Owns a file mapping's memory, and (once its document closed) the lease and the descriptor."""

    def __init__(self, raw: mmap.mmap, address: int, size: int) -> None:
        self._raw: mmap.mmap | None = raw
        self.address = address
        self.size = size
        self.alive = True
        self.neutralised = False
        self._lock = threading.RLock()  # re-entrant: the SIGIO handler may interrupt its own thread
        self._lease: Any = None
        self._fd: int | None = None

    def neutralise(self) -> None:
        """Replace the pages by anonymous zeros at the same address (idempotent; no-op once dead)."""
        with self._lock:
            if self.alive and not self.neutralised and self.size:
                leases.neutralise_mapping(self.address, self.size)
                self.neutralised = True

    def adopt(self, lease: Any, fd: int | None) -> None:
        """Keep `lease` and descriptor `fd` until the last view is gone (the document closed first).

        If the last view is gone already, they are given back at once.
        """
        with self._lock:
            if self.alive:
                if lease is not None:
                    lease.on_break = self.neutralise
                self._lease, self._fd = lease, fd
                return
        _give_back(lease, fd)

    @property
    def raw(self) -> mmap.mmap | None:
        return self._raw

    def end(self) -> None:
        """Dead, lease released, descriptor closed, memory unmapped -- in that order."""
        with self._lock:
            if not self.alive:
                return
            self.alive = False
            lease, self._lease = self._lease, None
            fd, self._fd = self._fd, None
        _give_back(lease, fd)
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except BufferError:
                pass  # an export is still alive somewhere: the memory goes with it

    def __del__(self) -> None:
        self.end()


def _give_back(lease: Any, fd: int | None) -> None:
    if lease is not None:
        lease.release()
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


class _Keeper:
    """Attached to the ctypes array under every view: ends the life when the last view goes."""

    __slots__ = ("life",)

    def __init__(self, life: MappingLife) -> None:
        self.life = life

    def __del__(self) -> None:
        self.life.end()


def map_whole_file(fd: int, size: int) -> tuple[np.ndarray, MappingLife]:
    """Map `fd` read-only; returns the ``uint8`` array of the whole file and its life.

    The array is read-only (the pages are ``PROT_READ``). Keep the life
    object to neutralise or adopt the lease; do not keep the array beyond the
    document's use of it.
    """
    raw = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    probe = np.frombuffer(raw, dtype=np.uint8)
    address = int(probe.__array_interface__["data"][0])
    del probe  # releases its export of the mmap, so that end() can close it
    life = MappingLife(raw, address, size)
    memory = (ctypes.c_uint8 * size).from_address(address)
    memory.keeper = _Keeper(life)  # type: ignore[attr-defined]  # ctypes arrays take attributes; the stubs do not say
    array = np.frombuffer(memoryview(memory), dtype=np.uint8)
    array.flags.writeable = False
    return array, life
