"""Compressed frames decoded off the calling thread: once per frame and resolution, cancellable, reduced apart.

Without Qt. The shared pool is made afresh for each test with one worker
(so that a blocked read holds the only worker), and shut down after it.
"""

from __future__ import annotations

import concurrent.futures
import threading

import numpy as np
import pytest
from pydicom.pixels import pixel_array

from viewer.model import open_document
from viewer.model.codecs import shared
from viewer.model.frames.requests import URGENT
from viewer.synthetic.encapsulated import write_encapsulated_cine

WAIT = 60  # seconds: a test waits for an event, never on a budget


@pytest.fixture
def one_worker(monkeypatch):
    shared.shutdown_pools()
    monkeypatch.setattr(shared, "thread_workers", lambda: 1)
    monkeypatch.setattr(shared, "process_workers", lambda: 1)
    yield
    for gate in GatedReads.made:  # a failed test leaves no read held
        gate.open.set()
    GatedReads.made.clear()
    shared.shutdown_pools()


@pytest.fixture(scope="module")
def jpeg_cine(tmp_path_factory):
    return write_encapsulated_cine(tmp_path_factory.mktemp("c") / "jpeg.dcm", frames=12, rows=64, columns=96,
                                   distinct_frames=4)


class GatedReads:
    """Holds the pool's read of chosen frames until released, and records which threads read."""

    made: list["GatedReads"] = []

    def __init__(self, decoding, monkeypatch, gated=()) -> None:
        GatedReads.made.append(self)
        self.gated = set(gated)
        self.open = threading.Event()
        self.started = threading.Event()
        self.threads: list[str] = []
        real = decoding._read

        def read(index):
            self.threads.append(threading.current_thread().name)
            if index in self.gated:
                self.started.set()
                assert self.open.wait(WAIT)
            return real(index)

        monkeypatch.setattr(decoding, "_read", read)


def test_requests_equal_pydicoms_frames_and_count_one_decode_each(one_worker, jpeg_cine):
    with open_document(jpeg_cine.path) as document:
        decoding = document.decoding
        futures = [decoding.request(k, 1, float(k)) for k in range(6)]
        for k, future in enumerate(futures):
            decoded = future.result(WAIT)
            assert decoded.factor == 1
            np.testing.assert_array_equal(decoded.array, pixel_array(jpeg_cine.path, index=k))
        assert all(decoding.is_ready(k) for k in range(6)) and not decoding.is_ready(6)
        assert decoding.request(3).done()  # cached: no decode
        assert dict(decoding.decodes) == {(k, 1): 1 for k in range(6)}


def test_the_view_and_the_read_ahead_asking_at_once_decode_the_frame_once(one_worker, jpeg_cine, monkeypatch):
    with open_document(jpeg_cine.path) as document:
        decoding = document.decoding
        gate = GatedReads(decoding, monkeypatch, gated={5})
        ahead = decoding.request(5, 1, 1.0)  # the read-ahead
        assert gate.started.wait(WAIT)  # the pool thread has taken it and is reading
        got = []
        waiter = threading.Thread(target=lambda: got.append(document.frame(5)))  # a thread that waits for it
        waiter.start()
        again = decoding.request(5, 1, URGENT)  # the view
        assert again is ahead
        gate.open.set()
        waiter.join(WAIT)
        np.testing.assert_array_equal(got[0], ahead.result(WAIT).array)
        assert decoding.decodes[(5, 1)] == 1


def test_a_queued_decode_asked_for_by_a_waiting_caller_is_done_by_that_caller(one_worker, jpeg_cine, monkeypatch):
    with open_document(jpeg_cine.path) as document:
        decoding = document.decoding
        gate = GatedReads(decoding, monkeypatch, gated={0})
        blocker = decoding.request(0, 1, 0.0)
        assert gate.started.wait(WAIT)
        queued = decoding.request(7, 1, 1.0)
        frame = document.frame(7)  # decoded here rather than behind the blocked worker
        assert queued.cancelled()
        np.testing.assert_array_equal(frame, pixel_array(jpeg_cine.path, index=7))
        gate.open.set()
        blocker.result(WAIT)
        assert decoding.decodes[(7, 1)] == 1


def test_retain_cancels_queued_decodes_no_longer_wanted(one_worker, jpeg_cine, monkeypatch):
    with open_document(jpeg_cine.path) as document:
        decoding = document.decoding
        gate = GatedReads(decoding, monkeypatch, gated={0})
        blocker = decoding.request(0, 1, 0.0)
        assert gate.started.wait(WAIT)
        queued = {k: decoding.request(k, 1, float(k)) for k in range(1, 6)}
        assert decoding.retain([(3, 1)]) == 4  # frames scrubbing passed
        gate.open.set()
        blocker.result(WAIT)
        queued[3].result(WAIT)
        done, _ = concurrent.futures.wait(queued.values(), WAIT)  # cancelled futures count as done
        assert len(done) == 5 and [k for k, f in queued.items() if f.cancelled()] == [1, 2, 4, 5]
        assert set(decoding.decodes) == {(0, 1), (3, 1)}


