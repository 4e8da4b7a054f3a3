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

Leases exist only on Linux (:data:`viewer.model.platform.CAPABILITIES`
``.leases``; off in portable mode). Elsewhere this module imports, takes no
lease and installs no handler: :func:`install_default_handler` returns False
and :meth:`ReadLease.try_acquire` None, and the document must then not map
without another guarantee (Windows: a mapped file cannot be truncated).
:func:`neutralise_mapping` works wherever libc's ``mmap`` can be called
(Linux, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Any, Callable

from viewer.model.platform import CAPABILITIES, MACOS

# Linux's values (<fcntl.h>); Python's fcntl module lacks F_SETLEASE before 3.12.
F_SETLEASE = 1024
F_GETLEASE = 1025
_F_RDLCK, _F_UNLCK = 0, 2
_MAP_FIXED = getattr(mmap, "MAP_FIXED", 0x10)  # 0x10 on Linux and macOS
_MAP_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", 0x1000 if MACOS else 0x20)
_SIGIO: int | None = getattr(signal, "SIGIO", None)

_installed = False
_previous_handler: Any = None
_leases: "weakref.WeakSet[ReadLease]" = weakref.WeakSet()
_libc: Any = None


def _load_libc() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int64]
    return _libc


def _fcntl(fd: int, command: int, argument: int = 0) -> int:
    if sys.platform == "win32":
        raise OSError(errno.ENOSYS, "no leases on Windows")
    import fcntl  # Linux only: callers check CAPABILITIES.leases first

    return fcntl.fcntl(fd, command, argument)


def neutralise_mapping(address: int, length: int) -> bool:
    """Replace a file mapping by anonymous zero pages at the same address.

    Views into the mapping stay valid (they read zeros) and can no longer
    raise SIGBUS. Returns False if the kernel refused.
    """
    if not address or length <= 0 or not CAPABILITIES.remap_anonymous:
        return False
    start = address - address % mmap.PAGESIZE
    size = length + (address - start)
    libc = _load_libc()
    result = libc.mmap(ctypes.c_void_p(start), size, getattr(mmap, "PROT_READ", 1),
                       getattr(mmap, "MAP_PRIVATE", 2) | _MAP_ANONYMOUS | _MAP_FIXED, -1, 0)
    return result == start


def install_handler() -> bool:
    """Install the SIGIO handler (main thread only); True if leases can be used."""
    global _installed, _previous_handler
    if _installed:
        return True
    if not CAPABILITIES.leases or _SIGIO is None or threading.current_thread() is not threading.main_thread():
        return False
    _previous_handler = signal.signal(_SIGIO, _on_sigio)
    _installed = True
    return True


def handler_installed() -> bool:
    """True once the SIGIO handler is installed (leases can be taken)."""
    return _installed


def install_default_handler() -> bool:
    """Install the handler if SIGIO still has its default action (nobody else uses it)."""
    if _installed:
        return True
    if not CAPABILITIES.leases or _SIGIO is None or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(_SIGIO) not in (signal.SIG_DFL, None):
        return False
    return install_handler()


def _on_sigio(signum: int, frame: FrameType | None) -> None:
    for lease in list(_leases):
        lease.check_broken()
    if callable(_previous_handler):
        _previous_handler(signum, frame)


def refusal(fd: int) -> int | None:
    """Why the kernel refuses a read lease on `fd` now: an errno, or None if it would grant one.

    ``EAGAIN`` means another process has the file open for writing (it may
    close it any moment); anything else means leases are not allowed here
    (not the file's owner, a file system without leases); ``ENOSYS`` where
    this platform has no leases.
    """
    if not CAPABILITIES.leases:
        return errno.ENOSYS
    try:
        _fcntl(fd, F_SETLEASE, _F_RDLCK)
    except OSError as exc:
        return exc.errno
    _fcntl(fd, F_SETLEASE, _F_UNLCK)
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
            _fcntl(fd, F_SETLEASE, _F_RDLCK)
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
            current = _fcntl(self.fd, F_GETLEASE)
        except OSError:
            current = _F_UNLCK
        # While a break is pending the kernel reports the type being broken to
        # (F_UNLCK for a writer); we cannot tell which file a SIGIO was for otherwise.
        if current == _F_RDLCK:
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
                _fcntl(self.fd, F_SETLEASE, _F_UNLCK)
            except OSError:
                pass
        _leases.discard(self)
