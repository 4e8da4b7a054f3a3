"""Processes, users and descriptors: liveness of a pid, who we are, how a file is open.

``os.kill(pid, 0)`` asks a POSIX kernel whether a process exists; on Windows
``os.kill`` with any other signal than the console events *terminates* the
process, so liveness goes through ``OpenProcess``/``GetExitCodeProcess``
there. ``os.getuid``, ``fcntl(F_GETFL)`` and ``fstatvfs`` are POSIX only.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys

from viewer.model.platform import CAPABILITIES

__all__ = ["hide_file", "host_name", "on_read_only_filesystem", "open_for_writing", "pid_alive", "usable_cpus",
           "user_name"]


def pid_alive(pid: int) -> bool | None:
    """True if process `pid` is running on this machine, False if not, None if unknown."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        from viewer.model.platform import _windows

        return _windows.process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    except OSError:
        return None
    return True


def user_name() -> str:
    """The login name (``getpass``), else the numeric user id, else "?"."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        getuid = getattr(os, "getuid", None)
        return str(getuid()) if getuid is not None else "?"


def host_name() -> str:
    """This machine's name, as another machine on the network would see it in a lock file."""
    return socket.gethostname()


def open_for_writing(fd: int) -> bool | None:
    """True if `fd` was opened for writing, False if read-only, None if the OS will not say.

    POSIX: ``fcntl(F_GETFL)``. Without fcntl (Windows, portable mode) a
    write of zero bytes is the probe: a POSIX kernel checks the access mode
    first (``EBADF``), Windows' C runtime returns 0 without looking, so
    there the answer is None and the caller's first real write is the test
    (it fails cleanly, as any write on a read-only descriptor does).
    """
    if sys.platform != "win32" and CAPABILITIES.flock:  # fcntl is importable: a POSIX system
        import fcntl

        return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
    try:
        os.write(fd, b"")
    except OSError:
        return False
    return None


def on_read_only_filesystem(fd: int) -> bool:
    """True if `fd`'s file lies on a file system mounted read-only (``fstatvfs``; False where unknown)."""
    fstatvfs = getattr(os, "fstatvfs", None)
    read_only_flag = getattr(os, "ST_RDONLY", None)
    if fstatvfs is None or read_only_flag is None:
        return False
    try:
        return bool(fstatvfs(fd).f_flag & read_only_flag)
    except OSError:
        return False


def hide_file(path: str) -> None:
    """Hide a file Cinemap keeps beside a DICOM file (lock, journal) from file browsers.

    The names start with a dot, which hides them on Linux and macOS; Windows
    shows such files, so the hidden attribute is set there. Errors are
    ignored: a visible lock file is untidy, not wrong.
    """
    if sys.platform == "win32":
        from viewer.model.platform import _windows

        try:
            _windows.hide(path)
        except OSError:
            pass


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity on Linux), at least 1."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:
            pass
    return os.cpu_count() or 1
