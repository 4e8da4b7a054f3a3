"""The opened-file record: descriptor, identity, size, and the mapping when one is safe.

An :class:`OpenedFile` is what a document knows of its file: a read-only
descriptor, the identity (device, inode), size and modification time seen at
open, and -- only while a read lease protects it (:mod:`viewer.model.storage.guard`)
-- a read-only mapping of the whole file.

Two ways to reach the bytes, and who gets which
----------------------------------------------
* :meth:`OpenedFile.read` / :meth:`OpenedFile.read_into`: positional reads
  (``preadv``) into a buffer, always safe: a file truncated meanwhile gives
  a short read, which becomes :class:`~viewer.model.errors.TruncatedFileError`.
* :meth:`OpenedFile.view`: a zero-copy ``uint8`` view of the mapping, only
  while :attr:`OpenedFile.mapping` is set. Touching a mapped page past the end
  of a truncated file is SIGBUS, which no Python code can catch, so the
  mapping exists only under a lease, whose break handler replaces it by zero
  pages before the writer may proceed (:meth:`OpenedFile.unmap`).

:class:`FileWindow` is a byte range of the file that picks the safe way at
each access: a mapping view while mapped, positional reads otherwise. Mapped
element values (:class:`~viewer.model.dicom.mapped.MappedValue`) are windows.
"""

from __future__ import annotations

import mmap
import os
import threading
from typing import Any

import numpy as np

from viewer.model.errors import DicomError, FileChangedError, TruncatedFileError
from viewer.model.platform import positional
from viewer.model.platform.advice import advise_file, advise_mapping
from viewer.model.storage.mapping import MappingLife, map_whole_file


