"""This process's memory use: resident, anonymous (private) and file-backed bytes.

* Linux: ``/proc/self/status`` (``VmRSS``, ``RssAnon``, ``RssFile``, ``VmHWM``):
  counters the kernel keeps, so reading them costs the same however much is
  mapped; ``smaps_rollup`` walks the page tables (8 ms with 2 GB of a file
  resident) and is only the fallback.
* macOS: ``task_info(TASK_VM_INFO)`` through ctypes: ``resident_size``,
  ``internal`` (anonymous), ``external`` (file-backed), ``resident_size_peak``.
* Windows: ``GetProcessMemoryInfo`` through ctypes: working set, its peak, and
  private bytes (committed anonymous memory); file-backed bytes are unknown.

psutil would do all of this, but it is a compiled dependency for four
numbers. Every figure is None where the platform does not say (and in
portable mode, which has no ``/proc``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass

from viewer.model.platform import CAPABILITIES, MACOS, PORTABLE, WINDOWS

__all__ = ["ProcessMemory", "physical_memory", "process_memory"]


@dataclass(frozen=True)
class ProcessMemory:
    """Bytes of memory this process uses (None where unknown).

    Attributes
    ----------
    resident : int or None
        Resident set (working set on Windows): anonymous and file-backed pages.
    anonymous : int or None
        Anonymous / private memory: what the process itself allocated.
    file_backed : int or None
        Resident pages of mapped files: page cache, reclaimable by the system.
    peak_resident : int or None
        The largest resident set so far.
    """

    resident: int | None = None
    anonymous: int | None = None
    file_backed: int | None = None
    peak_resident: int | None = None


def _read_kb_fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        with open(path, "rb") as file:
            for line in file:
                key, _, rest = line.partition(b":")
                name = key.decode("ascii", "replace").strip()
                if name in names and name not in found:
                    found[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return {}
    return found


def _linux() -> ProcessMemory:
    status = _read_kb_fields("/proc/self/status", ("VmRSS", "RssAnon", "RssFile", "VmHWM"))
    if "VmRSS" in status and "RssAnon" in status:
        return ProcessMemory(status["VmRSS"], status["RssAnon"], status.get("RssFile"), status.get("VmHWM"))
    rollup = _read_kb_fields("/proc/self/smaps_rollup", ("Rss", "Anonymous"))
    resident, anonymous = rollup.get("Rss"), rollup.get("Anonymous")
    file_backed = resident - anonymous if resident is not None and anonymous is not None else None
    return ProcessMemory(resident, anonymous, file_backed, status.get("VmHWM"))


class _TaskVmInfo(ctypes.Structure):
    """The start of macOS's ``task_vm_info_data_t`` (revision 0: all macOS versions have it)."""

    _fields_ = [
        ("virtual_size", ctypes.c_uint64), ("region_count", ctypes.c_int32), ("page_size", ctypes.c_int32),
        ("resident_size", ctypes.c_uint64), ("resident_size_peak", ctypes.c_uint64),
        ("device", ctypes.c_uint64), ("device_peak", ctypes.c_uint64),
        ("internal", ctypes.c_uint64), ("internal_peak", ctypes.c_uint64),
        ("external", ctypes.c_uint64), ("external_peak", ctypes.c_uint64),
        ("reusable", ctypes.c_uint64), ("reusable_peak", ctypes.c_uint64),
        ("purgeable_volatile_pmap", ctypes.c_uint64), ("purgeable_volatile_resident", ctypes.c_uint64),
        ("purgeable_volatile_virtual", ctypes.c_uint64),
    ]


_TASK_VM_INFO = 22


def _macos() -> ProcessMemory:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.dylib")
    info = _TaskVmInfo()
    count = ctypes.c_uint32(ctypes.sizeof(info) // 4)  # in natural_t (32-bit) units
    task = ctypes.c_uint32.in_dll(libc, "mach_task_self_")
    if libc.task_info(task, _TASK_VM_INFO, ctypes.byref(info), ctypes.byref(count)) != 0:
        return ProcessMemory()
    return ProcessMemory(int(info.resident_size), int(info.internal), int(info.external),
                         int(info.resident_size_peak))


def _windows() -> ProcessMemory:
    if sys.platform != "win32":
        return ProcessMemory()
    from viewer.model.platform import _windows as win32

    counters = win32.memory_counters()
    if counters is None:
        return ProcessMemory()
    working_set, peak, private = counters
    return ProcessMemory(working_set, private, None, peak)


def process_memory() -> ProcessMemory:
    """This process's memory use now (see :class:`ProcessMemory`)."""
    try:
        if PORTABLE:
            return ProcessMemory()
        if CAPABILITIES.procfs:
            return _linux()
        if MACOS:
            return _macos()
        if WINDOWS:
            return _windows()
    except (OSError, ValueError, AttributeError):
        pass
    return ProcessMemory()


def physical_memory() -> int | None:
    """Bytes of RAM in this machine (``sysconf`` on POSIX, ``GlobalMemoryStatusEx`` on Windows), or None."""
    if sys.platform == "win32":
        from viewer.model.platform import _windows as win32

        return win32.physical_memory()
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