def test_reduced_frames_are_cached_apart_and_never_what_frame_returns(one_worker, tmp_path):
    cine = write_encapsulated_cine(tmp_path / "big.dcm", frames=3, rows=256, columns=320, distinct_frames=3)
    with open_document(cine.path) as document:
        decoding = document.decoding
        reduced = decoding.request(1, 2).result(WAIT)
        assert reduced.factor == 2 and reduced.array.shape == (128, 160)
        assert decoding.is_ready(1, 2) and not decoding.is_ready(1)
        full = document.frame(1)
        np.testing.assert_array_equal(full, pixel_array(cine.path, index=1))
        assert decoding.request(1, 2).result().array.shape == (128, 160)  # both kept, under their own keys
        assert dict(decoding.decodes) == {(1, 2): 1, (1, 1): 1}
        document.source.invalidate([1])
        assert not decoding.is_ready(1, 2) and not decoding.is_ready(1)


def test_gil_holding_plugins_decode_in_processes_reduced_too(one_worker, tmp_path):
    cine = write_encapsulated_cine(tmp_path / "j2k.dcm", frames=3, rows=64, columns=64, syntax="j2k",
                                   distinct_frames=3)
    with open_document(cine.path) as document:
        decoding = document.decoding
        assert not decoding.releases_gil
        decoding.warm_up()
        full = decoding.request(2).result(WAIT)
        np.testing.assert_array_equal(full.array, pixel_array(cine.path, index=2))
        reduced = decoding.request(0, 2).result(WAIT)
        assert reduced.factor == 2 and reduced.array.shape == (32, 32) and reduced.array.dtype == np.uint16
        assert shared.pool_for(False).process_ids  # they ran in a decoder process


def test_the_view_model_never_waits_and_announces_the_frame_when_it_arrives(one_worker, jpeg_cine, monkeypatch):
    from viewer.model.view import ViewerModel

    posted: list = []
    model = ViewerModel(call_soon=lambda function, *args: posted.append((function, args)))
    with open_document(jpeg_cine.path) as document:
        model.set_document(document)
        gate = GatedReads(document.decoding, monkeypatch, gated={9})
        emitted: list[int] = []
        model.frame_changed.connect(emitted.append)
        model.set_frame(9)
        assert model.display_frame(9) is None  # asked for, not waited for
        assert gate.started.wait(WAIT) and "MainThread" not in gate.threads
        gate.open.set()
        document.decoding.request(9).result(WAIT)
        for function, args in posted:  # what the GUI's event loop would run
            function(*args)
        assert emitted == [9, 9]  # the change, then the arrival
        pixels, factor = model.display_frame(9)
        assert factor == 1
        np.testing.assert_array_equal(pixels, pixel_array(jpeg_cine.path, index=9))
        assert model.display_frame(10, ask=False) is None and not document.decoding.is_ready(10)
        model.set_document(None)


def test_scrubbing_cancels_the_read_ahead_of_frames_passed(one_worker, jpeg_cine, monkeypatch):
    from viewer.model.view import ReadAheadPolicy, ViewerModel

    cine = write_encapsulated_cine(jpeg_cine.path.parent / "long.dcm", frames=60, rows=32, columns=48,
                                   distinct_frames=4)
    model = ViewerModel()
    policy = ReadAheadPolicy(model, frames=8)
    with open_document(cine.path) as document:
        gate = GatedReads(document.decoding, monkeypatch, gated={1})
        model.set_document(document)  # asks for 1..8; the worker holds 1, the rest wait
        assert gate.started.wait(WAIT)
        for index in (10, 20, 30):  # a scrub: each step replaces what was wanted
            model.set_frame(index)
        gate.open.set()
        assert policy.wait(WAIT)
        decoded = {frame for frame, _ in document.decoding.decodes}
        # frame 0 (shown at open), 1 (under way), then what follows 30: nothing passed on the way
        assert decoded == {0, 1} | set(range(31, 39)), sorted(decoded)
        model.set_document(None)


class FakePlayer:
    """What the read-ahead reads of a playing cine: its clock, rate and mode."""

    playing, fps, direction, mode, due = True, 60.0, 1, "loop", 100.0

    @staticmethod
    def clock() -> float:
        return 100.0


def test_a_playing_cine_asks_only_for_frames_due_when_their_decodes_end(one_worker, jpeg_cine, monkeypatch):
    from viewer.model.codecs.schedule import DecodeTimer
    from viewer.model.view import ReadAheadPolicy, ViewerModel

    cine = write_encapsulated_cine(jpeg_cine.path.parent / "long2.dcm", frames=60, rows=32, columns=48,
                                   distinct_frames=4)
    model = ViewerModel()
    policy = ReadAheadPolicy(model, frames=4, player=FakePlayer())
    with open_document(cine.path) as document:
        decoding = document.decoding
        decoding.timers[1] = DecodeTimer()
        decoding.timers[1].add(0.05)  # three frame periods at 60 fps, on one worker
        gate = GatedReads(decoding, monkeypatch, gated=set(range(1, 60)))  # (frame 0 is shown at open)
        model.set_document(document)
        assert gate.started.wait(WAIT)
        asked = sorted(index for index, _ in decoding._pending)
        assert asked == [3, 6, 9, 12], asked  # frames 1, 2, 4, 5 ... would be late: never decoded
        gate.open.set()
        assert policy.wait(WAIT)
        model.set_document(None)
