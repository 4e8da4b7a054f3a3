"""The log file a user attaches to a bug report, written without Qt.

Errors are for people: the GUI shows a dialog and the CLI prints one line,
and the details (the traceback) go here. The CLI must not need Qt, so the
folder is computed here the way Qt's ``QStandardPaths`` computes the generic
cache location (``viewer.ui.paths`` uses Qt itself; a test keeps the two in
step).
"""

from __future__ import annotations

import datetime
import os
import sys

CACHE_VARIABLE = "CINEMAP_CACHE_DIR"
LOG_NAME = "cinemap.log"
MAX_LOG_BYTES = 1 << 20
"""Past this size the log is renamed to ``cinemap.log.1`` (replacing the older one) and started afresh."""


def _generic_cache_location() -> str:
    """Where ``QStandardPaths.GenericCacheLocation`` points on this platform."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(local, "cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches")
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return xdg if os.path.isabs(xdg) else os.path.join(home, ".cache")


def cache_folder() -> str:
    """``$CINEMAP_CACHE_DIR``, or ``cinemap`` in the platform's cache folder."""
    return os.environ.get(CACHE_VARIABLE) or os.path.join(_generic_cache_location(), "cinemap")


def log_folder() -> str:
    """The ``log`` folder inside :func:`cache_folder`."""
    return os.path.join(cache_folder(), "log")


def log_path(folder: str | None = None) -> str:
    """The log file in `folder` (default :func:`log_folder`)."""
    return os.path.join(folder if folder is not None else log_folder(), LOG_NAME)


def write_log(text: str, folder: str | None = None) -> str | None:
    """Append `text`, stamped with the time, to the log file; return its path.

    Returns None if the file cannot be written: logging must never turn one
    error into two.
    """
    path = log_path(folder)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _rotate(path)
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')}\n{text.rstrip()}\n")
    except OSError:
        return None
    return path


def _rotate(path: str) -> None:
    """Keep the log and one previous log, each about :data:`MAX_LOG_BYTES` at most."""
    try:
        if os.path.getsize(path) >= MAX_LOG_BYTES:
            os.replace(path, path + ".1")
    except OSError:
        pass  # no log yet, or another process rotated it first


def log_failure(headline: str) -> str | None:
    """Write `headline` and the exception being handled, with its traceback, to the log file."""
    import traceback

    return write_log(f"{headline}\n{traceback.format_exc()}")


def report_failure(command: str, path: str, exc: Exception) -> None:
    """Say on stderr in one line why `command` failed on `path`, and log the traceback.

    A :class:`~viewer.model.errors.DicomError` is a problem with the file, in
    words the user understands; anything else is unexpected, so its type is
    named and the log file given (never a traceback for a user).
    """
    from viewer.model.errors import DicomError

    if isinstance(exc, DicomError):
        log_failure(f"{command} {path}: {exc}")
        print(f"cinemap: {exc}", file=sys.stderr)
        return
    log = log_failure(f"{command} {path}: unexpected error")
    where = f" (details in {log})" if log else ""
    print(f"cinemap: {path}: unexpected error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
