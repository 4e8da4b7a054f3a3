"""Frame slider and spin box, and the navigation keys."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from viewer.ui.frame_controls import FrameControls, navigation_target  # noqa: E402

from conftest import FRAMES  # noqa: E402


@pytest.fixture
def controls(qtbot, state, document):
    controls = FrameControls(state)
    qtbot.addWidget(controls)
    state.set_document(document)
    return controls


def test_ranges_follow_the_document(controls):
    assert controls.slider.maximum() == FRAMES - 1
    assert (controls.spin.minimum(), controls.spin.maximum()) == (1, FRAMES)
    assert controls.count_label.text() == f"of {FRAMES}"


def test_slider_and_spin_box_set_the_frame(controls, state):
    controls.slider.setValue(12)
    assert state.frame_index == 12 and controls.spin.value() == 13
    controls.spin.setValue(31)
    assert state.frame_index == 30 and controls.slider.value() == 30


def test_state_changes_update_both_without_echo(controls, state):
    emitted = []
    state.frame_changed.connect(emitted.append)
    state.set_frame(7)
    assert emitted == [7]  # the widgets did not write the frame back
    assert controls.slider.value() == 7 and controls.spin.value() == 8


def test_slider_keys_move_frames(controls, state, qtbot):
    controls.slider.setFocus()
    qtbot.keyClick(controls.slider, Qt.Key.Key_Right)
    qtbot.keyClick(controls.slider, Qt.Key.Key_Right)
    assert state.frame_index == 2
    qtbot.keyClick(controls.slider, Qt.Key.Key_End)
    assert state.frame_index == FRAMES - 1


@pytest.mark.parametrize(
    "key, current, expected",
    [(Qt.Key.Key_Right, 3, 4), (Qt.Key.Key_Left, 3, 2), (Qt.Key.Key_Left, 0, 0), (Qt.Key.Key_PageDown, 3, 13),
     (Qt.Key.Key_PageUp, 3, 0), (Qt.Key.Key_Home, 30, 0), (Qt.Key.Key_End, 3, 39), (Qt.Key.Key_A, 3, None)],
)
def test_navigation_target(key, current, expected):
    assert navigation_target(key, current, 40) == expected
