"""The edit lock: refused with the holder's pid, survives other opens of the path, dies with its holder."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from dicom_builders import write_dicom as build_dicom
from viewer.model import open_document
from viewer.model.errors import LockedError
from viewer.model.platform import locking
from viewer.model.storage.filelock import acquire_edit_lock, lock_info_path

needs_os_lock = pytest.mark.skipif(locking.os_lock_method() is None,
                                   reason="needs an OS file lock (flock or LockFileEx); this run has lock files only")
needs_flock = pytest.mark.skipif(locking.os_lock_method() != locking.FLOCK, reason="needs flock (POSIX)")
needs_signals = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals (SIGKILL, SIGTERM)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A process that takes the lock (or a bare flock, without the info file), says so, and waits.
HOLDER = """
import os, sys
from viewer.model.storage.filelock import acquire_edit_lock
fd = os.open(sys.argv[1], os.O_RDWR)
if sys.argv[2] == "bare":
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
else:
    acquire_edit_lock(fd, sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""

# A process that tries to take the lock and prints the outcome.
TRY_LOCK = """
import os, sys
from viewer.model.errors import LockedError
from viewer.model.storage.filelock import acquire_edit_lock
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    acquire_edit_lock(fd, sys.argv[1]).release()
    print("acquired")
except LockedError as exc:
    print("refused:", exc)
"""


def write_dicom(path) -> None:
    build_dicom(path, np.arange(128, dtype=np.uint16).reshape(2, 8, 8))


@pytest.fixture
def dicom_path(tmp_path):
    path = str(tmp_path / "locked.dcm")
    write_dicom(path)
    return path


@pytest.fixture
def descriptors():
    opened = []

    def open_fd(path, flags=os.O_RDWR) -> int:
        opened.append(os.open(path, flags))
        return opened[-1]

    yield open_fd
    for fd in opened:
        os.close(fd)


@pytest.fixture
def holder():
    """Start a process holding the lock on a path; it is killed (by pid) at the end."""
    started = []

    def start(path, how: str = "lock") -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLDER, path, how], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True, cwd=REPO,
                                   env={**os.environ, "PYTHONPATH": REPO})
        started.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdin.close()
        process.stdout.close()


