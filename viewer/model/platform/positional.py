"""Positional reads and writes that never depend on a shared file position.

Reading pixels with positional reads instead of through a mapping is what
makes a file truncated under Cinemap an error instead of SIGBUS (the trust
issue: no mapping without a lease). Several threads read one descriptor at
once (the view, read-ahead, the auto-window), so a read must not use the
descriptor's file position:

* POSIX: ``os.preadv`` into the caller's buffer (no copy), or ``os.pread``;
* Windows: ``ReadFile``/``WriteFile`` with the offset in an ``OVERLAPPED``
  structure (ctypes). On a handle opened without ``FILE_FLAG_OVERLAPPED``
  the I/O manager serialises the calls on the handle and each one starts at
  its own offset; the call moves the file position afterwards, but no read or
  write here ever uses it;
* elsewhere (portable mode): ``lseek`` + ``read`` under a per-descriptor
  lock, so that no two threads of Cinemap move the position at once. Cinemap
  owns its descriptors (never shared with other code), so the lock covers
  every use of their position.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import Any

from viewer.model.platform import CAPABILITIES

__all__ = ["forget", "pread_exact", "pread_into", "pread_some", "pwrite_all", "pwrite_some"]

_position_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()
# ReadFile/WriteFile take a 32-bit count: larger requests are split.
_WINDOWS_CHUNK = 1 << 30


def _position_lock(fd: int) -> threading.Lock:
    with _locks_guard:
        lock = _position_locks.get(fd)
        if lock is None:
            lock = _position_locks[fd] = threading.Lock()
        return lock


def forget(fd: int) -> None:
    """Drop the position lock of a descriptor about to be closed (fallback path only)."""
    with _locks_guard:
        _position_locks.pop(fd, None)


def pread_some(fd: int, view: memoryview, offset: int) -> int:
    """Read up to ``len(view)`` bytes at `offset` into `view`; 0 at the end of the file."""
    if sys.platform == "win32":  # a test mypy understands: each branch is checked for its own platform
        if CAPABILITIES.windows_io:
            from viewer.model.platform import _windows

            return _windows.read_at(fd, view[:_WINDOWS_CHUNK], offset)
    else:
        if CAPABILITIES.preadv:
            return os.preadv(fd, [view], offset)
        if CAPABILITIES.positional_io:
            data = os.pread(fd, len(view), offset)
            view[: len(data)] = data
            return len(data)
    with _position_lock(fd):
        os.lseek(fd, offset, os.SEEK_SET)
        data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


def pread_into(fd: int, buffer: Any, offset: int) -> int:
    """Fill `buffer` (any writable buffer) from `offset`; returns the bytes read (fewer only at the end of the file)."""
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        count = pread_some(fd, view[done:], offset + done)
        if count <= 0:
            break
        done += count
    return done


def pread_exact(fd: int, length: int, offset: int) -> bytearray:
    """Exactly `length` bytes at `offset` (EOFError if the file is shorter)."""
    buffer = bytearray(length)
    if pread_into(fd, buffer, offset) != length:
        raise EOFError(f"the file ends before offset {offset + length}")
    return buffer


def pwrite_some(fd: int, view: memoryview, offset: int) -> int:
    """Write up to ``len(view)`` bytes at `offset`; returns how many were written."""
    if sys.platform == "win32":
        if CAPABILITIES.windows_io:
            from viewer.model.platform import _windows

            return _windows.write_at(fd, view[:_WINDOWS_CHUNK], offset)
    elif CAPABILITIES.positional_io:
        return os.pwrite(fd, view, offset)
    with _position_lock(fd):
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, view)


def pwrite_all(fd: int, data: Any, offset: int) -> None:
    """Write all of `data` (any buffer) at `offset`, continuing after short writes."""
    view = memoryview(data).cast("B")
    while view:
        written = pwrite_some(fd, view, offset)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]
        offset += written
