"""How the document touches the file: memory mapping, or plain reads.

On local disks Cinemap maps the file (:mod:`numpy.memmap`). On network and
user-space file systems (NFS, SMB/CIFS, FUSE, ...) an I/O error on a mapped
page is delivered as SIGBUS, which kills the process; SQLite keeps
memory-mapping off by default for the same reason. There, "automatic" access
reads with ``os.preadv`` instead, and a short read becomes a clean
:class:`~viewer.model.errors.TruncatedFileError`.

:class:`PreadArray` is the read-mode stand-in for a ``uint8`` mapping: it
supports ``len``, ``shape`` and slicing, and every slice is one ``preadv``.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from viewer.model.errors import TruncatedFileError

AUTOMATIC, MEMORY_MAP, READ = "automatic", "memory-map", "read"
FILE_ACCESS_CHOICES = (AUTOMATIC, MEMORY_MAP, READ)
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
        "davfs", "sshfs", "beegfs", "ocfs2", "gfs2", "virtiofs", "vboxsf", "vmhgfs", "prl_fs",
    }
)


def filesystem_type(path: str, mounts_file: str = "/proc/mounts") -> str:
    """The file system type of the mount holding `path` ("" if unknown)."""
    try:
        target = os.path.realpath(path)
        with open(mounts_file, encoding="utf-8", errors="replace") as handle:
            entries = [line.split() for line in handle]
    except OSError:
        return ""
    best, best_type = "", ""
    for fields in entries:
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        prefix = mount_point.rstrip("/") + "/"
        if (target == mount_point or target.startswith(prefix) or mount_point == "/") and len(mount_point) > len(best):
            best, best_type = mount_point, fields[2]
    return best_type


_FSTYPE_BY_DEVICE: dict[int, str] = {}


def _filesystem_type_cached(path: str, device: int | None = None) -> str:
    """:func:`filesystem_type`, remembered per device (reading /proc/mounts costs ~0.1 ms an open)."""
    if device is None:
        try:
            device = os.stat(path).st_dev
        except OSError:
            return filesystem_type(path)
    if device not in _FSTYPE_BY_DEVICE:
        _FSTYPE_BY_DEVICE[device] = filesystem_type(path)
    return _FSTYPE_BY_DEVICE[device]


def is_risky_filesystem(fstype: str) -> bool:
    """True where a mapped page can fail with SIGBUS on an I/O error."""
    return fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse")


def resolve_access(path: str, requested: str = AUTOMATIC, device: int | None = None) -> tuple[str, str]:
    """(mode, reason): MEMORY_MAP or READ, and why, for a user to read.

    `device` is the file's ``st_dev`` if the caller has it (saves a ``stat``).
    """
    if requested not in FILE_ACCESS_CHOICES:
        raise ValueError(f"file access must be one of {', '.join(FILE_ACCESS_CHOICES)}, not {requested!r}")
    if requested == MEMORY_MAP:
        return MEMORY_MAP, "memory-mapped (chosen in Settings)"
    if requested == READ:
        return READ, "read with preadv (chosen in Settings)"
    fstype = _filesystem_type_cached(path, device)
    if is_risky_filesystem(fstype):
        return READ, f"read with preadv: the file is on a {fstype} file system, where mapping is unsafe"
    return MEMORY_MAP, f"memory-mapped ({fstype or 'local'} file system)"


def map_file(path: str, fd: int, size: int) -> np.memmap:
    """The whole file mapped read-only from an open descriptor, as a ``uint8`` ``numpy.memmap``.

    What ``numpy.memmap(fileobj, mode="r")`` builds (the same attributes:
    ``_mmap``, ``offset``, ``mode``, ``filename``), without a Python file
    object and numpy's seeks: 3 us instead of 12, a fifth of opening a plain
    file. The descriptor is the one whose identity the document checked, so
    no other file can slip in between.
    """
    raw = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    mapping = np.ndarray.__new__(np.memmap, (size,), np.uint8, buffer=raw)
    mapping._mmap = raw
    mapping.offset = 0
    mapping.mode = "r"
    mapping.filename = os.path.abspath(path)
    return mapping


def read_exact(path: str, fd: int, offset: int, length: int) -> bytearray:
    """`length` bytes at `offset`, or TruncatedFileError if the file is shorter now."""
    buffer = bytearray(length)
    view = memoryview(buffer)
    done = 0
    while done < length:
        count = os.preadv(fd, [view[done:]], offset + done)
        if count == 0:
            raise TruncatedFileError(
                path, f"the file ends at byte {offset + done}, but {length} bytes were expected from byte {offset}"
            )
        done += count
    return buffer


class PreadArray:
    """A read-on-demand, ``uint8``-array-like window of a file.

    Parameters
    ----------
    path : str
        For error messages.
    fd : int
        An open descriptor (owned by the caller).
    offset, length : int
        The window in the file.
    """

    def __init__(self, path: str, fd: int, offset: int, length: int) -> None:
        self.path = path
        self.fd = fd
        self.offset = offset
        self.length = length
        self.shape = (length,)
        self.dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("PreadArray supports contiguous slices only")
        start, stop, _ = key.indices(self.length)
        if stop <= start:
            return np.zeros(0, dtype=np.uint8)
        return np.frombuffer(read_exact(self.path, self.fd, self.offset + start, stop - start), dtype=np.uint8)

    def window(self, start: int, length: int) -> "PreadArray":
        """A lazy sub-window (nothing is read)."""
        return PreadArray(self.path, self.fd, self.offset + start, max(0, min(length, self.length - start)))

    def tobytes(self) -> bytes:
        return bytes(self[:])
