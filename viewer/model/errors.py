"""Exceptions raised by the model for bad input.

Every error the model raises because of what is in a file derives from
:class:`DicomError` and carries the file's path, so that callers (the GUI's
error dialog, the CLI's one-line message) can show it as it is.
"""

from __future__ import annotations

import os


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
