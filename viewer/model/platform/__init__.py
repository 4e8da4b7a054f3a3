"""What the operating system offers, behind capabilities with fallbacks.

Cinemap runs on Linux, Windows and macOS. Every call that exists on only
some of them lives in this package, behind a capability flag of
:data:`CAPABILITIES` and a fallback that keeps the same guarantees (see the
README's platform table). Nothing else in :mod:`viewer.model` may call
``fcntl``, ``os.pread``/``os.preadv``/``os.pwrite``, ``madvise``,
``/proc`` or SIGIO directly.

Portable mode
-------------
``CINEMAP_PORTABLE=1`` in the environment switches every Linux-only
capability off (as if on a platform without them), so that the fallbacks
are exercised on this Linux machine: the test suite runs once more in this
mode in CI.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

PORTABLE = os.environ.get("CINEMAP_PORTABLE", "") not in ("", "0")
"""True when every Linux-only capability is switched off (``CINEMAP_PORTABLE=1``)."""

WINDOWS = sys.platform == "win32"
MACOS = sys.platform == "darwin"
LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class Capabilities:
    """What this process may use. Each flag has a fallback where it is False."""

    positional_io: bool
    """``os.pread``/``os.preadv``/``os.pwrite`` (POSIX)."""
    preadv: bool
    """``os.preadv`` into a caller's buffer (Linux, BSD; not macOS before 11)."""
    madvise: bool
    """``mmap.madvise`` read-ahead advice."""
    fadvise: bool = False
    """``os.posix_fadvise`` page-cache advice on a descriptor (POSIX, not macOS or Windows)."""


def _capabilities() -> Capabilities:
    if PORTABLE:
        return Capabilities(positional_io=False, preadv=False, madvise=False, fadvise=False)
    import mmap

    return Capabilities(
        positional_io=hasattr(os, "pread") and hasattr(os, "pwrite"),
        preadv=hasattr(os, "preadv"),
        madvise=hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_WILLNEED"),
        fadvise=hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_RANDOM"),
    )


CAPABILITIES = _capabilities()