class OpenedFile:
    """A file opened read-only, with its identity, and a mapping while one is safe.

    Parameters
    ----------
    path : str
        The file (for messages and for opening by name).

    Raises
    ------
    DicomError
        If the file cannot be opened.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise DicomError(path, f"cannot open: {exc.strerror}") from exc
        status = os.fstat(self.fd)
        self.size = status.st_size
        self.identity = (status.st_dev, status.st_ino)
        self.mtime_ns = status.st_mtime_ns
        self._raw: mmap.mmap | None = None
        self._life: MappingLife | None = None
        #: The whole file as a read-only ``uint8`` array, only while a lease protects it.
        self.mapping: np.ndarray | None = None
        self._map_lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self.fd is None

    def _descriptor(self) -> int:
        fd = self.fd
        if fd is None:
            raise ValueError("the document is closed")
        return fd

    # ------------------------------------------------------------- reading
    def read_into(self, buffer, offset: int) -> None:
        """Fill `buffer` from file `offset` with positional reads.

        Raises
        ------
        TruncatedFileError
            If the file now ends before the buffer is full.
        """
        wanted = memoryview(buffer).nbytes
        done = positional.pread_into(self._descriptor(), buffer, offset)
        if done != wanted:
            raise TruncatedFileError(
                self.path,
                f"the file ends at byte {offset + done}, but {wanted} bytes were expected from byte {offset}",
            )

    def read(self, offset: int, length: int) -> bytearray:
        """`length` bytes at `offset` (positional read), or TruncatedFileError."""
        buffer = bytearray(length)
        self.read_into(buffer, offset)
        return buffer

    def read_array(self, offset: int, length: int) -> np.ndarray:
        """`length` bytes at `offset` as a new ``uint8`` array."""
        array = np.empty(length, np.uint8)
        self.read_into(array, offset)
        return array

    def window(self, offset: int, length: int) -> "FileWindow":
        """A lazy window ``[offset, offset + length)`` clipped to the file (nothing is read)."""
        offset = min(max(0, offset), self.size)
        return FileWindow(self, offset, min(max(0, length), self.size - offset))

    def view(self, offset: int, length: int) -> np.ndarray | None:
        """A zero-copy ``uint8`` view of the mapping, or None when the file is not mapped."""
        mapping = self.mapping
        if mapping is None:
            return None
        return mapping[offset : offset + length]

    # ------------------------------------------------------------- advice
    def advise(self, offset: int, length: int, kind: str) -> None:
        """Read-ahead advice for a byte range (mapping or descriptor; no-op where unsupported)."""
        raw = self._raw
        if raw is not None:
            advise_mapping(raw, offset, length, kind)
        elif self.fd is not None:
            advise_file(self.fd, offset, length, kind)

    # ------------------------------------------------------------- mapping
    def map(self) -> np.ndarray:
        """Map the whole file read-only (call only under a lease).

        Raises
        ------
        FileChangedError
            If the file no longer has the size seen at open.
        """
        with self._map_lock:
            if self.mapping is not None:
                return self.mapping
            fd = self._descriptor()
            if os.fstat(fd).st_size != self.size:
                raise FileChangedError(self.path, "the file changed size while being opened")
            # A plain ndarray (not a numpy.memmap: slicing a memmap runs Python
            # __array_finalize__, 0.9 us a frame index against 0.08 us), whose
            # views keep the mapping alive (storage.mapping).
            try:
                mapping, self._life = map_whole_file(fd, self.size)
            except (ValueError, OSError) as exc:  # shrunk between the check and the mapping
                raise FileChangedError(self.path, f"the file changed while being opened ({exc})") from exc
            self._raw = self._life.raw
            self.mapping = mapping
            return mapping

    def unmap(self, *, neutralise: bool) -> None:
        """Stop using the mapping.

        With `neutralise`, its pages are replaced by anonymous zero pages at the
        same address first (views handed out read zeros instead of faulting);
        do that whenever the file may change under the views (lease broken or
        given up). The memory itself is released with the last view: an
        explicit ``mmap.close()`` would unmap memory that views still point at.
        """
        life = self._life
        self.mapping = None
        self._raw = None
        self._life = None
        if life is not None and neutralise:
            life.neutralise()

    # ------------------------------------------------------------- closing
    def close(self, lease: Any = None) -> None:
        """Drop the mapping and close the descriptor (idempotent).

        If views of the mapping are still alive (a frame a widget still
        paints), the descriptor and the read `lease` on it are handed to the
        mapping's life (:mod:`viewer.model.storage.mapping`): they stay until
        the last view goes, so those views stay valid and protected.
        """
        life, fd = self._life, self.fd
        # Hand over first, drop references after: a lease break in between
        # must still find the mapping to neutralise (through this object
        # before the hand-over, through the life after it).
        adopted = fd is not None and life is not None and not life.neutralised
        if adopted:
            assert life is not None and fd is not None
            life.adopt(lease, fd)
        self.mapping = None
        self._raw = None
        self._life = None
        self.fd = None
        if fd is not None:
            positional.forget(fd)
        if adopted:
            return
        if lease is not None:
            lease.release()
        if fd is not None:
            os.close(fd)


class FileWindow:
    """A byte range of a file, read the safe way at each access.

    Supports ``len``, ``shape``, ``dtype``, contiguous slicing (a new
    ``uint8`` array, or a zero-copy view while the file is mapped) and
    :meth:`tobytes`, which is what pydicom's decoders and the tag browser use.
    """

    dtype = np.dtype(np.uint8)
    ndim = 1

    def __init__(self, opened: OpenedFile, offset: int, length: int) -> None:
        self.opened = opened
        self.offset = offset
        self.length = length

    @property
    def shape(self) -> tuple[int]:
        return (self.length,)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a file window supports contiguous slices only")
        start, stop, _ = key.indices(self.length)
        if stop <= start:
            return np.zeros(0, dtype=np.uint8)
        view = self.opened.view(self.offset + start, stop - start)
        if view is not None:
            return view
        return self.opened.read_array(self.offset + start, stop - start)

    def window(self, start: int, length: int) -> "FileWindow":
        """A sub-window (nothing is read)."""
        start = min(max(0, start), self.length)
        return FileWindow(self.opened, self.offset + start, max(0, min(length, self.length - start)))

    def tobytes(self) -> bytes:
        return self[:].tobytes()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = self[:]
        return array if dtype is None else array.astype(dtype)


class FileBytes:
    """Small reads and searches anywhere in a file: the mapping while mapped, else cached positional reads.

    For walkers of many small element headers (Per-frame Functional Groups):
    without a mapping, reads go through a few cached 64 KiB blocks, so a
    walk costs one ``pread`` per block, not one per header.
    """

    BLOCK = 1 << 16
    _BLOCKS_KEPT = 16
    _SEARCH_CHUNK = 4 << 20

    def __init__(self, opened: OpenedFile) -> None:
        self.opened = opened
        self.size = opened.size
        self._blocks: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.size

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset` (TruncatedFileError past the end)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise TruncatedFileError(self.opened.path, f"the file ends before byte {offset + length}")
        view = self.opened.view(offset, length)
        if view is not None:
            return view.tobytes()
        if length > self.BLOCK:
            return bytes(self.opened.read(offset, length))
        first, last = offset // self.BLOCK, (offset + length - 1) // self.BLOCK if length else offset // self.BLOCK
        data = b"".join(self._block(index) for index in range(first, last + 1))
        start = offset - first * self.BLOCK
        return data[start : start + length]

    def _block(self, index: int) -> bytes:
        with self._lock:
            block = self._blocks.get(index)
        if block is None:
            start = index * self.BLOCK
            block = bytes(self.opened.read(start, min(self.BLOCK, self.size - start)))
            with self._lock:
                if len(self._blocks) >= self._BLOCKS_KEPT:
                    self._blocks.pop(next(iter(self._blocks)))
                self._blocks[index] = block
        return block

    def find(self, pattern: bytes, start: int, end: int | None = None) -> int:
        """Offset of the first `pattern` in ``[start, end)``, or -1."""
        end = self.size if end is None else min(end, self.size)
        raw = self.opened._raw
        if raw is not None:
            return raw.find(pattern, start, end)
        position = start
        overlap = max(0, len(pattern) - 1)
        while position < end:
            chunk_end = min(end, position + self._SEARCH_CHUNK)
            chunk = bytes(self.opened.read(position, chunk_end - position))
            found = chunk.find(pattern)
            if found >= 0:
                return position + found
            if chunk_end >= end:
                break
            position = chunk_end - overlap
        return -1
