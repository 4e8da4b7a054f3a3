"""File access modes: memory-map on local disks, preadv where mapping is unsafe."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.pixels import pixel_array

from viewer.model import FileChangedError, TruncatedFileError, open_document
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
    import viewer.model.storage.fileaccess as fileaccess

    monkeypatch.setattr(fileaccess, "filesystem_type", lambda path: "nfs4")
    assert resolve_access("/x.dcm")[0] == "read"
    assert "nfs4" in resolve_access("/x.dcm")[1]
    monkeypatch.setattr(fileaccess, "filesystem_type", lambda path: "ext4")
    assert resolve_access("/x.dcm")[0] == "memory-map"
    assert resolve_access("/x.dcm", "read")[0] == "read"
    with pytest.raises(ValueError):
        resolve_access("/x.dcm", "sometimes")


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
