"""Compressed cines in the main window: frames in order, each decoded once, reduced for display only,
far frames of a file without offset tables shown when found, and a window that answers while it plays.

No timed assertion: each test waits for what must happen (the speed is in ``cinemap bench --cine``).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import EVENT_TIMEOUT_MS, open_and_wait
from PySide6.QtCore import QPointF, QTimer

from viewer.model.frames.encapsulated import EncapsulatedFrames
from viewer.synthetic.encapsulated import write_encapsulated_cine


def _painted_indices(window) -> list[int]:
    painted: list[int] = []
    view = window.image_view
    view.frame_painted.connect(lambda: painted.append(view.shown_index))
    return painted


def test_playback_presents_frames_in_order_and_decodes_each_once(qtbot, window, tmp_path):
    cine = write_encapsulated_cine(tmp_path / "c.dcm", frames=90, rows=192, columns=256, distinct_frames=6,
                                   frame_time_ms=1000 / 60)
    document = open_and_wait(qtbot, window, cine.path)
    painted = _painted_indices(window)
    window.player.play()
    answered = threading.Event()
    QTimer.singleShot(0, answered.set)  # an event posted while it plays is handled
    qtbot.waitUntil(answered.is_set, timeout=EVENT_TIMEOUT_MS)
    qtbot.waitUntil(lambda: len(painted) >= 20, timeout=EVENT_TIMEOUT_MS)
    window.player.pause()
    steps = [(after - before) % 90 for before, after in zip(painted, painted[1:])]
    assert all(0 < step < 45 for step in steps), painted  # forwards, one play order
    decodes = document.decoding.decodes
    assert decodes and max(decodes.values()) == 1, decodes  # no frame decoded twice at one resolution
    assert {factor for _, factor in decodes} == {1}


def test_a_zoomed_out_cine_plays_reduced_and_the_readout_sees_full_frames_only(qtbot, window, tmp_path):
    cine = write_encapsulated_cine(tmp_path / "big.dcm", frames=40, rows=1024, columns=1024, distinct_frames=4,
                                   frame_time_ms=1000 / 30)
    document = open_and_wait(qtbot, window, cine.path)
    view = window.image_view
    view.view_box.setRange(xRange=(-1536, 2560), yRange=(-1536, 2560), padding=0)  # zoomed out: 1024 px in a quarter
    assert view.display_factor() == 1  # paused: full resolution
    readouts: list = []
    view.pixel_hovered.connect(readouts.append)
    window.player.play()
    qtbot.waitUntil(lambda: view.shown_factor > 1, timeout=EVENT_TIMEOUT_MS)
    assert view.stored_frame is None  # nothing the readout could read
    assert view.image_item.image.shape[0] <= 512
    assert view.image_item.mapRectToParent(view.image_item.boundingRect()).width() == pytest.approx(1024)
    view._emit_readout(view.frame_item.mapToScene(QPointF(500, 500)))
    assert readouts[-1] is None
    assert window.state.frame().shape == (1024, 1024)  # what export and the tools ask for
    window.player.pause()
    qtbot.waitUntil(lambda: view.shown_factor == 1 and view.stored_frame is not None, timeout=EVENT_TIMEOUT_MS)
    np.testing.assert_array_equal(view.stored_frame, document.frame(view.shown_index))
    view._emit_readout(view.frame_item.mapToScene(QPointF(500, 500)))
    assert readouts[-1] is not None and (readouts[-1].row, readouts[-1].column) == (500, 500)


def test_a_far_frame_of_a_file_without_offset_tables_is_shown_when_found(qtbot, window, tmp_path, monkeypatch):
    cine = write_encapsulated_cine(tmp_path / "walk.dcm", frames=200, rows=48, columns=64, distinct_frames=4,
                                   table="empty")
    # The background walk would find every frame at once: leave them to be found on demand.
    monkeypatch.setattr(EncapsulatedFrames, "index_in_background", EncapsulatedFrames.add_index_callback)
    # So would the automatic window's sampling of frames over the file (no window in this file).
    monkeypatch.setattr(window.window_level, "compute_auto_window", lambda apply=False: None)
    document = open_and_wait(qtbot, window, cine.path)
    index = document.source.index
    found = threading.Event()
    readers: list[str] = []
    real = index.frame_bytes

    def frame_bytes(k):
        if k >= 100 and not index.is_located(k):
            readers.append(threading.current_thread().name)
            assert found.wait(EVENT_TIMEOUT_MS / 1000)  # the walk to a far frame takes as long as we say
        return real(k)

    monkeypatch.setattr(index, "frame_bytes", frame_bytes)
    view = window.image_view
    shown_before = view.shown_index
    window.state.set_frame(150)  # a far scrub: returns at once
    assert window.state.frame_index == 150 and view.shown_index == shown_before
    assert not document.source.is_located(150)
    qtbot.waitUntil(lambda: bool(readers), timeout=EVENT_TIMEOUT_MS)
    assert "MainThread" not in readers  # the UI thread never walks the file
    found.set()
    qtbot.waitUntil(lambda: view.shown_index == 150, timeout=EVENT_TIMEOUT_MS)
    np.testing.assert_array_equal(view.stored_frame, document.frame(150))
