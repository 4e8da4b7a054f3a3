"""Whole-file locks between processes: an OS lock where one works, else a lock file.

Three methods, tried in this order:

``flock`` (POSIX)
    ``flock(LOCK_EX)`` on the caller's descriptor. It belongs to the open
    file description, so it survives other code in the process opening and
    closing the path (pydicom reading a header), which silently drops a
    POSIX ``fcntl``/``lockf`` lock; it dies with the process.
``LockFileEx`` (Windows)
    An exclusive lock of one byte at offset 2**62 of the caller's handle.
    Windows byte-range locks are mandatory: a lock over real bytes would make
    every other reader of them fail (our own viewer's descriptor included),
    so the byte locked lies far past the end of any file, where nothing
    reads (SQLite locks bytes past its data for the same reason). This is why
    ``portalocker``, which locks from the start of the file, is not used. The
    lock belongs to the handle and dies with the process.
lock file (everywhere; the last resort)
    ``O_CREAT | O_EXCL`` creation of a lock file holding pid, user, host,
    start time and a random token. Used where no OS lock exists (portable
    mode) or where the OS lock fails on this file (``ENOLCK``,
    ``EOPNOTSUPP``...: some network shares). It does not die with its holder:
    a lock file whose holder is dead (same host, pid not running) is stale and
    removed by the next :func:`acquire`; a holder on another host cannot be
    checked and is trusted (the message names the file to delete by hand).

An OS-lock holder also honours a live lock file at the same path, so a
process that had to fall back (another machine on the same share) is not
ignored by one that did not.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from viewer.model.platform import CAPABILITIES, process

__all__ = ["FLOCK", "LOCK_FILE", "WINDOWS_LOCK", "Busy", "HeldLock", "acquire", "holders", "os_lock_method",
           "read_info", "remove_if_stale"]

FLOCK, WINDOWS_LOCK, LOCK_FILE = "flock", "LockFileEx", "lock file"
_WINDOWS_LOCK_OFFSET = 1 << 62
# The OS lock cannot work on this file (a network share without locking): use a lock file.
_UNSUPPORTED = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL})
_POLL_SECONDS = 0.01
# A lock file is written before it is linked into place, so only a file system
# without hard links (FAT) can show one half-written; older than this, its
# writer is taken for dead.
_ABANDONED_SECONDS = 10.0


class Busy(Exception):
    """Another descriptor or process holds the lock.

    Attributes
    ----------
    info : dict or None
        The holder's description (pid, user, host, started, method) if known.
    """

    def __init__(self, info: dict[str, Any] | None) -> None:
        super().__init__("the lock is held by another process")
        self.info = info


@dataclass
class HeldLock:
    """A lock held on a descriptor, with the lock file (if any) that describes or is it."""

    fd: int
    method: str
    lock_path: str | None
    info: dict[str, Any]
    wrote_lock_file: bool = False
    released: bool = field(default=False, init=False)

    def release(self) -> None:
        """Remove our lock file, then unlock (idempotent; never raises)."""
        if self.released:
            return
        self.released = True
        # Remove the file before unlocking: once unlocked, it may be a later holder's.
        if self.wrote_lock_file and self.lock_path is not None and _is_ours(self.lock_path, self.info):
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
        try:
            _os_unlock(self.fd, self.method)
        except OSError:
            pass  # the descriptor was closed already, which released the lock


def os_lock_method() -> str | None:
    """The OS lock of this platform (:data:`FLOCK`, :data:`WINDOWS_LOCK`), or None."""
    if CAPABILITIES.flock:
        return FLOCK
    if CAPABILITIES.windows_locks:
        return WINDOWS_LOCK
    return None


def describe_self() -> dict[str, Any]:
    """Who we are, for a lock file: pid, user, host, start time, a random token."""
    return {
        "pid": os.getpid(),
        "user": process.user_name(),
        "host": process.host_name(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "token": os.urandom(8).hex(),
    }


def acquire(fd: int, lock_path: str | None, *, describe: bool = True, blocking: bool = False,
            timeout: float = 60.0) -> HeldLock:
    """Lock `fd`'s file exclusively.

    Parameters
    ----------
    fd : int
        An open descriptor of the file (any access mode); an OS lock lives as
        long as this descriptor.
    lock_path : str or None
        The lock file: written with our description after an OS lock if
        `describe`, created exclusively as the lock itself where no OS lock
        works. None: OS locks only (Busy if there is none).
    blocking : bool
        Wait (at most `timeout` seconds) instead of raising Busy at once.

    Raises
    ------
    Busy
        If another descriptor or process holds the lock.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _acquire_once(fd, lock_path, describe)
        except Busy:
            if not blocking or time.monotonic() >= deadline:
                raise
        time.sleep(_POLL_SECONDS)


def _acquire_once(fd: int, lock_path: str | None, describe: bool) -> HeldLock:
    info = describe_self()
    method = os_lock_method()
    if method is not None:
        try:
            locked = _os_try_lock(fd, method)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            method = None  # this file system refuses OS locks: fall back on the lock file
        else:
            if not locked:
                raise Busy(read_info(lock_path) if lock_path else None)
    if method is not None:
        info["method"] = method
        held = HeldLock(fd, method, lock_path, info)
        if lock_path is not None:
            existing = read_info(lock_path)
            if existing is not None and existing.get("method") == LOCK_FILE:
                if holder_state(existing) is not False:
                    held.release()
                    raise Busy(existing)  # a process that had to fall back holds it
                remove_if_stale(lock_path, existing)
            if describe:
                held.wrote_lock_file = _write_replacing(lock_path, info)
        return held
    if lock_path is None:
        raise Busy(None)
    info["method"] = LOCK_FILE
    for _attempt in range(3):
        if _create_exclusive(lock_path, info):
            return HeldLock(fd, LOCK_FILE, lock_path, info, wrote_lock_file=True)
        existing = read_info(lock_path)
        if existing is None:
            if not os.path.lexists(lock_path):
                continue  # released in between
            if not os.access(lock_path, os.R_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), lock_path)  # not a holder: no right
            if not _remove_if_abandoned(lock_path):
                raise Busy(None)  # its creator is still writing it
        elif not remove_if_stale(lock_path, existing):
            raise Busy(existing)
    raise Busy(read_info(lock_path))