def try_lock_in_another_process(path) -> str:
    result = subprocess.run([sys.executable, "-c", TRY_LOCK, path], capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_second_process_is_refused_with_the_holders_pid(dicom_path, holder, descriptors):
    process = holder(dicom_path)
    with pytest.raises(LockedError) as raised:
        acquire_edit_lock(descriptors(dicom_path), dicom_path)
    message = str(raised.value)
    assert f"pid {process.pid} (user " in message and "being edited by" in message
    assert "read-only" in message and raised.value.path == dicom_path


def test_the_info_file_names_the_holder_and_is_private(dicom_path, descriptors):
    lock = acquire_edit_lock(descriptors(dicom_path), dicom_path)
    info_path = lock_info_path(dicom_path)
    assert os.path.basename(info_path) == ".locked.dcm.cinemap-lock"
    assert os.stat(info_path).st_mode & 0o777 == 0o600
    with open(info_path) as stream:
        info = json.load(stream)
    assert info["pid"] == os.getpid() and {"user", "host", "started"} <= set(info)
    lock.release()
    lock.release()  # idempotent
    assert not os.path.exists(info_path)


def test_a_second_descriptor_in_the_same_process_is_refused_too(dicom_path, descriptors):
    with acquire_edit_lock(descriptors(dicom_path), dicom_path):
        with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
            acquire_edit_lock(descriptors(dicom_path, os.O_RDONLY), dicom_path)
    acquire_edit_lock(descriptors(dicom_path), dicom_path).release()


def test_the_lock_survives_pydicom_opening_and_closing_the_path(dicom_path, descriptors):
    """A POSIX fcntl lock would be dropped by pydicom's close(); an flock is not."""
    with acquire_edit_lock(descriptors(dicom_path), dicom_path):
        dataset = pydicom.dcmread(dicom_path)
        assert dataset.pixel_array.shape == (2, 8, 8)
        with open(dicom_path, "rb") as stream:
            stream.read(16)
        assert try_lock_in_another_process(dicom_path).startswith(f"refused: {dicom_path}: the file is being edited by pid {os.getpid()}")
    assert try_lock_in_another_process(dicom_path) == "acquired"


def test_a_killed_holder_releases_the_lock_and_its_info_is_ignored(dicom_path, holder, descriptors):
    process = holder(dicom_path)
    process.kill()
    process.wait(timeout=30)
    assert os.path.exists(lock_info_path(dicom_path))  # left behind by the killed holder
    lock = acquire_edit_lock(descriptors(dicom_path), dicom_path)
    with open(lock_info_path(dicom_path)) as stream:
        assert json.load(stream)["pid"] == os.getpid()
    lock.release()


def dead_pid() -> int:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(dead.stdout)


@needs_flock
def test_a_stale_info_file_does_not_name_the_wrong_holder(dicom_path, holder, descriptors):
    with open(lock_info_path(dicom_path), "w") as stream:
        json.dump({"pid": dead_pid(), "user": "ghost", "host": socket.gethostname(), "started": "long ago"}, stream)
    process = holder(dicom_path, "bare")  # holds the flock but writes no info file
    with pytest.raises(LockedError) as raised:
        acquire_edit_lock(descriptors(dicom_path), dicom_path)
    assert f"pid {process.pid}" in str(raised.value) and "ghost" not in str(raised.value)


def test_the_lock_works_on_a_read_only_descriptor(dicom_path, descriptors):
    """flock needs no write access: the document may lock before it reopens for writing."""
    with acquire_edit_lock(descriptors(dicom_path, os.O_RDONLY), dicom_path):
        assert try_lock_in_another_process(dicom_path).startswith("refused")


@needs_os_lock
def test_closing_the_descriptor_releases_the_lock(dicom_path):
    fd = os.open(dicom_path, os.O_RDWR)
    acquire_edit_lock(fd, dicom_path)
    os.close(fd)
    assert try_lock_in_another_process(dicom_path) == "acquired"


# ------------------------------------------------- left-over info files (issue 10)
@needs_signals
def test_sigterm_removes_the_info_file(dicom_path, holder):
    process = holder(dicom_path)
    assert os.path.exists(lock_info_path(dicom_path))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == -signal.SIGTERM  # still dies of SIGTERM, as without the handler
    assert not os.path.exists(lock_info_path(dicom_path))


def test_a_killed_editors_info_file_is_removed_by_the_next_open(dicom_path, holder):
    process = holder(dicom_path)
    process.kill()
    process.wait(timeout=60)
    assert os.path.exists(lock_info_path(dicom_path))  # nothing runs in a process killed with SIGKILL
    with open_document(dicom_path) as document:  # read-only: no lock taken
        assert document.num_frames == 2
    assert not os.path.exists(lock_info_path(dicom_path))


def test_the_next_open_keeps_a_live_holders_info_file(dicom_path, holder):
    holder(dicom_path)
    with open_document(dicom_path):
        pass
    assert os.path.exists(lock_info_path(dicom_path))


# ------------------------------------------------- the lock-file fallback (network shares)
@pytest.fixture
def os_lock_refused(monkeypatch):
    """The OS lock fails as on a share without locking (ENOLCK): the lock file is the lock."""
    def refuse(fd, method):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(locking, "_os_try_lock", refuse)


def test_the_lock_file_is_the_lock_where_the_os_lock_fails(dicom_path, descriptors, os_lock_refused):
    lock = acquire_edit_lock(descriptors(dicom_path), dicom_path)
    assert lock.method == locking.LOCK_FILE
    with open(lock_info_path(dicom_path)) as stream:
        assert json.load(stream)["method"] == locking.LOCK_FILE
    with pytest.raises(LockedError, match=f"being edited by pid {os.getpid()} .*read-only"):
        acquire_edit_lock(descriptors(dicom_path), dicom_path)
    lock.release()
    assert not os.path.exists(lock_info_path(dicom_path))
    acquire_edit_lock(descriptors(dicom_path), dicom_path).release()


def test_a_dead_holders_lock_file_is_taken_over(dicom_path, descriptors, os_lock_refused):
    with open(lock_info_path(dicom_path), "w") as stream:
        json.dump({"pid": dead_pid(), "user": "ghost", "host": socket.gethostname(), "started": "long ago",
                   "method": locking.LOCK_FILE}, stream)
    with acquire_edit_lock(descriptors(dicom_path), dicom_path) as lock:
        assert locking.read_info(lock_info_path(dicom_path))["pid"] == os.getpid() == lock.held.info["pid"]


def test_a_lock_file_from_another_host_is_trusted_and_named(dicom_path, descriptors, os_lock_refused):
    with open(lock_info_path(dicom_path), "w") as stream:
        json.dump({"pid": 4242, "user": "ann", "host": "ws-elsewhere", "started": "09:00",
                   "method": locking.LOCK_FILE}, stream)
    with pytest.raises(LockedError) as raised:
        acquire_edit_lock(descriptors(dicom_path), dicom_path)
    assert "pid 4242 (user ann on host ws-elsewhere" in str(raised.value)
    assert f"delete {lock_info_path(dicom_path)}" in str(raised.value)


@needs_os_lock
def test_an_os_lock_honours_a_live_lock_file(dicom_path, descriptors):
    """A process on another machine that had to fall back on the lock file is not ignored."""
    with open(lock_info_path(dicom_path), "w") as stream:
        json.dump({"pid": 4242, "user": "ann", "host": "ws-elsewhere", "started": "09:00",
                   "method": locking.LOCK_FILE}, stream)
    with pytest.raises(LockedError, match="host ws-elsewhere"):
        acquire_edit_lock(descriptors(dicom_path), dicom_path)
    assert try_lock_in_another_process(dicom_path).startswith("refused")  # our OS lock was given back


def test_an_empty_lock_file_is_busy_while_fresh_and_abandoned_when_old(dicom_path, descriptors, os_lock_refused):
    """A lock file only a file system without hard links can show half-written; its writer may be dead."""
    info_path = lock_info_path(dicom_path)
    open(info_path, "w").close()
    with pytest.raises(LockedError, match="another process"):
        acquire_edit_lock(descriptors(dicom_path), dicom_path)
    old = os.stat(info_path).st_mtime - 3600
    os.utime(info_path, (old, old))
    acquire_edit_lock(descriptors(dicom_path), dicom_path).release()
    assert not os.path.exists(info_path)
