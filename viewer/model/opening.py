"""``open_document``: the entry point of the model for scripts, the viewer and the command line."""

from __future__ import annotations

import os

from viewer.model.document import DEFAULT_CACHE_BYTES, DEFAULT_MEMMAP_THRESHOLD, Document
from viewer.model.storage import fileaccess


def open_document(
    path: str | os.PathLike[str],
    *,
    memmap_threshold: int = DEFAULT_MEMMAP_THRESHOLD,
    writable: bool = False,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    file_access: str = fileaccess.AUTOMATIC,
    disk_cache_dir: str | os.PathLike[str] | None = None,
    disk_cache_bytes: int = 0,
) -> "Document":
    """Open a DICOM file, parsing its header and leaving its large values in the file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    memmap_threshold : int
        Binary values longer than this many bytes are left in the file
        (mapped or read on demand) instead of read (default 1 MiB).
    writable : bool
        Open in read/write mode (takes the edit lock); see :meth:`Document.set_writable`.
    cache_bytes : int
        Budget of the decoded-frame cache (compressed files).
    file_access : {"automatic", "memory-map", "read"}
        "automatic" maps the file under a read lease except on network, FUSE
        and removable file systems, where an I/O error on a mapped page would
        be SIGBUS; there, and wherever no lease can be had, frames are read
        with positional reads. "memory-map" maps wherever a lease can be had.
    disk_cache_dir, disk_cache_bytes : optional
        Keep decoded frames of compressed files in a scratch file there
        (:mod:`viewer.model.storage.diskcache`), at most this many bytes in total.

    Returns
    -------
    Document
        Usable as a context manager; :meth:`Document.close` releases every handle.

    Raises
    ------
    DicomError
        (or a subclass) for anything wrong with the file, naming the file.
    """
    disk = (os.fspath(disk_cache_dir), int(disk_cache_bytes)) if disk_cache_dir and disk_cache_bytes > 0 else None
    document = Document(os.fspath(path), memmap_threshold=memmap_threshold, cache_bytes=cache_bytes,
                        file_access=file_access, disk_cache_settings=disk)
    if writable:
        try:
            document.set_writable(True)
        except BaseException:
            document.close()
            raise
    return document


__all__ = ["open_document"]
