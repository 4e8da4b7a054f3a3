"""Element values left in the file.

A binary value larger than the document's threshold is never read at open:
the dataset holds a :class:`MappedValue` in its place, a read-only file-like
over a window of the file (:class:`~viewer.model.storage.opened.FileWindow`:
a view of the mapping while a read lease protects it, positional reads
otherwise). pydicom treats it as a *buffered* value
(``DataElement.is_buffered``), so printing or walking the dataset shows its
``repr`` instead of reading it, and ``dcmwrite`` can still stream it out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any



def format_bytes(nbytes: int) -> str:
    """Return `nbytes` as a short human-readable size ("3.9 GB", "512 KB")."""
    size = float(nbytes)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            if unit == "bytes":
                return f"{int(size)} bytes"
            return f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class MappedValue(io.BufferedIOBase):
    """A read-only, seekable file-like over a memory-mapped element value.

    Parameters
    ----------
    array : FileWindow or numpy.ndarray
        The value's bytes: a window of the file (sliced on demand) or a ``uint8`` array.
    offset : int
        The value's byte offset in the file (for display only).
    """

    def __init__(self, array: Any, offset: int) -> None:
        super().__init__()
        self._array: Any = array
        self.offset = offset
        self.length = int(array.shape[0])
        self._position = 0

    @property
    def array(self) -> Any:
        """The value's bytes: a file window whose slices are ``uint8`` arrays (read on demand)."""
        if self._array is None:
            raise ValueError("the mapping has been closed")
        return self._array

    def __repr__(self) -> str:
        return f"memory-mapped, {format_bytes(self.length)} at offset {self.offset}"

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.length + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        self._position = max(0, position)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = min(self._position, self.length)
        stop = self.length if size is None or size < 0 else min(self.length, start + size)
        self._position = stop
        return self.array[start:stop].tobytes()

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._array = None
        super().close()


@dataclass(frozen=True)
class MappedElement:
    """One data element whose value is memory-mapped instead of read.

    Attributes
    ----------
    tag : int
        The element's tag as an int (``0x7FE00010`` for Pixel Data).
    keyword : str
        Its DICOM keyword, or "" for private and unknown tags.
    vr : str
        Its value representation.
    offset : int
        Byte offset of the value in the file.
    length : int
        Length of the value in bytes (for undefined-length encapsulated pixel
        data, the bytes up to and including the sequence delimiter).
    """

    tag: int
    keyword: str
    vr: str
    offset: int
    length: int
    value: MappedValue | None = field(default=None, compare=False, repr=False)

    @property
    def array(self) -> Any:
        """The value's bytes as a file window (sliced on demand, never read up front)."""
        if self.value is None:
            raise ValueError("element has no mapping")
        return self.value.array

    def describe(self) -> str:
        """Human-readable summary, e.g. "memory-mapped, 3.9 GB at offset 1234"."""
        return f"memory-mapped, {format_bytes(self.length)} at offset {self.offset}"

    @property
    def tag_text(self) -> str:
        """The tag as "(GGGG,EEEE)"."""
        return f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})"
