"""Another program truncates and rewrites a file 1,000 times while Cinemap reads it: no process dies, ever.

Readers run at once in one process: in the main thread and in worker
threads; leased (mapped, the SIGIO handler installed) and unleased (read
mode); read-only and read/write; one holds views of frames across changes
and keeps reading them. A second process opens its documents from a worker
thread without any SIGIO handler (library use: no lease, positional reads).
Whatever the interleaving, a reader sees frames, or a DicomError it
recovers from by reopening; the process exits normally and every reader
read frames and saw changes. SIGBUS or SIGSEGV would end the process with a
negative return code.
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
from viewer.synthetic import frame_index_of, write_cine
from viewer.synthetic.encapsulated import write_encapsulated_cine

ROUNDS = 1000

READERS = textwrap.dedent(
    """
    import json, random, sys, threading, time
    from viewer.model import DicomError, open_document
    from viewer.model.storage import lease

    path, stop_file, with_handler = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    if with_handler:
        lease.install_handler()
    stop = threading.Event()
    reports = {}

    def reader(name, **options):
        writable = options.pop("writable", False)
        hold_views = options.pop("hold_views", False)
        report = reports[name] = dict(frames=0, errors=0, leased=0, views_read=0)
        rng = random.Random(name)
        held = []
        doc = None
        while not stop.is_set():
            try:
                if doc is None:
                    doc = open_document(path, **options)
                    if writable:
                        doc.set_writable(True)
                    report["leased"] += doc.has_lease
                if not doc.num_frames:  # opened while the file was rewritten, cut before its Pixel Data
                    raise IndexError("no frames yet")
                for _ in range(20):
                    frame = doc.frame(rng.randrange(doc.num_frames))
                    int(frame.sum())
                    report["frames"] += 1
                    if hold_views:
                        held = (held + [frame])[-8:]
                for view in held:  # views handed out before a change: zeros or pixels, never a fault
                    int(view.sum())
                    report["views_read"] += 1
            except (DicomError, IndexError):
                report["errors"] += 1
                if doc is not None:
                    doc.close()
                    doc = None
                time.sleep(0.001)
        if doc is not None:
            doc.close()

    configurations = {
        "worker-mapped": dict(file_access="memory-map"),
        "worker-read": dict(file_access="read"),
        "worker-writable": dict(writable=True),
        "worker-views": dict(file_access="memory-map", hold_views=True),
    }
    threads = [threading.Thread(target=reader, args=(name,), kwargs=dict(options), name=name)
               for name, options in configurations.items()]
    for thread in threads:
        thread.start()
    import os
    main = "main-mapped" if with_handler else "main-read"
    try:  # whatever happens here, the readers stop: the process ends (a failure, never a hang)
        while not os.path.exists(stop_file):
            # The main thread reads too (and runs the SIGIO handler between its bytecodes).
            stop_after = time.monotonic() + 0.2
            reports.setdefault(main, dict(frames=0, errors=0, leased=0, views_read=0))
            try:
                # Without the handler the main thread reads too: a main-thread open would install it.
                with open_document(path, file_access="memory-map" if with_handler else "read") as doc:
                    reports[main]["leased"] += doc.has_lease
                    if not doc.num_frames:  # opened while the file was rewritten, cut before its Pixel Data
                        raise IndexError("no frames yet")
                    while time.monotonic() < stop_after:
                        int(doc.frame(random.randrange(doc.num_frames)).sum())
                        reports[main]["frames"] += 1
            except (DicomError, IndexError):
                reports[main]["errors"] += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    print(json.dumps(reports))
    """
)

MUTATOR = textwrap.dedent(
    """
    import sys, time
    path, rounds = sys.argv[1], int(sys.argv[2])
    original = open(path, "rb").read()
    for i in range(rounds):
        kind = i % 4
        if kind == 0:
            with open(path, "r+b") as f: f.truncate(len(original) // 3)
        elif kind == 1:
            with open(path, "wb") as f: f.write(original)
        elif kind == 2:
            with open(path, "r+b") as f: f.truncate(len(original) - 4096)
        else:
            with open(path, "wb") as f: f.write(original)
        time.sleep(0.002)
    with open(path, "wb") as f: f.write(original)
    print("done")
    """
)


def _race(tmp_path, path, with_handler: bool) -> dict:
    stop_file = tmp_path / f"stop-{with_handler}"
    readers = subprocess.Popen([sys.executable, "-c", READERS, str(path), str(stop_file), "1" if with_handler else "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        mutator = subprocess.run([sys.executable, "-c", MUTATOR, str(path), str(ROUNDS)], capture_output=True,
                                 text=True, timeout=600)
        assert mutator.returncode == 0, mutator.stderr
    finally:
        time.sleep(0.5)  # let every reader see the restored file once more
        stop_file.write_text("stop")
    out, err = readers.communicate(timeout=600)
    assert readers.returncode == 0, f"the readers' process died (return code {readers.returncode}): {err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("with_handler", [True, False], ids=["sigio-handler", "library-no-handler"])
def test_1000_truncate_and_rewrite_rounds_never_kill_a_reader(tmp_path, with_handler):
    path = write_cine(tmp_path / "race.dcm", frames=40, rows=128, columns=128)
    reports = _race(tmp_path, path, with_handler)
    for name, report in reports.items():
        assert report["frames"] > 0, (name, report)
    assert sum(report["errors"] for report in reports.values()) > 0, reports  # the changes were seen
    if not with_handler:
        assert all(report["leased"] == 0 for report in reports.values()), reports
    assert reports["worker-views"]["views_read"] > 0


def test_a_change_on_disk_is_never_served_from_the_caches(tmp_path):
    """A compressed frame cached before another program rewrote the file is not served after."""
    path = tmp_path / "c.dcm"
    write_encapsulated_cine(path, frames=6, rows=64, columns=64, syntax="rle")
    with open_document(path) as doc:
        first = np.array(doc.frame(2))
        assert doc.cache.get(2) is not None
        time.sleep(0.01)
        data = path.read_bytes()
        path.write_bytes(data)  # same bytes, new modification time: another program's write
        with pytest.raises(FileChangedError):
            doc.frame(2)
    with open_document(path) as doc:
        np.testing.assert_array_equal(doc.frame(2), first)


def test_frames_of_a_closed_document_stay_valid_and_protected(tmp_path):
    """A view outlives close; its lease lives with it, so a truncation afterwards is still no SIGBUS."""
    path = write_cine(tmp_path / "v.dcm", frames=6, rows=64, columns=64)
    script = textwrap.dedent(f"""
        import subprocess, sys
        from viewer.model import open_document
        from viewer.model.storage import lease
        from viewer.synthetic import frame_index_of
        lease.install_handler()
        doc = open_document({str(path)!r})
        leased = doc.has_lease
        view = doc.frame(4)
        doc.close()
        before = frame_index_of(view)
        subprocess.run([sys.executable, "-c", "open({str(path)!r}, 'r+b').truncate(10)"], check=True)
        total = int(view.sum())  # zeros once the lease broke, never a fault
        print(leased, before, total)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    leased, before, total = result.stdout.split()
    assert before == "4"
    if leased == "True":
        assert total == "0"
    assert frame_index_of is not None
