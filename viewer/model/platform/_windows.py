"""Win32 calls through ctypes, for the platform modules (imported on Windows only).

Hand-written rather than from pywin32: a handful of kernel32 functions do
not justify a 10 MB dependency, and ctypes ships with Python. Each function
here has a POSIX twin in the module that calls it.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32"  # mypy checks the rest for --platform win32 only

import ctypes
import msvcrt
import os
from ctypes import wintypes

import numpy as np

_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

ERROR_HANDLE_EOF = 38
ERROR_LOCK_VIOLATION = 33
ERROR_IO_PENDING = 997
LOCKFILE_FAIL_IMMEDIATELY = 0x1
LOCKFILE_EXCLUSIVE_LOCK = 0x2
FILE_ATTRIBUTE_HIDDEN = 0x2
INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
STILL_ACTIVE = 259
ERROR_INVALID_PARAMETER = 87
ERROR_ACCESS_DENIED = 5


class OVERLAPPED(ctypes.Structure):
    _fields_ = [
        ("Internal", ctypes.c_void_p),
        ("InternalHigh", ctypes.c_void_p),
        ("Offset", wintypes.DWORD),
        ("OffsetHigh", wintypes.DWORD),
        ("hEvent", wintypes.HANDLE),
    ]


def _overlapped(offset: int) -> OVERLAPPED:
    overlapped = OVERLAPPED()
    overlapped.Offset = offset & 0xFFFFFFFF
    overlapped.OffsetHigh = offset >> 32
    return overlapped


def _address(view: memoryview) -> int:
    """The address of a buffer's first byte (numpy reads it for read-only buffers too)."""
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data) if len(view) else 0


def _error() -> OSError:
    code = ctypes.get_last_error()
    return ctypes.WinError(code)


def read_at(fd: int, view: memoryview, offset: int) -> int:
    """``ReadFile`` of up to ``len(view)`` bytes at `offset`; 0 at the end of the file."""
    handle = msvcrt.get_osfhandle(fd)
    done = wintypes.DWORD(0)
    overlapped = _overlapped(offset)
    if not _kernel32.ReadFile(wintypes.HANDLE(handle), ctypes.c_void_p(_address(view)), wintypes.DWORD(len(view)),
                              ctypes.byref(done), ctypes.byref(overlapped)):
        if ctypes.get_last_error() == ERROR_HANDLE_EOF:
            return 0
        raise _error()
    return int(done.value)


def write_at(fd: int, view: memoryview, offset: int) -> int:
    """``WriteFile`` of up to ``len(view)`` bytes at `offset`; returns how many were written."""
    handle = msvcrt.get_osfhandle(fd)
    done = wintypes.DWORD(0)
    overlapped = _overlapped(offset)
    if not _kernel32.WriteFile(wintypes.HANDLE(handle), ctypes.c_void_p(_address(view)), wintypes.DWORD(len(view)),
                               ctypes.byref(done), ctypes.byref(overlapped)):
        raise _error()
    return int(done.value)


def lock_range(fd: int, offset: int, length: int, *, blocking: bool) -> bool:
    """``LockFileEx`` (exclusive) of a byte range; False if another handle holds it."""
    handle = msvcrt.get_osfhandle(fd)
    flags = LOCKFILE_EXCLUSIVE_LOCK | (0 if blocking else LOCKFILE_FAIL_IMMEDIATELY)
    overlapped = _overlapped(offset)
    if _kernel32.LockFileEx(wintypes.HANDLE(handle), wintypes.DWORD(flags), wintypes.DWORD(0),
                            wintypes.DWORD(length & 0xFFFFFFFF), wintypes.DWORD(length >> 32),
                            ctypes.byref(overlapped)):
        return True
    if ctypes.get_last_error() in (ERROR_LOCK_VIOLATION, ERROR_IO_PENDING):
        return False
    raise _error()


def unlock_range(fd: int, offset: int, length: int) -> None:
    """``UnlockFileEx`` of a range locked by :func:`lock_range` on the same handle."""
    handle = msvcrt.get_osfhandle(fd)
    overlapped = _overlapped(offset)
    if not _kernel32.UnlockFileEx(wintypes.HANDLE(handle), wintypes.DWORD(0), wintypes.DWORD(length & 0xFFFFFFFF),
                                  wintypes.DWORD(length >> 32), ctypes.byref(overlapped)):
        raise _error()


