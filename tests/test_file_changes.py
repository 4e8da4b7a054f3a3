"""Files that change while open: clear errors, never SIGBUS.

A read lease makes another process's open-for-write wait while Cinemap
replaces its mapping by zero pages (views stay valid) and marks the document
changed; without a lease, ``fstat`` checks before each frame catch size and
mtime changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from viewer.model import FileChangedError, open_document
from viewer.model.platform import CAPABILITIES
from viewer.model.storage import lease
from viewer.synthetic import frame_index_of, write_cine


@pytest.fixture
def cine(tmp_path):
    return write_cine(tmp_path / "c.dcm", frames=20, rows=64, columns=64)


def _run(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def test_lease_break_neutralises_mapping_and_marks_document_changed(cine):
    if not CAPABILITIES.leases:
        pytest.skip("needs kernel read leases (Linux; off in portable mode)")
    if not lease.install_handler():
        pytest.skip("the SIGIO handler can only be installed from the main thread")
    with open_document(cine) as doc:
        if not doc.has_lease:
            pytest.skip("the kernel refused a read lease here")
        view = doc.frame(19)
        assert frame_index_of(view) == 19
        result = _run(f"open({str(cine)!r}, 'r+b').truncate(100)")
        assert result.returncode == 0, result.stderr
        assert "writing or truncating" in doc.changed_on_disk
        assert int(np.asarray(view).sum()) == 0, "old views read zeros instead of faulting"
        with pytest.raises(FileChangedError, match="reload"):
            doc.frame(0)


def test_same_size_rewrite_is_detected_by_mtime(cine):
    with open_document(cine, file_access="read") as doc:  # no lease: the fstat defence alone
        doc.frame(0)
        time.sleep(0.01)
        with open(cine, "r+b") as handle:
            handle.seek(doc.pixel_offset)
            handle.write(b"\x00\x01")
        with pytest.raises(FileChangedError, match="modified"):
            doc.frame(0)
        assert doc.changed_on_disk


def test_truncation_without_lease_is_caught_before_reading(cine):
    with open_document(cine, file_access="read") as doc:
        with open(cine, "r+b") as handle:
            handle.truncate(doc.pixel_offset + 100)
        with pytest.raises(FileChangedError):
            doc.frame(15)


PLAYER = textwrap.dedent(
    """
    import json, sys, time
    from viewer.model import DicomError, FileChangedError, open_document
    from viewer.model.storage import lease
    lease.install_handler()
    path, seconds = sys.argv[1], float(sys.argv[2])
    changes = frames = reopen_failures = 0
    leased = False
    end = time.monotonic() + seconds
    doc = None
    while time.monotonic() < end:
        try:
            if doc is None:
                doc = open_document(path)
                leased = leased or doc.has_lease
            for k in range(doc.num_frames):
                int(doc.frame(k).sum())
                frames += 1
        except FileChangedError:
            changes += 1
            if doc is not None:
                doc.close(); doc = None
        except DicomError:
            reopen_failures += 1
            if doc is not None:
                doc.close(); doc = None
            time.sleep(0.001)
    print(json.dumps(dict(changes=changes, frames=frames, reopen_failures=reopen_failures, leased=leased)))
    """
)

MUTATOR = textwrap.dedent(
    """
    import os, sys, time
    path, rounds = sys.argv[1], int(sys.argv[2])
    original = open(path, 'rb').read()
    for i in range(rounds):
        kind = i % 3
        if kind == 0:
            with open(path, 'r+b') as f: f.truncate(len(original) // 3)
        elif kind == 1:
            with open(path, 'wb') as f: f.write(original)
        else:
            with open(path, 'ab') as f: f.write(b'\\0' * 4096)
        time.sleep(0.005)
    with open(path, 'wb') as f: f.write(original)
    print('done')
    """
)


@pytest.mark.slow
def test_race_truncate_rewrite_append_200_times_never_kills_the_reader(tmp_path):
    path = write_cine(tmp_path / "race.dcm", frames=200, rows=128, columns=128)
    player = subprocess.Popen([sys.executable, "-c", PLAYER, str(path), "6"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    mutator = _run(MUTATOR.replace("sys.argv[1], int(sys.argv[2])", f"{str(path)!r}, 200"), timeout=120)
    assert mutator.returncode == 0, mutator.stderr
    out, err = player.communicate(timeout=120)
    assert player.returncode == 0, f"the reader died (return code {player.returncode}): {err[-2000:]}"
    report = json.loads(out.strip().splitlines()[-1])
    assert report["frames"] > 0
    assert report["changes"] + report["reopen_failures"] > 0, report


def test_without_a_lease_nothing_is_mapped_and_held_frames_survive_truncation(cine):
    with open_document(cine, file_access="read") as doc:
        assert doc.file.mapping is None and not doc.is_memmapped
        held = doc.frame(19)  # e.g. a read-ahead thread's frame
        with open(cine, "r+b") as handle:
            handle.truncate(doc.pixel_offset + 100)
        with pytest.raises(FileChangedError):
            doc.frame(0)
        assert frame_index_of(held) == 19, "a frame read before the truncation keeps its pixels"


def test_library_use_from_a_worker_thread_reads_instead_of_mapping(cine):
    """No SIGIO handler can be installed from a worker thread: no lease, so no mapping (a fresh process)."""
    script = textwrap.dedent(f"""
        import json, threading
        from viewer.model import open_document
        from viewer.synthetic import frame_index_of
        seen = {{}}
        def worker():
            with open_document({str(cine)!r}) as doc:
                seen.update(mapped=doc.file.mapping is not None or doc.is_memmapped, lease=doc.has_lease,
                            index=frame_index_of(doc.frame(7)), reason=doc.file_access_reason)
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        print(json.dumps(seen))
    """)
    result = _run(script)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["index"] == 7 and not seen["mapped"] and not seen["lease"], seen
    assert "positional reads" in seen["reason"]


def test_second_editor_is_told_who_holds_the_lock(cine):
    from viewer.model import LockedError

    lease.install_handler()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from viewer.model import open_document; "
         f"d = open_document({str(cine)!r}, writable=True); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with open_document(cine) as doc:
            with pytest.raises(LockedError, match=f"pid {holder.pid}"):
                doc.set_writable(True)
    finally:
        holder.kill()
        holder.wait()


def _leases_or_skip():
    from viewer.model.platform import CAPABILITIES

    if not CAPABILITIES.leases or not lease.install_handler():
        pytest.skip("needs kernel read leases (Linux, main thread)")


def test_a_break_while_the_lease_is_being_granted_is_not_missed(cine, monkeypatch):
    """A writer opens the file the moment the lease is granted: its SIGIO is handled, not lost.

    Lost, the writer would wait for the kernel's lease-break time (45 s) and
    then truncate under a mapping nobody neutralised.
    """
    from viewer.model.platform import leases as platform_leases

    _leases_or_skip()
    granted = platform_leases.set_lease
    writers = []

    def set_lease_then_writer(fd, kind):
        granted(fd, kind)
        if kind != platform_leases.LEASE_READ or writers:
            return
        writers.append(subprocess.Popen([sys.executable, "-c", f"open({str(cine)!r}, 'r+b').close()"]))
        deadline = time.monotonic() + 30
        while platform_leases.get_lease(fd) == platform_leases.LEASE_READ and time.monotonic() < deadline:
            time.sleep(0.01)  # until the kernel starts breaking the lease
        lease._on_sigio(0, None)  # the handler runs now, before try_acquire has returned

    monkeypatch.setattr(platform_leases, "set_lease", set_lease_then_writer)
    with open_document(cine) as doc:
        assert writers and writers[0].wait(timeout=30) == 0, "the writer was let through"
        assert not doc.has_lease and doc.file.mapping is None
        with pytest.raises(FileChangedError):
            doc.frame(0)


def test_a_lease_broken_before_its_mapping_exists_leaves_the_file_unmapped(cine, monkeypatch):
    """The writer came after the lease and before the mapping: the mapping is not kept (it was not protected)."""
    from viewer.model.storage.opened import OpenedFile

    _leases_or_skip()
    real_map = OpenedFile.map

    def break_then_map(self):
        for held in list(lease._leases):
            held.on_break()  # what the SIGIO handler does: the mapping does not exist yet
            held.release()
        return real_map(self)

    monkeypatch.setattr(OpenedFile, "map", break_then_map)
    with open_document(cine) as doc:
        assert doc.file.mapping is None and not doc.is_memmapped and not doc.has_lease
        with pytest.raises(FileChangedError):
            doc.frame(0)  # the break said another program writes the file
