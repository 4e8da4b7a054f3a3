"""ImageView with a real document: which frame is shown, wheel, zoom, window drag, readout."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from ui_helpers import drag  # noqa: E402

from viewer.model import open_document
from viewer.synthetic import expected_frame, frame_index_of, write_cine  # noqa: E402
from viewer.ui.image_view import ImageView  # noqa: E402

from conftest import COLUMNS, ROWS  # noqa: E402


@pytest.fixture
def view(qtbot, state, document):
    view = ImageView(state)
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    state.set_document(document)
    return view


def shown_frame(view: ImageView) -> int:
    return frame_index_of(view.image_item.image)


def wheel(view: ImageView, delta: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    viewport = view.graphics.viewport()
    centre = QPointF(viewport.rect().center())
    event = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def test_first_frame_is_shown_on_opening(view):
    assert shown_frame(view) == 0
    np.testing.assert_array_equal(view.image_item.image, expected_frame(0, rows=ROWS, columns=COLUMNS))


def test_each_frame_is_fetched_when_shown(view, state):
    for index in (1, 17, 39, 0):
        state.set_frame(index)
        assert shown_frame(view) == index


def test_a_native_frame_is_a_view_into_the_mapping_not_a_copy(view, state):
    state.set_frame(5)
    assert np.shares_memory(view.image_item.image, state.document.frames)


def test_wheel_steps_frames(view, state, qtbot):
    view.wheel_frames.connect(state.step)
    wheel(view, -120)  # towards the user: next frame
    wheel(view, -120)
    assert shown_frame(view) == 2
    wheel(view, 120)
    assert shown_frame(view) == 1


def test_ctrl_wheel_zooms_and_keeps_the_frame(view, state):
    view.wheel_frames.connect(state.step)
    before = view.view_box.viewRange()[0]
    wheel(view, 120, Qt.KeyboardModifier.ControlModifier)
    after = view.view_box.viewRange()[0]
    assert after[1] - after[0] < before[1] - before[0]
    assert shown_frame(view) == 0


def test_fit_and_actual_size(view):
    view.actual_size()
    x_range = view.view_box.viewRange()[0]
    assert x_range[1] - x_range[0] == pytest.approx(view.view_box.width(), rel=0.05)
    view.fit()
    x_range, y_range = view.view_box.viewRange()
    assert x_range[0] <= 0.5 and y_range[0] <= 0.5
    assert x_range[1] >= COLUMNS - 0.5 and y_range[1] >= ROWS - 0.5


def test_right_drag_changes_window_and_levels(view, state, qtbot):
    center, width = state.center, state.width
    viewport = view.graphics.viewport()
    start = viewport.rect().center()
    drag(viewport, start, start + QPoint(40, -30))
    assert state.width > width  # right: wider
    assert state.center > center  # up: brighter centre
    assert state.window_chosen_by_user
    # LINEAR (PS3.3 C.11.2.1.2.1): black at c - 0.5 - (w - 1) / 2, white at c - 0.5 + (w - 1) / 2,
    # clipped to the 16-bit stored range.
    c, w = state.center, state.width
    expected = (max(c - 0.5 - (w - 1) / 2, 0), min(c - 0.5 + (w - 1) / 2, 65535))
    assert tuple(view.image_item.levels) == pytest.approx(expected)


def test_left_drag_pans_without_changing_window(view, state):
    window = (state.center, state.width)
    view.actual_size()
    before = view.view_box.viewRange()[0]
    viewport = view.graphics.viewport()
    start = viewport.rect().center()
    drag(viewport, start, start + QPoint(50, 0), button=Qt.MouseButton.LeftButton)
    assert view.view_box.viewRange()[0] != before
    assert (state.center, state.width) == window


def test_invert_sets_a_256_entry_lut(view, state):
    assert view.image_item.lut is None
    state.set_invert(True)
    assert view.image_item.lut.shape == (256,) and view.image_item.lut[0] == 255


def test_monochrome1_is_inverted_by_default(qtbot, state, tmp_path):
    path = tmp_path / "mono1.dcm"
    write_cine(path, frames=2, rows=16, columns=16)
    import pydicom

    dataset = pydicom.dcmread(path)
    dataset.PhotometricInterpretation = "MONOCHROME1"
    dataset.save_as(path)
    view = ImageView(state)
    qtbot.addWidget(view)
    with open_document(path) as document:
        state.set_document(document)
        assert view.image_item.lut is not None and view.image_item.lut[0] == 255
        state.set_invert(True)  # the user's invert undoes MONOCHROME1's
        assert view.image_item.lut is None
        state.set_document(None)


def test_signed_rescaled_data_levels_follow_the_slope(qtbot, state, tmp_path):
    path = tmp_path / "ct.dcm"
    write_cine(path, frames=2, rows=16, columns=16, signed=True, rescale=(2.0, -1000.0), window=(40.0, 400.0))
    view = ImageView(state)
    qtbot.addWidget(view)
    with open_document(path) as document:
        state.set_document(document)
        assert (state.center, state.width) == (40.0, 400.0)
        # LINEAR window 40/400 reaches black at -160 and white at 239 (PS3.3 C.11.2.1.2.1): stored (HU + 1000) / 2.
        assert tuple(view.image_item.levels) == pytest.approx(((-160 + 1000) / 2, (239 + 1000) / 2))
        assert view.image_item.image.dtype == np.int16
        state.set_document(None)


def test_pixel_readout_under_the_cursor(view, state, qtbot):
    readouts = []
    view.pixel_hovered.connect(readouts.append)
    state.set_frame(3)
    view._emit_readout(view.image_item.mapToScene(QPointF(10.5, 20.5)))
    readout = readouts[-1]
    assert (readout.row, readout.column, readout.frame) == (20, 10, 3)
    assert readout.stored[0] == float(expected_frame(3, rows=ROWS, columns=COLUMNS)[20, 10])
    assert "row 20, col 10, frame 3" in readout.text()


def test_frame_error_is_reported_not_raised(view, state, monkeypatch):
    from viewer.model import FileChangedError

    failures = []
    view.frame_failed.connect(failures.append)

    def broken(index):
        raise FileChangedError(state.document.path, "the file was truncated")

    monkeypatch.setattr(state.document, "frame", broken)
    state.set_frame(4)
    assert isinstance(failures[0], FileChangedError)
