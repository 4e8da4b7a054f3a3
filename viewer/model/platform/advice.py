"""Read-ahead advice for mapped and read files, where the OS offers it.

``madvise`` (Linux, macOS, BSD) tells the kernel which pages of a mapping
will be read soon (``WILLNEED``: one request instead of a fault per page) or
not again (``DONTNEED``: the pages leave the process, staying in the page
cache). ``posix_fadvise`` does the same for a descriptor read with
positional reads (``RANDOM``: no readahead for small scattered reads, such as
item headers of compressed pixel data). Elsewhere, and in portable mode,
these are no-ops: advice changes speed, never results.
"""

from __future__ import annotations

import mmap
import os

from viewer.model.platform import CAPABILITIES

WILLNEED = "willneed"
DONTNEED = "dontneed"
_MADVICE = {WILLNEED: getattr(mmap, "MADV_WILLNEED", None), DONTNEED: getattr(mmap, "MADV_DONTNEED", None)}
_FADVICE = {
    WILLNEED: getattr(os, "POSIX_FADV_WILLNEED", None),
    DONTNEED: getattr(os, "POSIX_FADV_DONTNEED", None),
    "random": getattr(os, "POSIX_FADV_RANDOM", None),
    "sequential": getattr(os, "POSIX_FADV_SEQUENTIAL", None),
}


def advise_mapping(raw: mmap.mmap, start: int, length: int, kind: str) -> None:
    """Advise the kernel about ``[start, start + length)`` of the mapping `raw` (no-op where unsupported)."""
    advice = _MADVICE.get(kind)
    if not CAPABILITIES.madvise or advice is None or length <= 0:
        return
    aligned = max(0, start - start % mmap.PAGESIZE)
    end = min(start + length, len(raw))
    if end <= aligned:
        return
    try:
        raw.madvise(advice, aligned, end - aligned)
    except (OSError, ValueError):
        pass


def advise_file(fd: int, start: int, length: int, kind: str) -> None:
    """``posix_fadvise`` a byte range of a descriptor (no-op where unsupported)."""
    advice = _FADVICE.get(kind)
    fadvise = getattr(os, "posix_fadvise", None)
    if not CAPABILITIES.madvise or advice is None or fadvise is None:
        return
    try:
        fadvise(fd, start, max(0, length), advice)
    except OSError:
        pass
