"""Read-ahead: compressed frames are decoded before they are shown; native ones are advised."""

from __future__ import annotations

import mmap
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from reference_files import reference_files  # noqa: E402

from viewer.model import open_document  # noqa: E402
from viewer.ui.read_ahead import ReadAhead  # noqa: E402

from conftest import EVENT_TIMEOUT_MS  # noqa: E402


@pytest.fixture
def compressed():
    path = next(p for p in reference_files() if p.name == "emri_small_RLE.dcm")
    with open_document(path) as document:
        yield document


def test_compressed_frames_are_decoded_ahead_in_play_direction(qtbot, state, compressed):
    read_ahead = ReadAhead(state, frames=3)
    state.set_document(compressed)
    qtbot.waitUntil(lambda: all(i in compressed.cache for i in (1, 2, 3)), timeout=EVENT_TIMEOUT_MS)
    assert 4 not in compressed.cache
    state.set_frame(8)
    qtbot.waitUntil(lambda: all(i in compressed.cache for i in (9, 0, 1)), timeout=EVENT_TIMEOUT_MS)  # wraps: playback loops
    state.set_frame(6)  # moving back: read behind
    qtbot.waitUntil(lambda: all(i in compressed.cache for i in (5, 4, 3)), timeout=EVENT_TIMEOUT_MS)
    read_ahead.stop()
    assert read_ahead.decoded >= 6


def test_no_read_ahead_when_set_to_zero(qtbot, state, compressed):
    read_ahead = ReadAhead(state, frames=0)
    state.set_document(compressed)
    state.set_frame(2)
    qtbot.wait(100)
    read_ahead.stop()
    assert read_ahead.decoded == 0


def test_native_frames_are_advised_and_released(qtbot, state, document, monkeypatch):
    calls = []
    monkeypatch.setattr(document, "advise_range", lambda start, length, advice: calls.append((start, length, advice)))
    read_ahead = ReadAhead(state, frames=4)
    state.set_document(document)
    frame_nbytes = document.geometry.frame_nbytes
    calls.clear()
    state.set_frame(1)
    assert (document.pixel_offset + 2 * frame_nbytes, 4 * frame_nbytes, mmap.MADV_WILLNEED) in calls
    calls.clear()
    state.set_frame(20)  # frames 0..13 are now behind the read-ahead window: released
    released = [call for call in calls if call[2] == mmap.MADV_DONTNEED]
    assert released and released[0][0] == document.pixel_offset
    assert released[0][1] == (20 - 6) * frame_nbytes
    read_ahead.stop()
