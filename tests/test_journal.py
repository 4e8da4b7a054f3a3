"""The rollback journal: its format, recovery after a crash, and failures during a save (no Qt)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import pydicom
import pytest

from dicom_builders import write_dicom as build_dicom
from viewer.model.editing import journal
from viewer.model.editing.edits import EditSession
from viewer.model.errors import DicomError, FileChangedError, ReadOnlyError, SaveError
from viewer.model.platform import locking, positional

NOBODY = 65534
BOX_BYTES = 20 * (42 - 5) * (45 - 3) * 2  # Opened's mask: rows 5..41, columns 3..44, all 20 frames


# ---------------------------------------------------------------- helpers
def write_dicom(path, pixels: np.ndarray) -> None:
    """A native little-endian multi-frame 16-bit MONOCHROME2 file holding `pixels` (frames, rows, cols)."""
    build_dicom(path, pixels.astype(np.uint16))


def sha256(path) -> str:
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


class Opened:
    """A 20-frame 64 x 48 file opened as the document does, with an edit on every frame pending."""

    def __init__(self, path, frames: int = 20) -> None:
        self.path = str(path)
        self.pixels = np.random.default_rng(1).integers(0, 4000, (frames, 64, 48), dtype=np.uint16)
        write_dicom(self.path, self.pixels)
        self.offset = pydicom.dcmread(self.path, defer_size=1024)["PixelData"].file_tell
        self.frames = np.memmap(self.path, mode="r", dtype="<u2", offset=self.offset, shape=self.pixels.shape)
        self.fd = os.open(self.path, os.O_RDWR)
        self.session = EditSession(self.path, self.fd, self.frames, pixel_offset=self.offset)
        self.mask = np.zeros((64, 48), bool)
        self.mask[5:40, 3:30] = True
        self.mask[41, 44] = True
        self.session.apply_mask(self.mask, 4095, None, label="Mask region")
        self.original = sha256(self.path)
        self.journal_path = journal.journal_path_for(self.path)
        _journals.add(self.journal_path)

    def close(self) -> None:
        os.close(self.fd)

    def expected_new(self) -> np.ndarray:
        new = self.pixels.copy()
        new[:, self.mask] = 4095
        return new


@pytest.fixture
def opened(tmp_path):
    items = []

    def make(path=None, frames: int = 20) -> Opened:
        items.append(Opened(path or tmp_path / f"scan{len(items)}.dcm", frames))
        return items[-1]

    yield make
    for item in items:
        item.close()


def crash_at(item: Opened, step: str) -> None:
    """Save in a forked child that dies at `step`, leaving the file and journal as a kill would."""
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork (POSIX) to crash a save in a child process")
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        def die_at(name: str) -> None:
            if name == step:
                os._exit(0)

        try:
            item.session.save(_step_hook=die_at)
        finally:
            os._exit(3)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the child did not reach {step}"


@contextlib.contextmanager
def read_only_bind_mount(source):
    """`source` mounted again, read-only, at a new directory (skip if mounts are not allowed)."""
    target = tempfile.mkdtemp(prefix="cinemap-ro-")
    bound = subprocess.run(["mount", "--bind", str(source), target], capture_output=True).returncode == 0
    if not bound or subprocess.run(["mount", "-o", "remount,bind,ro", target], capture_output=True).returncode:
        if bound:
            subprocess.run(["umount", target], check=False)
        os.rmdir(target)
        pytest.skip("cannot make a read-only bind mount here (needs root and CAP_SYS_ADMIN)")
    try:
        yield target
    finally:
        subprocess.run(["umount", target], check=False)
        os.rmdir(target)


def fails_for(real, predicate, error: int, times: int | None = None):
    """Wrap os function `real` to raise OSError(`error`) when `predicate(fd)` holds (`times` times at most)."""
    state = {"left": times}

    def fake(fd, *args):
        if predicate(fd) and (state["left"] is None or state["left"] > 0):
            if state["left"] is not None:
                state["left"] -= 1
            raise OSError(error, os.strerror(error))
        return real(fd, *args)

    return fake


def is_journal(fd: int) -> bool:
    """True if `fd` is open on a journal (found among the journals that exist now)."""
    try:
        opened = os.fstat(fd)
    except OSError:
        return False
    for path in _journals:
        try:
            status = os.stat(path)
        except OSError:
            continue
        if (status.st_dev, status.st_ino) == (opened.st_dev, opened.st_ino):
            return True
    return False


_journals: set[str] = set()  # every Opened item's journal path, for is_journal


# ------------------------------------------------------------------ format
def test_journal_format_mode_and_identity(opened):
    item = opened()
    seen = {}

    def inspect(step: str) -> None:
        if step == "journal-written":
            seen["mode"] = os.stat(item.journal_path).st_mode & 0o777
            with open(item.journal_path, "rb") as stream:
                seen["data"] = stream.read()

    stats = item.session.save(_step_hook=inspect)
    data = seen["data"]
    assert seen["mode"] == 0o600
    magic, version, _flags, dev, ino, size, name_length = struct.unpack_from("<8sHHQQQH", data)
    status = os.stat(item.path)
    assert (magic, version) == (b"CINEMAPJ", 1)
    assert (dev, ino, size) == (status.st_dev, status.st_ino, status.st_size)
    header_end = 38 + name_length + 4
    assert data[38:38 + name_length] == os.path.basename(item.path).encode()
    assert struct.unpack_from("<I", data, 38 + name_length)[0] == zlib.crc32(data[:38 + name_length])
    count, total, records_crc, commit = struct.unpack_from("<QQI8s", data, len(data) - 28)
    assert commit == b"CMJCOMMT" and (count, total) == (stats.regions, stats.bytes_written)
    # Walk the records: each holds the original bytes of one changed range.
    position, headers, stored = header_end, b"", item.pixels.tobytes()
    for _ in range(count):
        offset, length, crc = struct.unpack_from("<QII", data, position)
        headers += data[position:position + 16]
        original = data[position + 16:position + 16 + length]
        assert zlib.crc32(original) == crc
        assert stored[offset - item.offset:offset - item.offset + length] == original
        position += 16 + length
    assert position == len(data) - 28 and zlib.crc32(headers) == records_crc
    assert total == BOX_BYTES  # the rows of the mask's bounding box, nothing else
    assert not os.path.exists(item.journal_path)


def test_journal_and_save_cost_scale_with_the_edit(opened):
    item = opened(frames=200)
    item.session.revert()
    one_pixel = np.zeros((64, 48), bool)
    one_pixel[10, 10] = True
    item.session.apply_mask(one_pixel, 1, 150)
    stats = item.session.save()
    assert (stats.regions, stats.bytes_written) == (1, 2) and stats.journal_bytes < 200


# ---------------------------------------------------------------- recovery
def test_no_journal_means_nothing_to_recover(opened):
    assert journal.recover(opened().path) is None


@pytest.mark.parametrize("step", ["journal-written", "mid-write", "before-delete"])
def test_a_complete_journal_rolls_back_exactly(opened, step):
    item = opened()
    crash_at(item, step)
    assert os.path.exists(item.journal_path)
    if step != "journal-written":
        assert sha256(item.path) != item.original  # the crash left new bytes in the file
    report = journal.recover(item.path)
    assert report.action == "restored" and report.regions > 0 and report.bytes_restored == BOX_BYTES
    assert "put back exactly as it was" in report.message and "edits that save was writing are gone" in report.message
    assert sha256(item.path) == item.original
    assert not os.path.exists(item.journal_path)
    assert journal.recover(item.path) is None


@pytest.mark.parametrize("step", ["journal-created", "journal-records"])
def test_an_incomplete_journal_is_discarded(opened, step):
    item = opened()
    crash_at(item, step)
    assert os.path.exists(item.journal_path)
    report = journal.recover(item.path)
    assert report.action == "discarded" and "before it changed the file" in report.message
    assert sha256(item.path) == item.original and not os.path.exists(item.journal_path)


@pytest.mark.parametrize("step", ["journal-invalidated", "journal-deleted"])
def test_a_crash_after_the_commit_point_keeps_the_new_bytes(opened, step):
    item = opened()
    crash_at(item, step)
    report = journal.recover(item.path)
    assert (report is None) == (step == "journal-deleted")
    if report is not None:
        assert report.action == "discarded"
    np.testing.assert_array_equal(pydicom.dcmread(item.path).pixel_array, item.expected_new())


def test_a_corrupt_record_is_refused_and_nothing_is_written(opened):
    item = opened()
    crash_at(item, "mid-write")
    with open(item.journal_path, "r+b") as stream:
        stream.seek(os.path.getsize(item.journal_path) // 2)
        byte = stream.read(1)
        stream.seek(-1, os.SEEK_CUR)
        stream.write(bytes([byte[0] ^ 0xFF]))
    after_crash = sha256(item.path)
    with pytest.raises(DicomError, match="damaged.*not changed"):
        journal.recover(item.path)
    assert sha256(item.path) == after_crash and os.path.exists(item.journal_path)


def test_a_journal_of_another_file_is_refused_and_kept(opened, tmp_path):
    item = opened()
    crash_at(item, "mid-write")
    with open(item.path, "ab") as stream:
        stream.write(b"\0\0")  # same inode, different size: not the file the journal describes
    after_crash = sha256(item.path)
    with pytest.raises(DicomError, match=r"cinemap-journal.*different file"):
        journal.recover(item.path)
    assert sha256(item.path) == after_crash and os.path.exists(item.journal_path)


def test_a_live_save_in_another_process_is_left_alone(opened):
    item = opened()
    crash_at(item, "mid-write")
    holder = os.open(item.journal_path, os.O_RDONLY)
    held = locking.acquire(holder, journal.journal_lock_path_for(item.path), describe=False)  # as the saver holds it
    try:
        after_crash = sha256(item.path)
        assert journal.recover(item.path).action == "in-progress"
        assert sha256(item.path) == after_crash
    finally:
        held.release()
        os.close(holder)
    assert journal.recover(item.path).action == "restored"
    assert sha256(item.path) == item.original


def test_a_crashed_save_by_another_process_makes_the_session_refuse(opened):
    item = opened()
    crash_at(item, "mid-write")  # another process wrote into the file
    with pytest.raises(FileChangedError, match="modified by another program"):
        item.session.save()
    assert item.session.dirty


def test_save_refuses_while_a_replayable_journal_exists(opened, monkeypatch):
    item = opened()
    monkeypatch.setattr(os, "fsync", fails_for(os.fsync, lambda fd: fd == item.fd, errno.EIO))
    with pytest.raises(SaveError, match="journal .* was kept"):
        item.session.save()  # the rollback failed too: the journal stays for the next open
    monkeypatch.undo()
    with pytest.raises(SaveError, match="earlier, unfinished save.*reopen"):
        item.session.save()
    assert item.session.dirty
    assert journal.recover(item.path).action == "restored"  # as the next open does
    assert sha256(item.path) == item.original


def test_a_left_over_incomplete_journal_does_not_block_a_save(opened):
    item = opened()
    crash_at(item, "journal-records")
    item.session.save()
    np.testing.assert_array_equal(pydicom.dcmread(item.path).pixel_array, item.expected_new())


# ------------------------------------------------------- failures in a save
def test_no_space_while_writing_the_journal(opened, monkeypatch):
    item = opened()
    monkeypatch.setattr(os, "write", fails_for(os.write, is_journal, errno.ENOSPC))
    with pytest.raises(SaveError) as raised:
        item.session.save()
    assert raised.value.problem == (
        "no space left on device while writing the journal; the file is unchanged and your edits are still pending"
    )
    monkeypatch.undo()
    assert sha256(item.path) == item.original and not os.path.exists(item.journal_path)
    assert item.session.dirty and item.session.can_undo


def test_no_space_in_the_middle_of_the_in_place_write(opened, monkeypatch):
    item = opened()
    real = positional.pwrite_some
    calls = {"n": 0}

    def short_then_full(fd, data, offset):
        if fd == item.fd:
            calls["n"] += 1
            if calls["n"] == 3:
                return real(fd, bytes(data)[: len(data) // 2], offset)  # a short write first
            if calls["n"] == 4:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(positional, "pwrite_some", short_then_full)
    with pytest.raises(SaveError, match="no space left on device while writing the file; the original bytes were restored"):
        item.session.save()
    monkeypatch.undo()
    assert sha256(item.path) == item.original and not os.path.exists(item.journal_path)
    assert item.session.dirty
    item.session.save()
    np.testing.assert_array_equal(pydicom.dcmread(item.path).pixel_array, item.expected_new())


def test_short_writes_are_continued(opened, monkeypatch):
    item = opened()
    real = positional.pwrite_some
    monkeypatch.setattr(positional, "pwrite_some", lambda fd, data, offset: real(fd, data[:7], offset))
    item.session.save()
    monkeypatch.undo()
    np.testing.assert_array_equal(pydicom.dcmread(item.path).pixel_array, item.expected_new())


def test_a_failed_fsync_is_not_retried_the_journal_is_replayed(opened, monkeypatch):
    item = opened()
    log = []
    real_fsync, real_pwrite = os.fsync, positional.pwrite_some
    failing = fails_for(real_fsync, lambda fd: fd == item.fd, errno.EIO, times=1)

    def fsync(fd):
        log.append(("fsync", fd))
        return failing(fd)

    def pwrite(fd, data, offset):
        log.append(("pwrite", fd))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(positional, "pwrite_some", pwrite)
    with pytest.raises(SaveError, match="input/output error while flushing the file to disk; the original bytes were restored"):
        item.session.save()
    monkeypatch.undo()
    file_calls = [name for name, fd in log if fd == item.fd]
    failed_at = file_calls.index("fsync")
    # After the failed fsync: the journal's bytes are written back before the file is fsynced again.
    assert file_calls[failed_at + 1] == "pwrite" and file_calls[-1] == "fsync"
    assert sha256(item.path) == item.original and item.session.dirty
    assert not os.path.exists(item.journal_path)


def test_if_even_the_rollback_fails_the_journal_restores_at_the_next_open(opened, monkeypatch):
    item = opened()
    monkeypatch.setattr(os, "fsync", fails_for(os.fsync, lambda fd: fd == item.fd, errno.EIO))
    with pytest.raises(SaveError, match="restoring the original bytes also failed.*was kept.*next time it is opened"):
        item.session.save()
    monkeypatch.undo()
    assert os.path.exists(item.journal_path) and item.session.dirty
    assert journal.recover(item.path).action == "restored"
    assert sha256(item.path) == item.original


def test_a_failing_journal_fsync_leaves_the_file_untouched(opened, monkeypatch):
    item = opened()
    monkeypatch.setattr(os, "fsync", fails_for(os.fsync, is_journal, errno.EIO))
    with pytest.raises(SaveError, match="input/output error while flushing the journal to disk; the file is unchanged"):
        item.session.save()
    monkeypatch.undo()
    assert sha256(item.path) == item.original and not os.path.exists(item.journal_path)


@pytest.mark.parametrize("step", ["mid-write", "before-delete"])
def test_an_error_late_in_the_save_is_rolled_back(opened, step):
    item = opened()

    def fail(name: str) -> None:
        if name == step:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(SaveError, match="original bytes were restored"):
        item.session.save(_step_hook=fail)
    assert sha256(item.path) == item.original and item.session.dirty
    assert not os.path.exists(item.journal_path)


def test_an_interrupt_during_the_write_is_rolled_back_and_reraised(opened):
    item = opened()

    def interrupt(name: str) -> None:
        if name == "mid-write":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        item.session.save(_step_hook=interrupt)
    assert sha256(item.path) == item.original and item.session.dirty


@contextlib.contextmanager
def small_tmpfs(size: str):
    """A fresh tmpfs of `size` (skip if mounts are not allowed); unmounted afterwards."""
    mount_point = tempfile.mkdtemp(prefix="cinemap-tmpfs-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mount_point], capture_output=True).returncode:
        os.rmdir(mount_point)
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", mount_point], capture_output=True).returncode:
            subprocess.run(["umount", "-l", mount_point], check=False)  # still mapped: detach it
        os.rmdir(mount_point)


def save_on_a_full_file_system(mount_point: str) -> None:
    path = os.path.join(mount_point, "full.dcm")
    pixels = np.random.default_rng(2).integers(0, 4000, (20, 256, 256), dtype=np.uint16)
    write_dicom(path, pixels)
    offset = pydicom.dcmread(path, defer_size=1024)["PixelData"].file_tell
    frames = np.memmap(path, mode="r", dtype="<u2", offset=offset, shape=pixels.shape)
    fd = os.open(path, os.O_RDWR)
    try:
        session = EditSession(path, fd, frames, pixel_offset=offset)
        session.apply_mask(np.ones((256, 256), bool), 7)
        before = sha256(path)
        with pytest.raises(SaveError, match="no space left on device while writing the journal; the file is unchanged"):
            session.save()
        assert sha256(path) == before and session.dirty
        assert not os.path.exists(journal.journal_path_for(path))
    finally:
        os.close(fd)


def test_a_real_full_file_system():
    """A 3 MB tmpfs holding a 2.6 MB file has no room for a 2.6 MB journal."""
    with small_tmpfs("3m") as mount_point:
        save_on_a_full_file_system(mount_point)  # its mapping is gone when it returns


# ------------------------------------------------------------- read-only
def test_read_only_mount_refuses_write_mode_journal_and_recovery(opened, tmp_path):
    item = opened()
    with read_only_bind_mount(tmp_path) as read_only_dir:
        read_only_path = os.path.join(read_only_dir, os.path.basename(item.path))
        with pytest.raises(OSError) as raised:
            os.open(read_only_path, os.O_RDWR)
        assert raised.value.errno == errno.EROFS
        read_only_fd = os.open(read_only_path, os.O_RDONLY)
        try:
            with pytest.raises(ReadOnlyError, match="open read-only"):
                EditSession(read_only_path, read_only_fd, item.frames, pixel_offset=item.offset)
        finally:
            os.close(read_only_fd)
        # Writable descriptor, but the journal would go into a read-only directory.
        session = EditSession(read_only_path, item.fd, item.frames, pixel_offset=item.offset)
        session.apply_mask(item.mask, 1)
        with pytest.raises(SaveError, match="read-only file system while creating the journal; the file is unchanged"):
            session.save()
        assert sha256(item.path) == item.original
        # An interrupted save cannot be undone through a read-only mount: say so, touch nothing.
        crash_at(item, "mid-write")
        after_crash = sha256(item.path)
        with pytest.raises(DicomError, match="cannot be (opened for writing|locked).*Read-only file system"):
            journal.recover(read_only_path)
        assert sha256(item.path) == after_crash
    assert journal.recover(item.path).action == "restored"


def run_as_nobody(function, *args) -> str:
    """Call `function(*args)` in a forked child running as user nobody; what it returns, or its error."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                outcome = repr(function(*args))
            except Exception as exc:  # reported to the parent
                outcome = f"{type(exc).__name__}: {exc}"
            os.write(write_end, outcome.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        outcome = stream.read().decode()
    os.waitpid(pid, 0)
    return outcome


def test_recovery_as_a_user_without_write_permission(opened):
    """chmod 0444 does not stop root, so the recovery runs as user nobody (in a forked child)."""
    if getattr(os, "getuid", lambda: -1)() != 0:
        pytest.skip("needs root to switch to user nobody")
    directory = tempfile.mkdtemp(prefix="cinemap-perm-")
    try:
        os.chmod(directory, 0o755)
        item = opened(os.path.join(directory, "scan.dcm"))
        crash_at(item, "mid-write")
        os.chmod(item.path, 0o444)
        after_crash = sha256(item.path)
        outcome = run_as_nobody(journal.recover, item.path)
        assert outcome.startswith("DicomError") and "cannot be read: Permission denied" in outcome  # 0600 journal
        os.chown(item.journal_path, NOBODY, NOBODY)  # now nobody can read it, but not write the file
        outcome = run_as_nobody(journal.recover, item.path)
        # Portable mode locks the journal with a lock file first, which needs the folder: refused one step earlier.
        assert outcome.startswith("DicomError") and re.search(r"cannot be (opened for writing|locked) \(Permission denied\)", outcome)
        assert "open it once as a user who can write to it" in outcome
        assert sha256(item.path) == after_crash and os.path.exists(item.journal_path)
        assert journal.recover(item.path).action == "restored"  # root can
        assert sha256(item.path) == item.original
    finally:
        shutil.rmtree(directory, ignore_errors=True)