def hide(path: str) -> None:
    """Set the hidden attribute (Explorer hides the file, as a leading dot does on POSIX)."""
    attributes = _kernel32.GetFileAttributesW(wintypes.LPCWSTR(path))
    if attributes == INVALID_FILE_ATTRIBUTES:
        return
    _kernel32.SetFileAttributesW(wintypes.LPCWSTR(path), wintypes.DWORD(attributes | FILE_ATTRIBUTE_HIDDEN))


def process_alive(pid: int) -> bool | None:
    """True if process `pid` runs, False if not, None if Windows will not say."""
    handle = _kernel32.OpenProcess(wintypes.DWORD(PROCESS_QUERY_LIMITED_INFORMATION), wintypes.BOOL(False),
                                   wintypes.DWORD(pid))
    if not handle:
        error = ctypes.get_last_error()
        if error == ERROR_INVALID_PARAMETER:
            return False  # no such process
        return True if error == ERROR_ACCESS_DENIED else None
    try:
        code = wintypes.DWORD(0)
        if not _kernel32.GetExitCodeProcess(wintypes.HANDLE(handle), ctypes.byref(code)):
            return None
        return code.value == STILL_ACTIVE
    finally:
        _kernel32.CloseHandle(wintypes.HANDLE(handle))


class PROCESS_MEMORY_COUNTERS_EX(ctypes.Structure):
    _fields_ = [
        ("cb", wintypes.DWORD),
        ("PageFaultCount", wintypes.DWORD),
        ("PeakWorkingSetSize", ctypes.c_size_t),
        ("WorkingSetSize", ctypes.c_size_t),
        ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
        ("QuotaPagedPoolUsage", ctypes.c_size_t),
        ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
        ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
        ("PagefileUsage", ctypes.c_size_t),
        ("PeakPagefileUsage", ctypes.c_size_t),
        ("PrivateUsage", ctypes.c_size_t),
    ]


def memory_counters() -> tuple[int, int, int] | None:
    """(working set, peak working set, private bytes) of this process, or None."""
    counters = PROCESS_MEMORY_COUNTERS_EX()
    counters.cb = ctypes.sizeof(counters)
    process = _kernel32.GetCurrentProcess()
    # K32GetProcessMemoryInfo: the kernel32 export of psapi's function (Windows 7 and later).
    if not _kernel32.K32GetProcessMemoryInfo(wintypes.HANDLE(process), ctypes.byref(counters),
                                             wintypes.DWORD(counters.cb)):
        return None
    return int(counters.WorkingSetSize), int(counters.PeakWorkingSetSize), int(counters.PrivateUsage)


DRIVE_TYPES = {2: "removable", 3: "fixed", 4: "remote", 5: "cdrom", 6: "ramdisk"}


def volume_of(path: str) -> tuple[str, str, str]:
    """(volume root, drive type name, file system name) of `path` ("" where unknown)."""
    buffer = ctypes.create_unicode_buffer(1024)
    if not _kernel32.GetVolumePathNameW(wintypes.LPCWSTR(os.path.abspath(path)), buffer, wintypes.DWORD(1024)):
        return "", "", ""
    root = buffer.value
    drive_type = DRIVE_TYPES.get(int(_kernel32.GetDriveTypeW(wintypes.LPCWSTR(root))), "")
    name = ctypes.create_unicode_buffer(64)
    if not _kernel32.GetVolumeInformationW(wintypes.LPCWSTR(root), None, wintypes.DWORD(0), None, None, None,
                                           name, wintypes.DWORD(64)):
        return root, drive_type, ""
    return root, drive_type, name.value


class MEMORYSTATUSEX(ctypes.Structure):
    _fields_ = [
        ("dwLength", wintypes.DWORD), ("dwMemoryLoad", wintypes.DWORD), ("ullTotalPhys", ctypes.c_uint64),
        ("ullAvailPhys", ctypes.c_uint64), ("ullTotalPageFile", ctypes.c_uint64), ("ullAvailPageFile", ctypes.c_uint64),
        ("ullTotalVirtual", ctypes.c_uint64), ("ullAvailVirtual", ctypes.c_uint64),
        ("ullAvailExtendedVirtual", ctypes.c_uint64),
    ]


def physical_memory() -> int | None:
    """Bytes of RAM (``GlobalMemoryStatusEx``), or None."""
    status = MEMORYSTATUSEX()
    status.dwLength = ctypes.sizeof(status)
    if not _kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullTotalPhys)
