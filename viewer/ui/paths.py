"""Where Cinemap keeps files of its own: the cache folder (demo, decoded frames) and the log."""

from __future__ import annotations

import os

from PySide6.QtCore import QStandardPaths

CACHE_VARIABLE = "CINEMAP_CACHE_DIR"


def cache_folder() -> str:
    """``$CINEMAP_CACHE_DIR`` or ``~/.cache/cinemap`` (the generic cache location)."""
    override = os.environ.get(CACHE_VARIABLE)
    if override:
        return override
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericCacheLocation)
    return os.path.join(base, "cinemap")


def log_folder() -> str:
    """The ``log`` folder inside :func:`cache_folder`."""
    return os.path.join(cache_folder(), "log")
