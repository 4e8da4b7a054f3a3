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

import errno
import signal
import threading
import weakref
from types import FrameType
from typing import Any, Callable

from viewer.model.platform import leases
from viewer.model.platform.leases import LEASE_NONE, LEASE_READ

_installed = False
_previous_handler: Any = None
_leases: "weakref.WeakSet[ReadLease]" = weakref.WeakSet()


def neutralise_mapping(address: int, length: int) -> bool:
    """Replace a file mapping by anonymous zero pages at the same address.

    Views into the mapping stay valid (they read zeros) and can no longer
    raise SIGBUS. Returns False if the kernel refused (or the platform cannot).
    """
    return leases.remap_anonymous(address, length)


def install_handler() -> bool:
    """Install the SIGIO handler (main thread only); True if leases can be used."""
    global _installed, _previous_handler
    if _installed:
        return True
    if leases.SIGIO is None or threading.current_thread() is not threading.main_thread():
        return False
    _previous_handler = signal.signal(leases.SIGIO, _on_sigio)
    _installed = True
    return True


def handler_installed() -> bool:
    """True once the SIGIO handler is installed (leases can be taken)."""
    return _installed


def install_default_handler() -> bool:
    """Install the handler if SIGIO still has its default action (nobody else uses it)."""
    if _installed:
        return True
    if leases.SIGIO is None or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(leases.SIGIO) not in (signal.SIG_DFL, None):
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
    if leases.SIGIO is None:
        return errno.ENOSYS
    try:
        leases.set_lease(fd, LEASE_READ)
    except OSError as exc:
        return exc.errno
    leases.set_lease(fd, LEASE_NONE)
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
        self._acquiring = False
        self._break_seen = False

    @classmethod
    def try_acquire(cls, fd: int, on_break: Callable[[], None]) -> "ReadLease | None":
        """Take a lease if the handler is installed and the kernel allows it; else None.

        The lease is registered before the kernel grants it: a writer may open
        the file the moment it is granted, and its SIGIO must find the lease
        (a missed break would leave the writer waiting for the kernel's
        lease-break time, then truncating under a mapping nobody neutralised).
        A SIGIO that arrives while the lease is being granted is remembered
        and handled once it is. Check :attr:`held` afterwards: the lease may
        already be broken and given back.
        """
        if not _installed:
            return None
        lease = cls(fd, on_break)
        lease._acquiring = True
        _leases.add(lease)
        try:
            leases.set_lease(fd, LEASE_READ)
        except OSError:
            lease._acquiring = False
            _leases.discard(lease)
            return None
        lease.held = True
        lease._acquiring = False
        if lease._break_seen:  # a SIGIO came while it was being granted: was it for this lease?
            lease.check_broken()
        return lease

    def check_broken(self) -> None:
        """Called on SIGIO: if this lease is being broken, react and release it."""
        self._break_seen = True  # read by try_acquire after it stops acquiring: see there
        if self._acquiring or not self.held:
            return
        try:
            current = leases.get_lease(self.fd)
        except OSError:
            current = LEASE_NONE
        # While a break is pending the kernel reports the type being broken to
        # (F_UNLCK for a writer); we cannot tell which file a SIGIO was for otherwise.
        if current == LEASE_READ:
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
                leases.set_lease(self.fd, LEASE_NONE)
            except OSError:
                pass
        _leases.discard(self)
