"""Frames larger than the view: screen-sized regions, averaged levels, exact readout and tools at every zoom."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPointF, QRectF  # noqa: E402

from viewer.model import open_document  # noqa: E402
from viewer.synthetic import expected_region, write_cine  # noqa: E402
from viewer.ui.edit_controller import EditController  # noqa: E402
from viewer.ui.edit_tools import BRUSH, RECTANGLE  # noqa: E402
from viewer.ui.image_view import VIEW_MARGIN, ImageView  # noqa: E402

ROWS, COLUMNS, FRAMES = 2501, 4003, 3


@pytest.fixture(scope="module")
def grid_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "grid.dcm"
    write_cine(path, frames=FRAMES, rows=ROWS, columns=COLUMNS, pattern="grid")
    return path


@pytest.fixture
def large_view(qtbot, state, grid_path, tmp_path):
    view = ImageView(state)
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    qtbot.waitExposed(view)
    document = open_document(grid_path, disk_cache_dir=tmp_path / "cache", disk_cache_bytes=256 << 20)
    state.set_document(document)
    yield view
    state.set_document(None)
    document.close()


def expected_shown(view: ImageView) -> np.ndarray:
    request = view.shown_request
    return expected_region(view.shown_index, slice(*request.rows), slice(*request.cols), request.step,
                           request.level, frame_rows=ROWS, frame_columns=COLUMNS)


def wait_for(qtbot, view: ImageView, condition) -> None:
    qtbot.waitUntil(lambda: view.shown_request is not None and not view.loader.busy and view.shown_current
                    and not view._view_timer.isActive() and condition(), timeout=30000)


def check_drawn(view: ImageView) -> None:
    """The image drawn is the region of the frame it says, and it is placed over that region."""
    request = view.shown_request
    np.testing.assert_array_equal(view.image_item.image, expected_shown(view))
    x, y, _, _ = request.rect
    corner = view.image_item.mapToParent(QPointF(0, 0))
    far = view.image_item.mapToParent(QPointF(view.image_item.width(), view.image_item.height()))
    assert (corner.x(), corner.y()) == pytest.approx((x, y))
    size = request.pixel_size
    assert (far.x() - corner.x(), far.y() - corner.y()) == pytest.approx(
        (view.image_item.width() * size, view.image_item.height() * size))
    width, height = view.screen_size()
    assert view.image_item.image.shape[0] <= 2 * height * (1 + 2 * VIEW_MARGIN) + 2  # about the screen, never the frame


def test_a_large_frame_is_drawn_strided_then_averaged(large_view, qtbot, state):
    view = large_view
    assert view.uses_regions
    wait_for(qtbot, view, lambda: True)
    check_drawn(view)
    wait_for(qtbot, view, lambda: view.shown_request.level > 0)  # the levels were built in the background
    check_drawn(view)
    assert view.shown_request.step == 1 and view.image_item.image.shape[1] < COLUMNS / 2


def test_zoom_pan_and_window_redraw_the_right_region(large_view, qtbot, state):
    view = large_view
    wait_for(qtbot, view, lambda: view.shown_request.level > 0)
    view.view_box.setRange(QRectF(1900, 1200, 350, 250), padding=0)  # about 2 frame pixels per screen pixel
    wait_for(qtbot, view, lambda: view.shown_request.rows[0] > 0)
    check_drawn(view)
    reads = view.loader.reads
    view.view_box.translateBy(x=20, y=10)  # a zoom step reads no margin: the first pan reads one
    wait_for(qtbot, view, lambda: view.loader.reads > reads)
    check_drawn(view)
    reads = view.loader.reads
    view.view_box.translateBy(x=20, y=10)  # inside the margin: no new read
    qtbot.wait(50)
    assert view.loader.reads == reads
    view.view_box.translateBy(x=1500, y=900)
    wait_for(qtbot, view, lambda: view.loader.reads > reads)
    check_drawn(view)
    image = view.image_item.image
    state.set_window(state.center + 500, state.width / 2)
    assert view.image_item.image is image and tuple(view.image_item.levels) == pytest.approx(
        (state.center - state.width / 2, state.center + state.width / 2), abs=1)


def test_frames_step_and_play_strided(large_view, qtbot, state):
    view = large_view
    view.set_playing(True)
    state.set_frame(2)
    wait_for(qtbot, view, lambda: view.shown_index == 2)
    assert view.shown_request.level == 0 and view.shown_request.step > 1
    check_drawn(view)
    view.set_playing(False)
    wait_for(qtbot, view, lambda: view.shown_request.level > 0)
    check_drawn(view)


def test_readout_is_the_stored_pixel_at_every_zoom(large_view, qtbot, state):
    view = large_view
    readouts = []
    view.pixel_hovered.connect(readouts.append)
    for rect in (None, QRectF(995, 1000, 40, 30)):
        if rect is not None:
            view.view_box.setRange(rect, padding=0)
        wait_for(qtbot, view, lambda: rect is None or view.shown_request.rows[0] > 0)
        for row, column in ((1003, 1001), (1004, 1020), (0, 3), (ROWS - 1, COLUMNS - 1)):
            view._emit_readout(view.frame_item.mapToScene(QPointF(column + 0.5, row + 0.5)))
            expected = expected_region(0, slice(row, row + 1), slice(column, column + 1), frame_rows=ROWS,
                                       frame_columns=COLUMNS)
            assert (readouts[-1].row, readouts[-1].column) == (row, column)
            assert readouts[-1].stored == (float(expected[0, 0]),)
            assert view.pixel_at(view.frame_item.mapToScene(QPointF(column + 0.5, row + 0.5))) == (row, column)


def test_tools_edit_in_frame_pixels_and_cost_the_shape(large_view, qtbot, state):
    view = large_view
    state.document.set_writable(True)
    controller = EditController(state)
    view.pointer_tool = controller
    controller.set_tool(RECTANGLE)
    controller.set_options(fill="maximum")
    wait_for(qtbot, view, lambda: view.shown_request.level > 0)
    scene = lambda row, col: view.frame_item.mapToScene(QPointF(col + 0.5, row + 0.5))  # noqa: E731
    controller.press(view.pixel_at(scene(100, 200)))
    controller.release(view.pixel_at(scene(1100, 2300)))
    controller.set_tool(BRUSH)
    controller.press(view.pixel_at(scene(2000, 3000)))
    controller.release(view.pixel_at(scene(2000, 3900)))
    edits = state.document.edits
    ops = edits.mask_ops(0)
    assert [(op.top, op.left, op.bottom, op.right) for op in ops[:1]] == [(100, 200, 1101, 2301)]
    assert edits.memory_bytes < 1101 * 2101 + 20 * 1000 * 2  # boxes of the shapes, not frames
    region = state.document.region(0, slice(100, 1101), slice(200, 2301), 10)
    assert (region == 65535).all()
    wait_for(qtbot, view, lambda: state.document.overviews.is_ready(0) and view.shown_request.level > 0
             and view.image_item.image.max() == 65535)
    shown = view.image_item.image
    request = view.shown_request
    inner = shown[(150 >> request.level) + 1:(1000 >> request.level), (300 >> request.level) + 1:(2200 >> request.level)]
    assert (inner == 65535).all()  # the averaged view shows the rectangle
