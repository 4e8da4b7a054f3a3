"""The decode pool, without Qt: order, one decode per key, cancel, errors, shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import numpy as np
import pytest
from pydicom import uid

from viewer.model.codecs import FrameDecoder
from viewer.model.codecs.pool import DecodePool, PoolClosedError, default_workers
from viewer.model.errors import DicomError, UnsupportedError
from viewer.model.platform.process import usable_cpus
from viewer.synthetic.codestreams import encode_frames

WAIT = 60.0  # seconds: generous, only a hang reaches it


class GateDecoder:
    """A thread-side decoder that records what it decodes and can be held at a gate."""

    path = "gate.dcm"
    releases_gil = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.decoded: list[bytes] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.concurrent = 0
        self.most_concurrent = 0

    def decode(self, data: bytes, index=None) -> np.ndarray:
        with self.lock:
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
            self.changed.notify_all()
        self.entered.set()
        try:
            assert self.gate.wait(WAIT), "the test never opened the gate"
            if data.startswith(b"fail"):
                raise ValueError("cannot decode this")
            with self.lock:
                self.decoded.append(data)
            return np.frombuffer(data, np.uint8).copy()
        finally:
            with self.lock:
                self.concurrent -= 1

    def decode_reduced(self, data: bytes, factor: int, index=None):
        return self.decode(data, index)[::factor], factor

    def error(self, index, exc):
        return UnsupportedError(self.path, f"cannot decode frame {index}: {exc}")


class CrashingDecoder:
    """Kills the decoder process it runs in (a C decoder crashing on a bad frame)."""

    path = "crash.dcm"
    plugin = "crash"
    releases_gil = False
    options = {"bits_allocated": 8}
    frame_shape = (4, 4)

    def decode(self, data, index=None):
        os._exit(3)

    def error(self, index, exc):
        return UnsupportedError(self.path, str(exc))


def _blocked_pool(decoder: GateDecoder) -> DecodePool:
    """A one-thread pool whose thread is held inside the decode of b"blocker"."""
    pool = DecodePool(1)
    pool.submit("blocker", decoder, b"blocker")
    assert decoder.entered.wait(WAIT)
    return pool


def test_default_workers_leave_a_core_for_the_ui():
    assert default_workers() == max(1, usable_cpus() - 1)
    with pytest.raises(ValueError):
        DecodePool(0)


def test_most_urgent_first_then_in_submission_order():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        wanted = {b"late": 9.0, b"first": 1.0, b"second-a": 2.0, b"second-b": 2.0, b"soon": 1.5}
        futures = [pool.submit(name, decoder, name, priority=priority) for name, priority in wanted.items()]
        decoder.gate.set()
        for future in futures:
            future.result(WAIT)
    assert decoder.decoded == [b"blocker", b"first", b"soon", b"second-a", b"second-b", b"late"]


def test_a_key_in_flight_is_joined_not_decoded_again():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        running = pool.submit("blocker", decoder, b"blocker")  # joins the running decode
        queued = pool.submit("k", decoder, b"k", priority=5)
        again = pool.submit("k", decoder, b"k", priority=5)
        assert again is queued and pool.busy("k") and pool.queued == 1
        decoder.gate.set()
        assert running.result(WAIT).array.tobytes() == b"blocker"
        assert queued.result(WAIT).array.tobytes() == b"k"
        assert pool.decoded == 2
    assert decoder.decoded == [b"blocker", b"k"]
    assert not pool.busy("k")


def test_joining_with_a_higher_priority_moves_the_job_up():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        pool.submit(b"a", decoder, b"a", priority=10)
        pool.submit(b"b", decoder, b"b", priority=5)
        pool.submit(b"a", decoder, b"a", priority=1)  # now the most urgent
        decoder.gate.set()
        pool.submit(b"c", decoder, b"c", priority=20).result(WAIT)
    assert decoder.decoded == [b"blocker", b"a", b"b", b"c"]


def test_a_done_key_can_be_decoded_again():
    decoder = GateDecoder()
    decoder.gate.set()
    with DecodePool(1) as pool:
        pool.submit("k", decoder, b"k").result(WAIT)
        pool.submit("k", decoder, b"k").result(WAIT)
    assert decoder.decoded == [b"k", b"k"]


def test_cancel_drops_queued_work_only():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        futures = {name: pool.submit(name, decoder, name.encode(), priority=i) for i, name in enumerate("abcde")}
        assert pool.cancel("b")
        assert not pool.cancel("blocker")  # running
        assert not pool.cancel("unknown")
        assert pool.retain(["a", "e"]) == 2  # c and d
        decoder.gate.set()
        futures["a"].result(WAIT)
        futures["e"].result(WAIT)
        for name in "bcd":
            assert futures[name].cancelled()
            with pytest.raises(CancelledError):
                futures[name].result(WAIT)
    assert decoder.decoded == [b"blocker", b"a", b"e"]


def test_cancel_where_takes_a_predicate():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        futures = [pool.submit(("frame", index), decoder, bytes([index])) for index in range(6)]
        assert pool.cancel_where(lambda key: key[1] % 2 == 1) == 3
        decoder.gate.set()
        for index, future in enumerate(futures):
            assert future.cancelled() == (index % 2 == 1)
            if index % 2 == 0:
                future.result(WAIT)


def test_threads_decode_in_parallel_up_to_the_worker_count():
    decoder = GateDecoder()
    with DecodePool(2) as pool:
        futures = [pool.submit(index, decoder, bytes([index])) for index in range(6)]
        with decoder.changed:
            assert decoder.changed.wait_for(lambda: decoder.concurrent == 2, WAIT)
        decoder.gate.set()
        for future in futures:
            future.result(WAIT)
    assert decoder.most_concurrent == 2


def test_a_failure_is_a_dicom_error_on_the_future():
    decoder = GateDecoder()
    decoder.gate.set()
    with DecodePool(1) as pool:
        future = pool.submit("bad", decoder, b"fail!", index=3)
        with pytest.raises(DicomError, match=r"gate\.dcm.*frame 3"):
            future.result(WAIT)
        assert pool.submit("good", decoder, b"good").result(WAIT).array.tobytes() == b"good"


def test_submit_after_shutdown_is_refused_and_queued_work_cancelled():
    decoder = GateDecoder()
    pool = _blocked_pool(decoder)
    queued = pool.submit("q", decoder, b"q")
    pool.shutdown(wait=False)
    assert queued.cancelled()
    with pytest.raises(PoolClosedError):
        pool.submit("late", decoder, b"late")
    decoder.gate.set()
    pool.shutdown()
    assert decoder.decoded == [b"blocker"]


# ------------------------------------------------------- decoder processes


@pytest.fixture(scope="module")
def j2k_frames():
    return encode_frames(uid.JPEG2000Lossless, 3, 64, 48, bits_stored=16)


def test_gil_holding_decoders_run_in_processes_with_equal_results(j2k_frames):
    decoder = FrameDecoder("cine.dcm", j2k_frames.transfer_syntax, j2k_frames.options)
    assert not decoder.releases_gil
    with DecodePool(1) as pool:
        futures = [pool.submit(index, decoder, data, index=index) for index, data in enumerate(j2k_frames.frames)]
        assert pool.submit(0, decoder, j2k_frames.frames[0]) is futures[0]
        for future, original in zip(futures, j2k_frames.originals):
            result = future.result(WAIT)
            assert result.factor == 1
            np.testing.assert_array_equal(result.array, original)
        reduced = pool.submit("reduced", decoder, j2k_frames.frames[0], factor=2).result(WAIT)
        expected, factor = decoder.decode_reduced(j2k_frames.frames[0], 2)
        assert reduced.factor == factor == 2
        np.testing.assert_array_equal(reduced.array, expected)
        assert len(pool.process_ids) == 1
        assert pool.decoded == 4
    assert pool.process_ids == []


def test_a_frame_a_process_cannot_decode_is_a_dicom_error(j2k_frames):
    decoder = FrameDecoder("/x/broken.dcm", j2k_frames.transfer_syntax, j2k_frames.options)
    with DecodePool(1) as pool:
        with pytest.raises(UnsupportedError, match=r"broken\.dcm.*frame 9"):
            pool.submit("bad", decoder, b"\xff\x4f\xff\x51garbage", index=9).result(WAIT)
        good = pool.submit("good", decoder, j2k_frames.frames[1]).result(WAIT)
        np.testing.assert_array_equal(good.array, j2k_frames.originals[1])


def test_a_crashed_decoder_process_costs_one_frame(j2k_frames):
    decoder = FrameDecoder("cine.dcm", j2k_frames.transfer_syntax, j2k_frames.options)
    with DecodePool(1) as pool:
        with pytest.raises(DicomError, match=r"crash\.dcm.*stopped while decoding frame 4"):
            pool.submit("crash", CrashingDecoder(), b"x", index=4).result(WAIT)
        good = pool.submit("good", decoder, j2k_frames.frames[2]).result(WAIT)
        np.testing.assert_array_equal(good.array, j2k_frames.originals[2])


@pytest.mark.skipif(sys.platform == "win32", reason="checks process ids with os.kill(pid, 0)")
def test_an_exit_without_shutdown_leaves_no_process(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pydicom import uid
        from viewer.model.codecs import FrameDecoder
        from viewer.model.codecs.pool import DecodePool
        from viewer.synthetic.codestreams import encode_frames

        if __name__ == "__main__":
            frames = encode_frames(uid.JPEG2000Lossless, 2, 256, 256, bits_stored=16)
            decoder = FrameDecoder(None, frames.transfer_syntax, frames.options)
            pool = DecodePool(1)
            pool.submit("first", decoder, frames.frames[0]).result(60)
            for index in range(20):  # still queued or running at exit
                pool.submit(index, decoder, frames.frames[index % 2])
            print(*pool.process_ids, flush=True)
    """)
    path = tmp_path / "exit_without_shutdown.py"
    path.write_text(script)
    root = Path(__file__).parents[1]
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=WAIT * 2,
                            cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))
    assert result.returncode == 0, result.stderr
    assert "leaked" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) == 1
    deadline = time.monotonic() + WAIT
    while _running(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pids[0])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_raise_priority_moves_a_queued_job_up_and_never_queues_one():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        pool.submit(b"a", decoder, b"a", priority=10)
        pool.submit(b"b", decoder, b"b", priority=5)
        assert pool.raise_priority(b"a", 1) and not pool.raise_priority(b"a", 3)  # only ever more urgent
        assert not pool.raise_priority(b"absent", 0) and not pool.busy(b"absent")
        decoder.gate.set()
        pool.submit(b"c", decoder, b"c", priority=20).result(WAIT)
    assert decoder.decoded == [b"blocker", b"a", b"b", b"c"]


def test_bytes_read_by_a_function_are_read_on_the_pool_thread():
    decoder = GateDecoder()
    decoder.gate.set()
    readers = []

    def read():
        readers.append(threading.current_thread().name)
        return b"late-read"

    with DecodePool(1) as pool:
        assert pool.submit("k", decoder, read).result(WAIT).array.tobytes() == b"late-read"
    assert readers and readers[0].startswith("cinemap-decode")


def test_a_cancelled_job_s_callback_may_submit_again():
    decoder = GateDecoder()
    with _blocked_pool(decoder) as pool:
        again = []
        queued = pool.submit("k", decoder, b"k", priority=5)
        queued.add_done_callback(lambda future: again.append(pool.submit("k2", decoder, b"k2")))  # takes the lock
        assert pool.cancel("k") and queued.cancelled() and len(again) == 1
        decoder.gate.set()
        assert again[0].result(WAIT).array.tobytes() == b"k2"
