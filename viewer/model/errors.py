"""Exceptions raised by the model for bad input.

Every error the model raises because of what is in a file derives from
:class:`DicomError` and carries the file's path, so that callers (the GUI's
error dialog, the CLI's one-line message) can show it as it is.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


class DicomError(Exception):
    """Base class of every error the model raises for bad or unusable input.

    Parameters
    ----------
    path : str or os.PathLike or None
        The file the problem is in.
    problem : str
        What is wrong, in words a user understands.
    """

    def __init__(self, path: str | os.PathLike[str] | None, problem: str) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class NotDicomError(DicomError):
    """The file is not recognisably DICOM."""


class TruncatedFileError(DicomError):
    """The file ends before the data it declares."""


class UnsupportedError(DicomError):
    """The file is DICOM but uses something Cinemap cannot show or edit."""


class FileChangedError(DicomError):
    """The file was changed, truncated or replaced by another process while open."""


class ReadOnlyError(DicomError):
    """An edit or save was attempted on a document that is not writable."""


class LockedError(DicomError):
    """Another process holds the edit lock on the file."""


class SaveError(DicomError):
    """Saving failed; the file is unchanged and the edits are still pending."""


@contextlib.contextmanager
def converted_errors(
    path: str | os.PathLike[str] | None, problem: str, error: type[DicomError] = DicomError, *,
    cut_short: str | None = None,
) -> Iterator[None]:
    """Raise `error` ``(path, f"{problem}: {exc}")`` for whatever a library raises inside; DicomErrors pass.

    pydicom (and FFmpeg) raise many exception types for malformed input --
    ValueError, KeyError, struct.error, NotImplementedError, ... -- so every
    call that parses or converts a file's values goes through this one place,
    which reports the failure as a :class:`DicomError` naming the file.

    Parameters
    ----------
    path : str or os.PathLike or None
        The file the input comes from.
    problem : str
        What could not be done ("cannot parse the DICOM header").
    error : type, optional
        The :class:`DicomError` subclass to raise.
    cut_short : str, optional
        If given, an ``EOFError`` becomes :class:`TruncatedFileError`
        ``(path, f"{cut_short} ({exc})")``: the file ends too early.
    """
    try:
        yield
    except DicomError:
        raise
    except EOFError as exc:
        if cut_short is None:
            raise error(path, f"{problem}: {exc}") from exc
        raise TruncatedFileError(path, f"{cut_short} ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 -- the point of this function
        raise error(path, f"{problem}: {exc}") from exc


def is_decoder_panic(exc: BaseException) -> bool:
    """True for a Rust decoder's report of bad input (pylibjpeg-rle's ``PanicException``).

    pyo3 derives it from BaseException, not Exception, so an ``except
    Exception`` lets it through; it is a decode failure all the same.
    """
    return type(exc).__module__ == "pyo3_runtime"
