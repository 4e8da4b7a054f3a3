"""How a document may touch its file: mapped (under a read lease), or read.

On local disks Cinemap maps the file, but only under a kernel read lease
(:mod:`viewer.model.storage.guard`): without one, another program truncating
the file would turn the next touch of a mapped page into SIGBUS. On network,
user-space and removable file systems (NFS, SMB/CIFS, FUSE, a USB stick, an
SD card, a disc) an I/O error on a mapped page is SIGBUS
(``EXCEPTION_IN_PAGE_ERROR`` on Windows) even under a lease; SQLite keeps
memory-mapping off by default for the same reason. There, "automatic"
access reads with positional reads instead, and a short read becomes a
clean :class:`~viewer.model.errors.TruncatedFileError`. Which volume a file
is on comes from :func:`viewer.model.platform.filesystems.volume_of`
(``/proc/mounts`` and ``/sys`` on Linux, ``statfs`` on macOS, the drive type
on Windows).
"""

from __future__ import annotations

from viewer.model.platform import filesystems
from viewer.model.platform.filesystems import NETWORK_FILESYSTEMS, filesystem_type

__all__ = ["AUTOMATIC", "FILE_ACCESS_CHOICES", "MEMORY_MAP", "NETWORK_FILESYSTEMS", "READ", "READ_PREFIX",
           "UNLEASED_REASON", "filesystem_type", "is_risky_filesystem", "resolve_access"]

AUTOMATIC, MEMORY_MAP, READ = "automatic", "memory-map", "read"
FILE_ACCESS_CHOICES = (AUTOMATIC, MEMORY_MAP, READ)
READ_PREFIX = "read with positional reads"
UNLEASED_REASON = f"{READ_PREFIX}: no read lease can protect a mapping here"


def is_risky_filesystem(fstype: str) -> bool:
    """True where a mapped page can fail with SIGBUS on an I/O error (network and FUSE file systems)."""
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
    volume = filesystems.volume_of(path, device)
    if volume.network or volume.fuse or is_risky_filesystem(volume.fstype):
        return READ, f"{READ_PREFIX}: the file is on a {volume.fstype} file system, where mapping is unsafe"
    if volume.removable:
        return READ, (f"{READ_PREFIX}: the file is on removable media ({volume.removable}), "
                      "where mapping is unsafe if the drive is removed")
    return MEMORY_MAP, f"memory-mapped ({volume.fstype or 'local'} file system)"
