"""The edit lock: one process at a time may edit a file.

The lock is taken by :func:`viewer.model.platform.locking.acquire` on the
document's own descriptor: ``flock`` on Linux and macOS, ``LockFileEx`` on
Windows, and an exclusively created lock file where neither works (some
network shares, portable mode). An OS lock belongs to the descriptor, so it
survives other code in the process opening and closing the path (pydicom
reading a header), and dies with the process.

Who holds the lock is written to ``<dir>/.<name>.cinemap-lock`` (pid, user,
host, start time, method; mode 0600, hidden on Windows too); in the lock-file
fallback that file *is* the lock. A refused process reads it, ignoring it if
its pid is dead or (Linux) not among the file's holders in the kernel's lock
table (:func:`viewer.model.platform.locking.holders`), and falls back on the
pid that table reports.

The info file is removed when the lock is released, when the process exits
normally (``atexit``) and on SIGTERM (a handler installed while a lock is
held, if nobody else handles SIGTERM; the GUI installs its own, which closes
the documents). A holder killed with SIGKILL cannot clean up: the next open
of the file (:func:`remove_stale_lock_file`) or the next lock removes a file
whose holder is dead.

OS locks are advisory: they only keep out processes that ask for them
(Cinemap). On NFS, Linux emulates flock with POSIX byte-range locks.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

from viewer.model.errors import LockedError
from viewer.model.platform import locking

__all__ = ["EditLock", "acquire_edit_lock", "check_not_locked", "lock_info_path", "remove_stale_lock_file"]


def lock_info_path(path: str | os.PathLike[str]) -> str:
    """The info file of `path`'s edit lock: ``<dir>/.<name>.cinemap-lock``."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(directory, f".{name}.cinemap-lock")


@dataclass(eq=False)
class EditLock:
    """A held edit lock; :meth:`release` it (or close the descriptor) when done editing."""

    fd: int
    path: str
    info_path: str
    held: locking.HeldLock | None = None
    released: bool = field(default=False, init=False)

    @property
    def info_written(self) -> bool:
        """True if the info file naming this process was written."""
        return self.held is not None and self.held.wrote_lock_file

    @property
    def method(self) -> str:
        """How the lock is held: ``flock``, ``LockFileEx`` or ``lock file``."""
        return self.held.method if self.held is not None else ""

    def release(self) -> None:
        """Remove the info file and unlock (idempotent)."""
        if self.released:
            return
        self.released = True
        if self.held is not None:
            self.held.release()
        _held.discard(self)
        _restore_sigterm()

    def __enter__(self) -> EditLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def acquire_edit_lock(fd: int, path: str | os.PathLike[str]) -> EditLock:
    """Take the edit lock of `path` on the caller's descriptor `fd`.

    Parameters
    ----------
    fd : int
        The document's descriptor on `path` (any access mode); an OS lock
        lives as long as this open file description.
    path : str or os.PathLike
        The file, to name the info file and the messages.

    Raises
    ------
    LockedError
        If another process (or another descriptor in this one) holds it; the
        message names the holder when it is known.
    """
    path = os.path.abspath(os.fspath(path))
    info_path = lock_info_path(path)
    held = _acquire(fd, path, info_path, describe=True)
    lock = EditLock(fd, path, info_path, held)
    _held.add(lock)
    _install_sigterm()
    return lock


def check_not_locked(fd: int, path: str | os.PathLike[str]) -> None:
    """Raise LockedError naming the holder if another descriptor holds the edit lock.

    Takes the lock on `fd` and gives it back at once: used before anything
    else when switching to read/write, so that the user is told who edits the
    file rather than a consequence of it (such as a refused read lease).
    """
    path = os.path.abspath(os.fspath(path))
    _acquire(fd, path, lock_info_path(path), describe=False).release()


def remove_stale_lock_file(path: str | os.PathLike[str]) -> bool:
    """Remove `path`'s lock info file if its holder is dead (killed, crashed); True if removed.

    Called by every open: one ``access`` call when there is no such file.
    """
    info_path = lock_info_path(path)
    if not os.access(info_path, os.F_OK, follow_symlinks=False):
        return False
    info = locking.read_info(info_path)
    try:
        return info is not None and locking.remove_if_stale(info_path, info)
    except OSError:
        return False  # a folder we may not write: the next editor with the right to replaces it


def _acquire(fd: int, path: str, info_path: str, *, describe: bool) -> locking.HeldLock:
    try:
        return locking.acquire(fd, info_path, describe=describe)
    except locking.Busy as busy:
        raise LockedError(path, f"the file is being edited by {_describe_holder(fd, info_path, busy.info)}; "
                                "it can still be opened read-only") from None
    except OSError as exc:
        raise LockedError(path, f"the file cannot be locked for editing ({exc.strerror or exc}); "
                                "it can still be opened read-only") from exc


def _describe_holder(fd: int, info_path: str, info: dict[str, Any] | None) -> str:
    """'pid 123 (user ann on host ws1, since ...)' from the info file or the kernel's lock table."""
    holders = locking.holders(fd)
    if info is not None and _is_live_holder(info, holders):
        text = (f"pid {info['pid']} (user {info.get('user', '?')} on host {info.get('host', '?')}, "
                f"since {info.get('started', '?')})")
        if info.get("method") == locking.LOCK_FILE and locking.holder_state(info) is None:
            text += f"; if that program is no longer running, delete {info_path}"
        return text
    if holders:
        return "pid " + ", ".join(str(pid) for pid in sorted(holders))
    return "another process"


def _is_live_holder(info: dict[str, Any], holders: set[int]) -> bool:
    """False if the info file is stale: its pid is dead, or the kernel's lock table names other holders."""
    state = locking.holder_state(info)
    if state is None:
        return True  # another machine (network file system): cannot check, trust it
    if holders and info.get("method") != locking.LOCK_FILE:
        return info["pid"] in holders
    return state


# ------------------------------------------------ cleaning up at exit and on SIGTERM
# Strong references: a lock its caller dropped without releasing is still held
# (the descriptor is open), and its info file must still go at exit.
_held: set[EditLock] = set()
_sigterm_installed = False


def _release_all() -> None:
    for lock in list(_held):
        lock.release()


atexit.register(_release_all)


def _on_sigterm(signum: int, frame: Any) -> None:
    """Remove our info files, then die of SIGTERM as the default action would."""
    _release_all()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm() -> None:
    """While a lock is held, clean up on SIGTERM too, if nobody else handles it (main thread only)."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
            return  # the application's own handler (the GUI closes its documents)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        return
    _sigterm_installed = True


def _restore_sigterm() -> None:
    global _sigterm_installed
    if not _sigterm_installed or _held or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        return
    _sigterm_installed = False
