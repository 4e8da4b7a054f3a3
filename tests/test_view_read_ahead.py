"""The read-ahead policy without Qt: which frames it prefetches and releases, and what documents do with them."""

from __future__ import annotations

import pytest
from reference_files import reference_files

from viewer.model import open_document
from viewer.model.platform.advice import DONTNEED, WILLNEED
from viewer.model.view import ReadAheadPolicy, ViewerModel
from viewer.model.view.read_ahead import left_behind, upcoming
from viewer.synthetic import write_cine


class RunAtOnce:
    """A worker that prefetches in the calling thread, so the test sees every call in order."""

    def __init__(self) -> None:
        self.work = None

    def want(self, items) -> None:
        for item in items:
            self.work(item)

    def stop(self) -> None:
        pass


class HintsRecorder:
    """Wraps a document's prefetch/release to record the frame indices asked for."""

    def __init__(self, document, monkeypatch) -> None:
        self.prefetched: list[int] = []
        self.released: list[list[int]] = []
        monkeypatch.setattr(document, "prefetch", lambda indices: self.prefetched.extend(indices))
        monkeypatch.setattr(document, "release", lambda indices: self.released.append(list(indices)))


def policy_at_once(model, frames):
    worker = RunAtOnce()
    policy = ReadAheadPolicy(model, frames, worker=worker)
    worker.work = policy._prefetch
    return policy


@pytest.fixture
def cine(tmp_path):
    return write_cine(tmp_path / "cine.dcm", frames=40, rows=32, columns=32)


@pytest.fixture
def compressed():
    path = next(p for p in reference_files() if p.name == "emri_small_RLE.dcm")
    with open_document(path) as document:
        yield document


def test_upcoming_follows_the_direction_and_wraps():
    assert upcoming(8, 1, 10, 3) == [9, 0, 1]
    assert upcoming(1, -1, 10, 3) == [0, 9, 8]
    assert upcoming(0, 1, 3, 8) == [1, 2]
    assert upcoming(0, 1, 10, 0) == [] and upcoming(0, 1, 1, 8) == []


def test_left_behind_releases_what_was_passed_and_never_the_new_window():
    assert left_behind(1, 20, 40, 6) == range(0, 14)
    assert left_behind(20, 18, 40, 6) == range(25, 27)
    assert left_behind(39, 0, 40, 6) == range(33, 40)  # a loop wrap: around the old position
    assert left_behind(5, 30, 40, 30) == range(0)  # the old window overlaps the new one


def test_the_policy_prefetches_ahead_and_releases_behind(cine, monkeypatch):
    with open_document(cine) as document:
        hints = HintsRecorder(document, monkeypatch)
        model = ViewerModel()
        policy_at_once(model, 4)
        model.set_document(document)
        assert hints.prefetched == [1, 2, 3, 4] and hints.released == []
        hints.prefetched.clear()
        model.set_frame(20)
        assert hints.released == [list(range(0, 14))]  # 0..13 are behind the window of 20: 4 ahead + 2
        assert hints.prefetched == [21, 22, 23, 24]
        hints.prefetched.clear()
        model.set_frame(15)  # moving back: read behind
        assert hints.prefetched == [14, 13, 12, 11]
        model.set_document(None)


def test_no_prefetch_when_set_to_zero(cine, monkeypatch):
    with open_document(cine) as document:
        hints = HintsRecorder(document, monkeypatch)
        model = ViewerModel()
        policy = policy_at_once(model, 0)
        model.set_document(document)
        model.set_frame(2)
        assert hints.prefetched == [] and policy.prefetched == 0
        model.set_document(None)


def test_compressed_frames_are_decoded_ahead_on_a_worker_thread(compressed):
    model = ViewerModel()
    policy = ReadAheadPolicy(model, frames=3)
    model.set_document(compressed)
    assert policy.wait(60)
    assert all(index in compressed.cache for index in (1, 2, 3)) and 4 not in compressed.cache
    model.set_frame(8)
    assert policy.wait(60)
    assert all(index in compressed.cache for index in (9, 0, 1))  # wraps: playback loops
    model.set_frame(6)  # moving back: read behind
    assert policy.wait(60)
    assert all(index in compressed.cache for index in (5, 4))
    model.set_document(None)


def test_native_prefetch_and_release_advise_runs_of_frames(cine, monkeypatch):
    with open_document(cine, file_access="memory-map") as document:
        calls = []
        monkeypatch.setattr(document.file, "advise", lambda offset, length, kind: calls.append((offset, length, kind)))
        nbytes, start = document.geometry.frame_nbytes, document.pixel_offset
        document.prefetch([3, 4, 5, 9])  # one request per run of frames
        assert calls == [(start + 3 * nbytes, 3 * nbytes, WILLNEED), (start + 9 * nbytes, nbytes, WILLNEED)]
        calls.clear()
        document.release(range(0, 14))
        if document.has_lease:  # pages of a mapping leave the resident set; a file read has none
            assert calls == [(start, 14 * nbytes, DONTNEED)]


def test_compressed_prefetch_fills_the_cache_once(compressed, monkeypatch):
    compressed.prefetch([2])
    assert 2 in compressed.cache
    decoded = []
    source = compressed.source
    real = source.frame
    monkeypatch.setattr(source, "frame", lambda index: decoded.append(index) or real(index))
    compressed.prefetch([2, 3])
    assert decoded == [3]
    compressed.release([2, 3])  # nothing to let go of: frames live in the cache
    assert 2 in compressed.cache
