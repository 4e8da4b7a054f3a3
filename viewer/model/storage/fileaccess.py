"""How a document may touch its file: mapped (under a read lease), or read.

On local disks Cinemap maps the file, but only under a kernel read lease
(:mod:`viewer.model.storage.guard`): without one, another program truncating
the file would turn the next touch of a mapped page into SIGBUS. On network,
user-space and removable file systems (NFS, SMB/CIFS, FUSE, a USB stick) an
I/O error on a mapped page is SIGBUS even under a lease; SQLite keeps
memory-mapping off by default for the same reason. There, "automatic"
access reads with positional reads instead, and a short read becomes a
clean :class:`~viewer.model.errors.TruncatedFileError`.
"""

from __future__ import annotations

import os

AUTOMATIC, MEMORY_MAP, READ = "automatic", "memory-map", "read"
FILE_ACCESS_CHOICES = (AUTOMATIC, MEMORY_MAP, READ)
READ_PREFIX = "read with positional reads"
UNLEASED_REASON = f"{READ_PREFIX}: no read lease can protect a mapping here"
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
        return READ, f"{READ_PREFIX} (chosen in Settings)"
    fstype = _filesystem_type_cached(path, device)
    if is_risky_filesystem(fstype):
        return READ, f"{READ_PREFIX}: the file is on a {fstype} file system, where mapping is unsafe"
    return MEMORY_MAP, f"memory-mapped ({fstype or 'local'} file system)"