def holder_state(info: dict[str, Any]) -> bool | None:
    """Is a lock file's holder alive: True, False (stale), None (cannot tell: another host)."""
    if info.get("host") != process.host_name():
        return None
    pid = info.get("pid")
    return process.pid_alive(pid) if isinstance(pid, int) else False


def remove_if_stale(lock_path: str, seen: dict[str, Any]) -> bool:
    """Remove the lock file `seen` (read from `lock_path`) if its holder is dead; True if removed.

    The file is renamed aside first and checked to be the one that was read,
    so that a lock file a new holder has just created is put back, not lost.

    Raises
    ------
    OSError
        If a stale lock file cannot be removed (a folder we may not write).
    """
    if holder_state(seen) is not False:
        return False
    aside = f"{lock_path}.{os.getpid()}.{os.urandom(4).hex()}.stale"
    try:
        os.rename(lock_path, aside)
    except FileNotFoundError:
        return True  # someone else removed it
    if read_info(aside) == seen:
        _unlink_quietly(aside)
        return True
    _put_back(aside, lock_path)
    return False


def _remove_if_abandoned(lock_path: str) -> bool:
    """Remove an unreadable lock file older than :data:`_ABANDONED_SECONDS` (its writer died mid-write)."""
    try:
        if time.time() - os.stat(lock_path).st_mtime < _ABANDONED_SECONDS:
            return False
    except FileNotFoundError:
        return True
    aside = f"{lock_path}.{os.getpid()}.{os.urandom(4).hex()}.stale"
    try:
        os.rename(lock_path, aside)
    except FileNotFoundError:
        return True
    if read_info(aside) is None:
        _unlink_quietly(aside)
        return True
    _put_back(aside, lock_path)
    return False


def _put_back(aside: str, lock_path: str) -> None:
    try:
        os.link(aside, lock_path)  # atomic: fails if a newer lock file exists
    except FileExistsError:
        pass
    except OSError:  # no hard links here (FAT): a plain rename
        if not os.path.lexists(lock_path):
            try:
                os.rename(aside, lock_path)
                return
            except OSError:
                pass
    _unlink_quietly(aside)


def read_info(lock_path: str | None) -> dict[str, Any] | None:
    """The description in a lock file, or None if there is none (or it is unreadable)."""
    if lock_path is None:
        return None
    try:
        with open(lock_path, encoding="utf-8") as stream:
            info = json.load(stream)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def holders(fd: int) -> set[int]:
    """Pids holding an flock on `fd`'s file according to ``/proc/locks`` (empty if unknown)."""
    if sys.platform == "win32" or not CAPABILITIES.procfs:
        return set()
    status = os.fstat(fd)
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    found = set()
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as stream:
            for line in stream:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"; blocked waiters have "->".
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
                    found.add(int(fields[4]))
    except (OSError, ValueError):
        return set()
    return found


def _is_ours(lock_path: str, info: dict[str, Any]) -> bool:
    current = read_info(lock_path)
    return current is None or current.get("token") == info.get("token")


def _os_try_lock(fd: int, method: str) -> bool:
    if sys.platform == "win32":
        from viewer.model.platform import _windows

        return _windows.lock_range(fd, _WINDOWS_LOCK_OFFSET, 1, blocking=False)
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _os_unlock(fd: int, method: str) -> None:
    if method == LOCK_FILE:
        return
    if sys.platform == "win32":
        from viewer.model.platform import _windows

        _windows.unlock_range(fd, _WINDOWS_LOCK_OFFSET, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def _create_exclusive(lock_path: str, info: dict[str, Any]) -> bool:
    """Create `lock_path` holding `info`; False if it exists.

    The content is written to a private file first and hard-linked into
    place (``link`` fails if the name exists), so a holder killed at any
    moment never leaves an empty lock file; where hard links do not exist
    (FAT), ``O_EXCL`` creation and a write.
    """
    temporary = f"{lock_path}.{os.getpid()}.{info.get('token', '')}.tmp"
    try:
        _write_new(temporary, info)
        try:
            os.link(temporary, lock_path)
        except FileExistsError:
            return False
        except OSError:
            pass  # no hard links here
        else:
            process.hide_file(lock_path)
            return True
    finally:
        _unlink_quietly(temporary)
    try:
        descriptor = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        return False
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(info, stream)
    except OSError:
        _unlink_quietly(lock_path)
        raise
    process.hide_file(lock_path)
    return True


def _write_new(path: str, info: dict[str, Any]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(info, stream)


def _write_replacing(lock_path: str, info: dict[str, Any]) -> bool:
    """Write `info` to `lock_path` atomically; False if the folder is not writable."""
    temporary = f"{lock_path}.{os.getpid()}.tmp"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(info, stream)
        process.hide_file(temporary)  # before the rename: replacing a hidden file by a visible one may fail
        os.replace(temporary, lock_path)
    except OSError:
        _unlink_quietly(temporary)
        return False
    return True


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
