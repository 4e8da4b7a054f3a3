"""Read-ahead and page-cache advice, where the OS offers it; no-ops elsewhere.

``madvise`` (Linux, macOS, BSD) tells the kernel which pages of a mapping
will be read soon (``WILLNEED``: one request instead of a fault per page) or
not again (``DONTNEED``: the pages leave the process, staying in the page
cache). ``posix_fadvise`` (Linux, BSD) does the same for a descriptor read
with positional reads, and ``RANDOM`` turns its read-ahead off: walking the
item headers of an encapsulated Pixel Data value reads a few bytes every few
tens of kilobytes, and with the default read-ahead every such read pulled in
128 KiB or more (indexing a 4.8 GB file read the whole file).

Advice changes speed, never results: every function works the same (only
reading more) where the platform has none (Windows, macOS for fadvise,
portable mode); the fadvise helpers return whether the advice was given.
"""

from __future__ import annotations

import mmap
import os

from viewer.model.platform import CAPABILITIES

WILLNEED = "willneed"
DONTNEED = "dontneed"
_MADVICE = {WILLNEED: getattr(mmap, "MADV_WILLNEED", None), DONTNEED: getattr(mmap, "MADV_DONTNEED", None)}
_FADVICE = {WILLNEED: "POSIX_FADV_WILLNEED", DONTNEED: "POSIX_FADV_DONTNEED", "random": "POSIX_FADV_RANDOM",
            "sequential": "POSIX_FADV_SEQUENTIAL"}


def advise_mapping(raw: mmap.mmap, start: int, length: int, kind: str) -> None:
    """Advise the kernel about ``[start, start + length)`` of the mapping `raw` (no-op where unsupported)."""
    advice = _MADVICE.get(kind)
    if not CAPABILITIES.madvise or advice is None or length <= 0:
        return
    aligned = max(0, start - start % mmap.PAGESIZE)
    end = min(start + length, len(raw))
    if end <= aligned:
        return
    madvise = getattr(raw, "madvise", None)  # absent on Windows (and typed so for mypy --platform win32)
    if madvise is None:
        return
    try:
        madvise(advice, aligned, end - aligned)
    except (OSError, ValueError):
        pass


def advise_file(fd: int, start: int, length: int, kind: str) -> None:
    """``posix_fadvise`` a byte range of a descriptor (no-op where unsupported)."""
    name = _FADVICE.get(kind)
    if name is not None:
        _advise(fd, start, max(0, length), name)


def _advise(fd: int, offset: int, length: int, advice_name: str) -> bool:
    if not CAPABILITIES.fadvise:
        return False
    advice = getattr(os, advice_name, None)
    fadvise = getattr(os, "posix_fadvise", None)  # Linux, FreeBSD: not macOS or Windows
    if advice is None or fadvise is None:
        return False
    try:
        fadvise(fd, offset, length, advice)
    except OSError:  # e.g. a pipe or a file system that refuses advice
        return False
    return True


def set_random_access(fd: int, random: bool = True) -> bool:
    """Turn the descriptor's read-ahead off (`random` True) or back to normal.

    Parameters
    ----------
    fd : int
        An open descriptor.
    random : bool
        True: ``POSIX_FADV_RANDOM`` (each read fetches only its pages);
        False: ``POSIX_FADV_NORMAL``.
    """
    return _advise(fd, 0, 0, "POSIX_FADV_RANDOM" if random else "POSIX_FADV_NORMAL")


def will_need(fd: int, offset: int, length: int) -> bool:
    """Start reading a byte range into the page cache in the background (``POSIX_FADV_WILLNEED``)."""
    return _advise(fd, offset, length, "POSIX_FADV_WILLNEED")


def drop_cached(fd: int, offset: int = 0, length: int = 0) -> bool:
    """Drop the range's clean, unmapped pages from the page cache (``POSIX_FADV_DONTNEED``).

    A length of 0 means "to the end of the file". Used by benchmarks to read a
    file cold without dropping the whole system's caches.
    """
    return _advise(fd, offset, length, "POSIX_FADV_DONTNEED")


def drop_file_cache(path: str | os.PathLike[str]) -> bool:
    """:func:`drop_cached` for a whole file, by name."""
    if not CAPABILITIES.fadvise:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return drop_cached(fd)
    finally:
        os.close(fd)


def advise(mapping: object, start: int, length: int, kind: str) -> bool:
    """:func:`advise_mapping` for a ``numpy.memmap`` or ``mmap.mmap``; True if the advice was given.

    `start` is a file offset (a ``numpy.memmap`` made with an offset is
    shifted accordingly); an unknown kind raises ValueError, anything else the
    platform cannot do returns False (advice never raises: it is only a hint).
    """
    if kind not in _MADVICE:
        raise ValueError(f"advice must be one of {', '.join(_MADVICE)}, not {kind!r}")
    raw = getattr(mapping, "_mmap", mapping)
    if not isinstance(raw, mmap.mmap) or not CAPABILITIES.madvise or _MADVICE[kind] is None or length <= 0:
        return False
    start -= int(getattr(mapping, "offset", 0) or 0)
    if start < 0 or start >= len(raw):
        return False
    advise_mapping(raw, start, length, kind)
    return True
