"""The edit lock: one process at a time may edit a file.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on the document's own descriptor.
An flock belongs to the open file description, so it survives other code in
the same process opening and closing the path (pydicom reading a header, for
one), which would silently drop a POSIX ``fcntl``/``lockf`` lock. It also
dies with the process, so a crashed or killed holder never leaves the file
locked.

Who holds the lock is written to ``<dir>/.<name>.cinemap-lock`` (pid, user,
host, start time; mode 0600) once it is taken; a refused process reads it,
ignoring it if its pid is dead or not among the file's holders in
``/proc/locks``, and falls back on the pid ``/proc/locks`` reports.

flock is advisory: it only keeps out processes that ask for it (Cinemap). On
NFS, Linux emulates flock with POSIX byte-range locks, and the lock then has
the POSIX weakness described above.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from dataclasses import dataclass, field

from viewer.model.errors import LockedError

__all__ = ["EditLock", "acquire_edit_lock", "lock_info_path"]


def lock_info_path(path: str | os.PathLike[str]) -> str:
    """The info file of `path`'s edit lock: ``<dir>/.<name>.cinemap-lock``."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(directory, f".{name}.cinemap-lock")


@dataclass
class EditLock:
    """A held edit lock; :meth:`release` it (or close the descriptor) when done editing."""

    fd: int
    path: str
    info_path: str
    info_written: bool = False
    released: bool = field(default=False, init=False)

    def release(self) -> None:
        """Remove the info file and unlock (idempotent)."""
        if self.released:
            return
        self.released = True
        # Remove our info file before unlocking, never a later holder's.
        if self.info_written:
            try:
                os.unlink(self.info_path)
            except OSError:
                pass
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        except OSError:
            pass  # the descriptor was closed already, which released the lock

    def __enter__(self) -> EditLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def acquire_edit_lock(fd: int, path: str | os.PathLike[str]) -> EditLock:
    """Take the edit lock of `path` on the caller's descriptor `fd`.

    Parameters
    ----------
    fd : int
        The document's descriptor on `path` (any access mode); the lock lives
        as long as this open file description.
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
    acquire_edit_lock_without_info(fd, path)
    lock = EditLock(fd, path, info_path)
    lock.info_written = _write_info(info_path)
    return lock


def check_not_locked(fd: int, path: str | os.PathLike[str]) -> None:
    """Raise LockedError naming the holder if another descriptor holds the edit lock.

    Takes the lock on `fd` and gives it back at once: used before anything
    else when switching to read/write, so that the user is told who edits the
    file rather than a consequence of it (such as a refused read lease).
    """
    acquire_edit_lock_without_info(fd, path)
    fcntl.flock(fd, fcntl.LOCK_UN)


def acquire_edit_lock_without_info(fd: int, path: str | os.PathLike[str]) -> None:
    """flock(LOCK_EX | LOCK_NB) on `fd`, or LockedError naming the holder."""
    path = os.path.abspath(os.fspath(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LockedError(path, f"the file is being edited by {_describe_holder(fd, lock_info_path(path))}; "
                                "it can still be opened read-only") from None


def _write_info(info_path: str) -> bool:
    """Write who we are next to the file (atomically); False if the directory is not writable."""
    info = {
        "pid": os.getpid(),
        "user": _user_name(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    temporary = f"{info_path}.{os.getpid()}.tmp"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            json.dump(info, stream)
        os.replace(temporary, info_path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return False
    return True


def _describe_holder(fd: int, info_path: str) -> str:
    """'pid 123 (user ann on host ws1, since ...)' from the info file or /proc/locks."""
    holders = _flock_holders(fd)
    info = _read_info(info_path)
    if info is not None and _is_live_holder(info, holders):
        return (f"pid {info['pid']} (user {info.get('user', '?')} on host {info.get('host', '?')}, "
                f"since {info.get('started', '?')})")
    if holders:
        return "pid " + ", ".join(str(pid) for pid in sorted(holders))
    return "another process"


def _read_info(info_path: str) -> dict | None:
    try:
        with open(info_path, encoding="utf-8") as stream:
            info = json.load(stream)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def _is_live_holder(info: dict, holders: set[int]) -> bool:
    """False if the info file is stale: its pid is dead, or /proc/locks names other holders."""
    if info.get("host") != socket.gethostname():
        return True  # another machine (network file system): cannot check, trust it
    if holders:
        return info["pid"] in holders
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _flock_holders(fd: int) -> set[int]:
    """Pids holding an flock on `fd`'s file according to /proc/locks (empty if unknown)."""
    status = os.fstat(fd)
    device = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    holders = set()
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as stream:
            for line in stream:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"; blocked waiters have "->".
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
                    holders.add(int(fields[4]))
    except (OSError, ValueError):
        return set()
    return holders


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
