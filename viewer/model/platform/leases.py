"""Linux's kernel read leases and SIGIO, and the libc ``mmap`` that replaces a mapping by zero pages.

The policy (which descriptors get a lease, what a break does) lives in
:mod:`viewer.model.storage.lease`; this module only makes the calls, and
refuses them where :data:`viewer.model.platform.CAPABILITIES` says the
platform lacks them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import signal
import sys
from typing import Any

from viewer.model.platform import CAPABILITIES, MACOS

__all__ = ["LEASE_NONE", "LEASE_READ", "SIGIO", "get_lease", "remap_anonymous", "set_lease"]

# Linux's values (<fcntl.h>); Python's fcntl module lacks F_SETLEASE before 3.12.
_F_SETLEASE = 1024
_F_GETLEASE = 1025
LEASE_READ, LEASE_NONE = 0, 2  # F_RDLCK, F_UNLCK
_MAP_FIXED = getattr(mmap, "MAP_FIXED", 0x10)  # 0x10 on Linux and macOS
_MAP_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", 0x1000 if MACOS else 0x20)

SIGIO: int | None = getattr(signal, "SIGIO", None) if CAPABILITIES.leases else None
"""The signal a lease break sends (None where there are no leases)."""

_libc: Any = None


def _fcntl(fd: int, command: int, argument: int = 0) -> int:
    if sys.platform == "win32" or not CAPABILITIES.leases:
        raise OSError(errno.ENOSYS, "read leases need Linux")
    import fcntl

    return fcntl.fcntl(fd, command, argument)


def set_lease(fd: int, kind: int) -> None:
    """``fcntl(F_SETLEASE)``: :data:`LEASE_READ` or :data:`LEASE_NONE` (OSError ``ENOSYS`` without leases)."""
    _fcntl(fd, _F_SETLEASE, kind)


def get_lease(fd: int) -> int:
    """``fcntl(F_GETLEASE)``: the lease held now, or the type a pending break lowers it to."""
    return _fcntl(fd, _F_GETLEASE)


def _load_libc() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int64]
    return _libc


def remap_anonymous(address: int, length: int) -> bool:
    """Map anonymous zero pages over ``[address, address + length)`` (``MAP_FIXED``); False if refused.

    Safe in a signal handler: one ctypes call, no allocation by Python.
    """
    if not address or length <= 0 or not CAPABILITIES.remap_anonymous:
        return False
    start = address - address % mmap.PAGESIZE
    size = length + (address - start)
    result = _load_libc().mmap(ctypes.c_void_p(start), size, getattr(mmap, "PROT_READ", 1),
                               getattr(mmap, "MAP_PRIVATE", 2) | _MAP_ANONYMOUS | _MAP_FIXED, -1, 0)
    return bool(result == start)
