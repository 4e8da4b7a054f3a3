"""What the operating system offers, behind capabilities with fallbacks.

Cinemap runs on Linux, Windows and macOS. Every call that exists on only
some of them lives in this package, behind a capability flag of
:data:`CAPABILITIES` and a fallback that keeps the same guarantees (see the
README's platform table). Nothing else in :mod:`viewer.model` may call
``fcntl``, ``os.pread``/``os.preadv``/``os.pwrite``, ``madvise``,
``/proc``, ``/sys``, SIGIO, ``posix_fallocate``, ``fstatvfs`` or
``os.getuid`` directly.

One module per capability:

============================  ==============================================
:mod:`.positional`            reads and writes at an offset (pread, ReadFile)
:mod:`.locking`               whole-file locks (flock, LockFileEx, lock files)
:mod:`.durable`               flushing to the disk (F_FULLFSYNC, fsync)
:mod:`.advice`                read-ahead advice (madvise)
:mod:`.filesystems`           network, FUSE and removable volumes
:mod:`.process`               process liveness, user name, descriptor modes
:mod:`.memory`                the process's memory use
============================  ==============================================

Portable mode
-------------
``CINEMAP_PORTABLE=1`` in the environment switches every Linux-only
capability off (as if on a platform without them), so that the fallbacks
are exercised on this Linux machine: the test suite runs once more in this
mode in CI, with ``fcntl`` made unimportable (``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass

PORTABLE = os.environ.get("CINEMAP_PORTABLE", "") not in ("", "0")
"""True when every Linux-only capability is switched off (``CINEMAP_PORTABLE=1``)."""

OPEN_FLAGS: int = getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
"""Flags for every ``os.open`` of a data file: binary on Windows (the C runtime
would otherwise translate line ends in ``os.read``/``os.write``), not
inherited by child processes on POSIX."""

WINDOWS = sys.platform == "win32"
MACOS = sys.platform == "darwin"
LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class Capabilities:
    """What this process may use. Each flag has a fallback where it is False."""

    positional_io: bool
    """``os.pread``/``os.pwrite`` (POSIX)."""
    preadv: bool
    """``os.preadv`` into a caller's buffer (Linux, BSD; not macOS before 11)."""
    windows_io: bool
    """``ReadFile``/``WriteFile`` with an offset (Windows, through ctypes)."""
    madvise: bool
    """``mmap.madvise`` read-ahead advice."""
    flock: bool
    """``fcntl.flock`` whole-file locks (POSIX)."""
    windows_locks: bool
    """``LockFileEx`` byte-range locks (Windows)."""
    leases: bool
    """Kernel read leases and SIGIO (Linux)."""
    procfs: bool
    """``/proc`` and ``/sys`` (Linux): mounts, locks, memory, block devices."""
    full_fsync: bool
    """``fcntl(F_FULLFSYNC)``: flush through the drive's own cache (macOS)."""
    directory_fsync: bool
    """A folder can be opened and fsynced, making a file's creation durable (POSIX)."""
    remap_anonymous: bool
    """``mmap(MAP_FIXED)`` through libc, to replace a mapping by zero pages (POSIX)."""
    mapping_blocks_truncation: bool
    """Another process cannot truncate a file while it is mapped (Windows:
    ``SetEndOfFile`` fails with ``ERROR_USER_MAPPED_FILE``), so a truncation
    cannot turn into a fault on a mapped page there."""
    fadvise: bool = False
    """``os.posix_fadvise`` page-cache advice on a descriptor (POSIX, not macOS or Windows)."""


def _has_module(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None  # None: made unimportable (portable test runs)
    return importlib.util.find_spec(name) is not None


def _capabilities() -> Capabilities:
    import mmap

    fcntl_ok = _has_module("fcntl")
    if PORTABLE:
        return Capabilities(
            positional_io=False, preadv=False, windows_io=False, madvise=False, flock=False,
            windows_locks=False, leases=False, procfs=False, full_fsync=False,
            # Not Linux-only (macOS has them too), so kept: portable mode behaves as a POSIX system without Linux's extras.
            directory_fsync=not WINDOWS, remap_anonymous=not WINDOWS, mapping_blocks_truncation=WINDOWS,
        )
    return Capabilities(
        positional_io=hasattr(os, "pread") and hasattr(os, "pwrite"),
        preadv=hasattr(os, "preadv"),
        windows_io=WINDOWS,
        madvise=hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_WILLNEED"),
        flock=fcntl_ok and not WINDOWS,
        windows_locks=WINDOWS,
        leases=LINUX and fcntl_ok,
        procfs=LINUX and os.path.isdir("/proc/self"),
        full_fsync=MACOS and fcntl_ok,
        directory_fsync=not WINDOWS,
        remap_anonymous=not WINDOWS,
        mapping_blocks_truncation=WINDOWS,
        fadvise=hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_RANDOM"),
    )


CAPABILITIES = _capabilities()
"""What this process may use (see :class:`Capabilities`)."""
