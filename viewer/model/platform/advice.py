"""Page-cache advice on a file descriptor (``posix_fadvise``), a no-op where missing.

Why it matters here: walking the item headers of an encapsulated Pixel Data
value reads a few bytes every few tens of kilobytes. With the kernel's
default read-ahead, every such read pulls in 128 KiB or more, so indexing a
4.8 GB file read the whole file. Random-access advice makes each read cost
the page it touches. The advice applies to the open file description (all
reads through that descriptor), so it is switched back to normal once the
index is complete.

Every function returns True if the advice was given, False where the
platform has no ``posix_fadvise`` (Windows, macOS, portable mode): the
callers work the same without it, only reading more.
"""

from __future__ import annotations

import os

from viewer.model.platform import CAPABILITIES


def _advise(fd: int, offset: int, length: int, advice_name: str) -> bool:
    if not CAPABILITIES.fadvise:
        return False
    advice = getattr(os, advice_name, None)
    if advice is None:
        return False
    try:
        os.posix_fadvise(fd, offset, length, advice)
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
