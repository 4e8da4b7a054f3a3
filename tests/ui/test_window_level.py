"""Window/level controls: presets, boxes, automatic window off the UI thread, invert, reset."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from viewer.model import open_document  # noqa: E402
from viewer.synthetic import write_cine  # noqa: E402
from viewer.ui.window_level import WindowLevelControls  # noqa: E402

from conftest import EVENT_TIMEOUT_MS  # noqa: E402


@pytest.fixture
def file_with_window(tmp_path):
    return write_cine(tmp_path / "windowed.dcm", frames=20, rows=32, columns=32, window=(30000.0, 20000.0))


@pytest.fixture
def controls(qtbot, state):
    controls = WindowLevelControls(state)
    qtbot.addWidget(controls)
    yield controls
    controls.cancel()


def names(controls):
    return [controls.presets.itemData(row).name for row in range(controls.presets.count())]


def test_file_window_first_then_automatic_then_full_range(qtbot, controls, state, file_with_window):
    with open_document(file_with_window) as document:
        progress = []
        controls.progress.connect(lambda text, done, total: progress.append((done, total)))
        state.set_document(document)
        assert (state.center, state.width) == (30000.0, 20000.0)
        qtbot.waitUntil(lambda: "Automatic" in names(controls), timeout=EVENT_TIMEOUT_MS)
        assert names(controls)[0] != "Automatic" and names(controls)[-1] == "Full range"
        assert (state.center, state.width) == (30000.0, 20000.0)  # the file's window stays
        assert progress and progress[-1][0] == progress[-1][1]
        controls.presets.activated.emit(names(controls).index("Full range"))
        assert state.width == 65536.0
        state.set_document(None)


def test_boxes_follow_and_set_the_window(controls, state, document):
    state.set_document(document)
    controls.center_box.setValue(1234.0)
    assert state.center == 1234.0
    state.set_window(100.0, 50.0)
    assert (controls.center_box.value(), controls.width_box.value()) == (100.0, 50.0)
    assert controls.presets.currentIndex() == -1  # no preset matches a hand-made window


def test_auto_button_applies_the_automatic_window(qtbot, controls, state, document):
    state.set_document(document)
    qtbot.waitUntil(lambda: controls._task is None, timeout=EVENT_TIMEOUT_MS)
    state.set_window(5.0, 10.0)
    controls.auto_button.click()
    qtbot.waitUntil(lambda: state.center != 5.0, timeout=EVENT_TIMEOUT_MS)
    automatic = next(p for p in state.presets if p.name == "Automatic")
    assert (state.center, state.width) == (automatic.center, automatic.width)


def test_invert_and_reset(controls, state, document):
    state.set_document(document)
    initial = (state.center, state.width)
    controls.invert.setChecked(True)
    assert state.invert
    state.set_window(1.0, 2.0)
    controls.reset_button.click()
    assert not state.invert and not controls.invert.isChecked()
    assert (state.center, state.width) == initial


def test_disabled_for_colour_images(controls, state, tmp_path):
    path = write_cine(tmp_path / "rgb.dcm", frames=2, rows=16, columns=16, bits_allocated=8, samples_per_pixel=3)
    with open_document(path) as document:
        state.set_document(document)
        assert not controls.isEnabled()
        state.set_document(None)
