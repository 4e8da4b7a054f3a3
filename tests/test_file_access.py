"""File access modes: memory-map on local disks, preadv where mapping is unsafe."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pydicom.pixels import pixel_array

from viewer.model import FileChangedError, TruncatedFileError, open_document
from viewer.model.platform import filesystems
from viewer.model.storage.fileaccess import filesystem_type, resolve_access
from viewer.synthetic import frame_index_of, write_cine

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
server:/export /mnt/nfs nfs4 rw,relatime 0 0
//nas/share /mnt/smb cifs rw 0 0
user@host:/data /home/me/remote fuse.sshfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""


@pytest.mark.parametrize(
    "path, fstype",
    [("/mnt/nfs/a/b.dcm", "nfs4"), ("/mnt/smb/x.dcm", "cifs"), ("/home/me/remote/c.dcm", "fuse.sshfs"),
     ("/home/me/local.dcm", "ext4"), ("/tmp/x.dcm", "tmpfs"), ("/mnt/nfsother/x.dcm", "ext4")],
)
def test_filesystem_type_from_mounts(tmp_path, path, fstype):
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert filesystem_type(path, str(mounts)) == fstype


def test_automatic_access_reads_on_network_file_systems(monkeypatch):
    monkeypatch.setattr(filesystems, "volume_of", lambda path, device=None: filesystems.Volume("nfs4", network=True))
    assert resolve_access("/x.dcm")[0] == "read"
    assert "nfs4" in resolve_access("/x.dcm")[1]
    monkeypatch.setattr(filesystems, "volume_of", lambda path, device=None: filesystems.Volume("ext4"))
    assert resolve_access("/x.dcm")[0] == "memory-map"
    assert resolve_access("/x.dcm", "read")[0] == "read"
    with pytest.raises(ValueError):
        resolve_access("/x.dcm", "sometimes")


def test_automatic_access_reads_on_removable_media(monkeypatch):
    """A pulled-out USB stick faults a mapped page (SIGBUS) even under a lease: read there (issue 10)."""
    usb = filesystems.Volume("vfat", removable="a USB device")
    monkeypatch.setattr(filesystems, "volume_of", lambda path, device=None: usb)
    mode, reason = resolve_access("/media/ann/STICK/x.dcm")
    assert mode == "read" and "removable media (a USB device)" in reason


def _fake_sys(root, device: str, real: str, removable: dict[str, str]):
    """A /sys with /sys/dev/block/<device> -> devices/<real>, and `removable` files."""
    target = root / "devices" / real
    target.mkdir(parents=True)
    for folder, value in removable.items():
        (root / "devices" / folder / "removable").write_text(value + "\n")
    (root / "dev" / "block").mkdir(parents=True)
    (root / "dev" / "block" / device).symlink_to(target)
    return str(root)


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs POSIX symlinks for a fake /sys")
@pytest.mark.parametrize(
    "real, removable, expected",
    [
        ("pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1", {}, "a USB device"),
        ("platform/card/block/sdc/sdc1", {"platform/card/block/sdc": "1"}, "a removable drive"),
        ("pci0000:00/0000:00:1c.0/mmc_host/mmc0/mmc0:0001/block/mmcblk0/mmcblk0p1", {}, "an SD card"),
        ("pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda2", {"pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda": "0"}, ""),
    ],
    ids=["usb-disk", "removable-flag", "sd-card", "internal-sata"],
)
def test_removable_block_devices_from_sys(tmp_path, real, removable, expected):
    sys_root = _fake_sys(tmp_path, "8:17", real, removable)
    assert filesystems.linux_removable_reason(os.makedev(8, 17), "/mnt/x", "ext4", sys_root) == expected


def test_removable_hints_without_a_block_device(tmp_path):
    sys_root = str(tmp_path)  # no /sys/dev/block entry: a file system without a block device of its own
    device = os.makedev(0, 45)
    assert filesystems.linux_removable_reason(device, "/run/media/ann/CAMERA", "exfat", sys_root) == "a drive (exfat) mounted under /run/media/ann"
    assert filesystems.linux_removable_reason(device, "/media/ann/DVD", "iso9660", sys_root) == "an optical disc"
    assert filesystems.linux_removable_reason(device, "/home", "btrfs", sys_root) == ""
    assert filesystems.linux_removable_reason(device, "/srv/data", "vfat", sys_root) == ""


def _owns_its_memory(array: np.ndarray) -> bool:
    """True if `array` is (a view of) memory numpy allocated, not a mapping of the file."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array.base is None


@pytest.mark.parametrize(
    "variant",
    [dict(), dict(bits_allocated=8, samples_per_pixel=3, planar_configuration=1), dict(big_endian=True)],
    ids=["grey16", "rgb-planar", "big-endian"],
)
def test_read_mode_frames_equal_pydicom(tmp_path, variant):
    path = write_cine(tmp_path / "c.dcm", frames=6, rows=24, columns=32, **variant)
    with open_document(path, file_access="read") as doc:
        assert doc.file_access == "read" and not doc.is_memmapped and doc.file.mapping is None
        assert doc.edit_refusal() is None, "read mode edits with positional reads and writes"
        for index in range(6):
            frame = doc.frame(index)
            expected = pixel_array(path, index=index)
            assert frame.dtype == expected.dtype and _owns_its_memory(frame)
            np.testing.assert_array_equal(frame, expected)
            np.testing.assert_array_equal(doc.frames[index], expected)  # the lazy stack reads too
            assert frame_index_of(frame) == index


def test_read_mode_file_truncated_underneath_is_a_clean_error(tmp_path):
    path = write_cine(tmp_path / "c.dcm", frames=10, rows=32, columns=32)
    with open_document(path, file_access="read") as doc:
        held = doc.frame(9)
        with open(path, "r+b") as handle:
            handle.truncate(doc.pixel_offset + 2 * 32 * 32 * 2 + 10)
        assert frame_index_of(held) == 9, "frames read before are copies: the truncation cannot touch them"
        with pytest.raises(FileChangedError, match="truncated"):
            doc.frame(1)  # the fstat check sees it first
        # A truncation between the check and the read: the short read is a clean error, not SIGBUS.
        assert frame_index_of(doc.source.frame(1)) == 1
        with pytest.raises(TruncatedFileError, match="ends at byte"):
            doc.source.frame(5)
