"""Read leases: be told before another process changes a mapped file.

Touching a mapped page after another process truncated the file kills the
process with SIGBUS, and a Python SIGBUS handler cannot recover. On Linux a
read lease (``fcntl(fd, F_SETLEASE, F_RDLCK)``) makes another process's
``open()`` for writing or truncation wait while the kernel sends the lease
holder SIGIO. Cinemap's SIGIO handler then *neutralises* every mapping of the
file -- it maps anonymous zero pages over the same addresses with
``MAP_FIXED``, so views handed out stay valid and read zeros instead of
faulting -- marks the document as changed, and releases the lease so the
writer proceeds.

Leases are taken only when the handler is installed (the default action of
SIGIO is to terminate the process), only on read-only descriptors, and only
where the kernel allows it (owner of the file, or CAP_LEASE); otherwise
Cinemap relies on its other defences (``fstat`` before each frame, file
watching in the GUI).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import mmap
import signal
import threading
import weakref
from typing import Callable

F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
F_GETLEASE = getattr(fcntl, "F_GETLEASE", 1025)
_MAP_FIXED = getattr(mmap, "MAP_FIXED", 0x10)
_MAP_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", 0x20)

_installed = False
_previous_handler = None
_leases: "weakref.WeakSet[ReadLease]" = weakref.WeakSet()
_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_long]
    return _libc


def neutralise_mapping(address: int, length: int) -> bool:
    """Replace a file mapping by anonymous zero pages at the same address.

    Views into the mapping stay valid (they read zeros) and can no longer
    raise SIGBUS. Returns False if the kernel refused.
    """
    if not address or length <= 0:
        return False
    start = address - address % mmap.PAGESIZE
    size = length + (address - start)
    libc = _load_libc()
    result = libc.mmap(ctypes.c_void_p(start), size, mmap.PROT_READ, mmap.MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_FIXED,
                       -1, 0)
    return result == start


def install_handler() -> bool:
    """Install the SIGIO handler (main thread only); True if leases can be used."""
    global _installed, _previous_handler
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGIO"):
        return False
    _previous_handler = signal.signal(signal.SIGIO, _on_sigio)
    _installed = True
    return True


def handler_installed() -> bool:
    return _installed


def install_default_handler() -> bool:
    """Install the handler if SIGIO still has its default action (nobody else uses it)."""
    if _installed:
        return True
    if not hasattr(signal, "SIGIO") or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGIO) not in (signal.SIG_DFL, None):
        return False
    return install_handler()


def _on_sigio(signum, frame) -> None:
    for lease in list(_leases):
        lease.check_broken()
    if callable(_previous_handler):
        _previous_handler(signum, frame)


def refusal(fd: int) -> int | None:
    """Why the kernel refuses a read lease on `fd` now: an errno, or None if it would grant one.

    ``EAGAIN`` means another process has the file open for writing (it may
    close it any moment); anything else means leases are not allowed here
    (not the file's owner, a file system without leases).
    """
    try:
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return exc.errno
    fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
    return None


class ReadLease:
    """A read lease on a read-only descriptor, with a callback when it breaks.

    Parameters
    ----------
    fd : int
        Read-only descriptor of the file.
    on_break : callable
        Called (in the signal handler, so keep it short: set flags) before
        the lease is released.
    """

    def __init__(self, fd: int, on_break: Callable[[], None]) -> None:
        self.fd = fd
        self.on_break = on_break
        self.held = False
        self.broken = False

    @classmethod
    def try_acquire(cls, fd: int, on_break: Callable[[], None]) -> "ReadLease | None":
        """Take a lease if the handler is installed and the kernel allows it; else None."""
        if not _installed:
            return None
        lease = cls(fd, on_break)
        try:
            fcntl.fcntl(fd, F_SETLEASE, fcntl.F_RDLCK)
        except OSError:
            return None
        lease.held = True
        _leases.add(lease)
        return lease

    def check_broken(self) -> None:
        """Called on SIGIO: if this lease is being broken, react and release it."""
        if not self.held:
            return
        try:
            current = fcntl.fcntl(self.fd, F_GETLEASE)
        except OSError:
            current = fcntl.F_UNLCK
        # While a break is pending the kernel reports the type being broken to
        # (F_UNLCK for a writer); we cannot tell which file a SIGIO was for otherwise.
        if current == fcntl.F_RDLCK:
            return
        self.broken = True
        try:
            self.on_break()
        finally:
            self.release()

    def release(self) -> None:
        """Give the lease back (idempotent)."""
        if self.held:
            self.held = False
            try:
                fcntl.fcntl(self.fd, F_SETLEASE, fcntl.F_UNLCK)
            except OSError:
                pass
        _leases.discard(self)
