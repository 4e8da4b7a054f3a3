"""What kind of volume holds a file: network, user-space (FUSE), removable, or local.

A mapped page whose read fails -- a share dropped, a USB stick pulled out,
a FUSE daemon gone -- is delivered as SIGBUS (POSIX) or
``EXCEPTION_IN_PAGE_ERROR`` (Windows), which kills the process, so "File
access: automatic" reads instead of mapping on such volumes
(:func:`viewer.model.storage.fileaccess.resolve_access`).

* Linux: the mount from ``/proc/mounts`` (longest mount point containing the
  path); removable when the block device (``/sys/dev/block/MAJ:MIN``) or its
  disk has ``removable`` set or hangs off a USB or MMC (SD card) controller,
  or -- for file systems without a block device of their own -- when a
  vfat/exfat/NTFS/optical file system is mounted under ``/media`` or
  ``/run/media``, where desktops mount removable drives.
* macOS: ``statfs`` (``f_fstypename``, ``f_flags``) through ctypes: network
  when not ``MNT_LOCAL`` or of a network type; removable for a volume under
  ``/Volumes`` with ``MNT_IGNORE_OWNERSHIP`` (the default for external drives)
  or a FAT/exFAT/NTFS/optical file system.
* Windows: ``GetDriveTypeW`` (removable, CD-ROM, remote) and the file system
  name from ``GetVolumeInformationW``; UNC paths are remote; FAT and exFAT
  volumes (USB sticks and SD cards reported as fixed disks) count as removable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from dataclasses import dataclass

from viewer.model.platform import CAPABILITIES, LINUX, MACOS, PORTABLE, WINDOWS

__all__ = ["NETWORK_FILESYSTEMS", "Volume", "filesystem_type", "linux_removable_reason", "volume_of"]

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
        "davfs", "sshfs", "beegfs", "ocfs2", "gfs2", "virtiofs", "vboxsf", "vmhgfs", "prl_fs",
        # macOS names
        "afpfs", "webdav", "ftp", "nfs3",
    }
)
# File systems of USB sticks, SD cards, external drives and discs.
REMOVABLE_FILESYSTEMS = frozenset({"vfat", "msdos", "exfat", "fat", "fat32", "ntfs", "ntfs3", "fuseblk", "udf",
                                   "iso9660", "cd9660"})
_OPTICAL = frozenset({"iso9660", "udf", "cd9660"})
_MNT_LOCAL = 0x00001000
_MNT_IGNORE_OWNERSHIP = 0x00200000


@dataclass(frozen=True)
class Volume:
    """The volume holding a file, as far as this platform can tell.

    Attributes
    ----------
    fstype : str
        The file system type ("ext4", "nfs4", "apfs", "NTFS"; "" if unknown).
    network, fuse : bool
        On a network share; on a user-space (FUSE) file system.
    removable : str
        Why the volume counts as removable ("a USB device", "a removable
        drive"...), or "" if it does not.
    """

    fstype: str = ""
    network: bool = False
    fuse: bool = False
    removable: str = ""


def filesystem_type(path: str, mounts_file: str = "/proc/mounts") -> str:
    """The file system type of the mount holding `path` on Linux ("" if unknown)."""
    return _linux_mount(path, mounts_file)[1]


def _linux_mount(path: str, mounts_file: str = "/proc/mounts") -> tuple[str, str]:
    """(mount point, file system type) of the mount holding `path`, from a mounts table."""
    try:
        target = os.path.realpath(path)
        with open(mounts_file, encoding="utf-8", errors="replace") as handle:
            entries = [line.split() for line in handle]
    except OSError:
        return "", ""
    best, best_type = "", ""
    for fields in entries:
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        prefix = mount_point.rstrip("/") + "/"
        if (target == mount_point or target.startswith(prefix) or mount_point == "/") and len(mount_point) > len(best):
            best, best_type = mount_point, fields[2]
    return best, best_type


def linux_removable_reason(device: int, mount_point: str, fstype: str, sys_root: str = "/sys") -> str:
    """Why a Linux volume is removable ("" if it is not, as far as ``/sys`` and the mount tell)."""
    if sys.platform == "win32":
        return ""  # no /sys, no device numbers
    if fstype in _OPTICAL:
        return "an optical disc"
    block = os.path.join(sys_root, "dev", "block", f"{os.major(device)}:{os.minor(device)}")
    if os.path.exists(block):
        real = os.path.realpath(block)
        for folder in (real, os.path.dirname(real)):  # the partition, then its disk
            try:
                with open(os.path.join(folder, "removable"), encoding="ascii") as stream:
                    if stream.read().strip() == "1":
                        return "a removable drive"
            except OSError:
                continue
        parts = real.split(os.sep)
        if any(part.startswith("usb") for part in parts):
            return "a USB device"
        if any(part.startswith("mmc") for part in parts):
            return "an SD card"
        return ""
    under_media = mount_point.startswith(("/media/", "/run/media/"))
    if under_media and fstype in REMOVABLE_FILESYSTEMS:
        return f"a drive ({fstype}) mounted under {os.path.dirname(mount_point)}"
    return ""


def _linux_volume(path: str, device: int) -> Volume:
    if not CAPABILITIES.procfs:
        return Volume()
    mount_point, fstype = _linux_mount(path)
    return Volume(fstype, network=fstype in NETWORK_FILESYSTEMS, fuse=fstype.startswith("fuse"),
                  removable=linux_removable_reason(device, mount_point, fstype))


class _StatFs64(ctypes.Structure):
    """macOS ``struct statfs`` (64-bit inode layout, the only one on Apple silicon)."""

    _fields_ = [
        ("f_bsize", ctypes.c_uint32), ("f_iosize", ctypes.c_int32), ("f_blocks", ctypes.c_uint64),
        ("f_bfree", ctypes.c_uint64), ("f_bavail", ctypes.c_uint64), ("f_files", ctypes.c_uint64),
        ("f_ffree", ctypes.c_uint64), ("f_fsid", ctypes.c_int32 * 2), ("f_owner", ctypes.c_uint32),
        ("f_type", ctypes.c_uint32), ("f_flags", ctypes.c_uint32), ("f_fssubtype", ctypes.c_uint32),
        ("f_fstypename", ctypes.c_char * 16), ("f_mntonname", ctypes.c_char * 1024),
        ("f_mntfromname", ctypes.c_char * 1024), ("f_flags_ext", ctypes.c_uint32), ("f_reserved", ctypes.c_uint32 * 7),
    ]


def _macos_volume(path: str) -> Volume:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.dylib", use_errno=True)
    # Intel Macs export the 64-bit-inode layout as statfs$INODE64; Apple silicon only has statfs.
    function = getattr(libc, "statfs$INODE64", None) or libc.statfs
    result = _StatFs64()
    if function(os.fsencode(path), ctypes.byref(result)) != 0:
        return Volume()
    fstype = result.f_fstypename.decode(errors="replace")
    mount_point = result.f_mntonname.decode(errors="replace")
    network = fstype in NETWORK_FILESYSTEMS or not result.f_flags & _MNT_LOCAL
    removable = ""
    if fstype in _OPTICAL:
        removable = "an optical disc"
    elif mount_point.startswith("/Volumes/") and (result.f_flags & _MNT_IGNORE_OWNERSHIP or
                                                  fstype in REMOVABLE_FILESYSTEMS):
        removable = "an external drive"
    return Volume(fstype, network=network, fuse=fstype.startswith(("fuse", "macfuse", "osxfuse")),
                  removable="" if network else removable)


def _windows_volume(path: str) -> Volume:
    if sys.platform != "win32":
        return Volume()
    from viewer.model.platform import _windows

    absolute = os.path.abspath(path)
    _root, drive_type, fstype = _windows.volume_of(absolute)
    network = drive_type == "remote" or absolute.startswith("\\\\")
    removable = ""
    if drive_type in ("removable", "cdrom"):
        removable = f"a {drive_type} drive"
    elif fstype.lower() in REMOVABLE_FILESYSTEMS:
        removable = f"a drive ({fstype})"
    return Volume(fstype, network=network, removable="" if network else removable)


_BY_DEVICE: dict[int, Volume] = {}
_guard = threading.Lock()


def volume_of(path: str, device: int | None = None) -> Volume:
    """The :class:`Volume` holding `path`, remembered per device (``st_dev``, if the caller has it).

    Unknown everywhere (an empty :class:`Volume`) in portable mode and on
    other systems.
    """
    if device is None:
        try:
            device = os.stat(path).st_dev
        except OSError:
            return _detect(path, 0)
    with _guard:
        known = _BY_DEVICE.get(device)
    if known is None:
        known = _detect(path, device)
        with _guard:
            _BY_DEVICE[device] = known
    return known


def _detect(path: str, device: int) -> Volume:
    try:
        if PORTABLE:
            return Volume()
        if LINUX:
            return _linux_volume(path, device)
        if MACOS:
            return _macos_volume(path)
        if WINDOWS:
            return _windows_volume(path)
    except (OSError, ValueError, AttributeError):
        pass
    return Volume()
