"""Editing in the main window with a real model: mode, tools, save, unsaved edits, de-identification.

Mouse gestures are real events on the image view's viewport, at the screen
position of a pixel's centre; the results are read back through the model
(``doc.frame``) and, after saving, through pydicom.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QPushButton  # noqa: E402

from viewer.model.editing import shapes# noqa: E402
from viewer.synthetic import write_cine  # noqa: E402
from viewer.ui import edit_tools  # noqa: E402
from viewer.ui.deid_dialog import DeidentifyDialog  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402

from conftest import EVENT_TIMEOUT_MS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ROWS, COLUMNS, FRAMES = 48, 64, 8
SAVE, DISCARD, CANCEL = (QMessageBox.StandardButton.Save, QMessageBox.StandardButton.Discard,
                         QMessageBox.StandardButton.Cancel)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def never_block_on_a_question(monkeypatch):
    """A question nobody answers would block the test (pytest-qt closes windows with edits): Discard."""
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: DISCARD)


@pytest.fixture
def window(qtbot, store, monkeypatch):
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: DISCARD)
    window.close_document()


@pytest.fixture
def cine(tmp_path):
    return write_cine(tmp_path / "cine.dcm", frames=FRAMES, rows=ROWS, columns=COLUMNS)


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def open_and_wait(qtbot, window, path, *, writable=False):
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.open_path(str(path))
    if writable:
        window.write_action.trigger()
        assert window.document.writable, window.document.edit_refusal()
        qtbot.waitUntil(window.edit_panel.isVisible, timeout=EVENT_TIMEOUT_MS)  # the edit dock appears ...
    QApplication.processEvents()  # ... and the layout settles ...
    window.image_view.fit()  # ... so that pixels have their final place on screen
    QApplication.processEvents()
    return window.document


def answer(monkeypatch, button):
    """Make every QMessageBox.question return `button`; returns the questions asked."""
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def visible_boxes(window):
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def box_text(box) -> str:
    return box.text() + "\n" + box.informativeText()


def close_boxes(window):
    for box in visible_boxes(window):
        box.close()


# ----------------------------------------------------------- mouse gestures
def screen_point(window, pixel) -> QPoint:
    """The viewport position of pixel (row, col)'s centre."""
    view = window.image_view
    scene = view.image_item.mapToScene(QPointF(pixel[1] + 0.5, pixel[0] + 0.5))
    return view.graphics.mapFromScene(scene)


def send(window, kind, pixel, button, buttons) -> None:
    viewport = window.image_view.graphics.viewport()
    position = QPointF(screen_point(window, pixel))
    event = QMouseEvent(kind, position, QPointF(viewport.mapToGlobal(position.toPoint())), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def drag(qtbot, window, pixels, button=Qt.MouseButton.LeftButton, between=None) -> None:
    """Press at the first pixel, move through the others with the button held, release at the last."""
    send(window, QEvent.Type.MouseButtonPress, pixels[0], button, button)
    for pixel in pixels[1:]:
        qtbot.wait(15)  # pyqtgraph drops mouse moves less than 10 ms apart
        send(window, QEvent.Type.MouseMove, pixel, Qt.MouseButton.NoButton, button)
        if between is not None:
            between()
    send(window, QEvent.Type.MouseButtonRelease, pixels[-1], button, Qt.MouseButton.NoButton)


def click(window, pixel, *, double=False) -> None:
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send(window, QEvent.Type.MouseButtonPress, pixel, left, left)
    send(window, QEvent.Type.MouseButtonRelease, pixel, left, none)
    if double:
        send(window, QEvent.Type.MouseButtonDblClick, pixel, left, left)
        send(window, QEvent.Type.MouseButtonRelease, pixel, left, none)


def choose(window, tool: str, **options) -> None:
    window.edit_toolbar.tool_actions[tool].trigger()
    assert window.edit_tools.tool_name == tool
    window.edit_tools.set_options(**options)


# --------------------------------------------------------------------- mode
def test_tools_follow_the_mode_and_the_toggle_is_ctrl_e(qtbot, window, cine):
    assert window.write_action.shortcut().toString() == "Ctrl+E"
    assert window.save_action.shortcut().toString() == "Ctrl+S"
    document = open_and_wait(qtbot, window, cine)
    assert not window.edit_toolbar.group.isEnabled() and not window.edit_panel.widget().isEnabled()
    assert not window.save_action.isEnabled()
    window.write_action.trigger()
    assert document.writable and window.edit_toolbar.group.isEnabled() and window.edit_panel.isVisible()
    choose(window, edit_tools.BRUSH)
    window.write_action.trigger()  # back to read-only: no edits, no question
    assert not document.writable and window.edit_tools.tool_name == edit_tools.NAVIGATE
    assert not window.edit_toolbar.group.isEnabled()
    checked = [name for name, action in window.edit_toolbar.tool_actions.items() if action.isChecked()]
    assert checked == [edit_tools.NAVIGATE]  # the tool bar shows the controller's tool, and only it


def test_the_toggle_refuses_a_compressed_file_with_the_reason(qtbot, window):
    from reference_files import reference_files

    path = next(p for p in reference_files() if p.name == "emri_small_RLE.dcm")
    document = open_and_wait(qtbot, window, path)
    assert window.write_action.isEnabled()  # trying it says why it cannot be
    window.write_action.trigger()
    assert not document.writable and not window.write_action.isChecked()
    boxes = visible_boxes(window)
    assert len(boxes) == 1 and "compressed" in box_text(boxes[0]) and "emri_small_RLE.dcm" in box_text(boxes[0])
    assert "compressed" in window.write_action.toolTip()
    boxes[0].close()


HOLDER = """
import sys, time
from viewer.model import open_document
document = open_document(sys.argv[1], writable=True)
print("ready", flush=True)
time.sleep(120)
"""


def test_a_second_cinemap_is_told_who_holds_the_edit_lock(qtbot, window, cine):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cine)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        document = open_and_wait(qtbot, window, cine)
        window.write_action.trigger()
        assert not document.writable and not window.write_action.isChecked()
        boxes = visible_boxes(window)
        assert len(boxes) == 1 and f"pid {holder.pid}" in box_text(boxes[0])
        boxes[0].close()
    finally:
        holder.kill()
        holder.wait()


# -------------------------------------------------------------------- tools
def test_a_brush_drag_is_one_undo_step_and_shows_at_once(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine, writable=True)
    window.state.set_frame(3)
    original = np.array(document.frame(3))
    choose(window, edit_tools.BRUSH, brush_radius=3, fill=edit_tools.CUSTOM, custom=(1234,))
    path = [(10, 8), (12, 30), (30, 50)]  # long jumps between moves: the segments fill the gaps
    drag(qtbot, window, path)
    frame = document.frame(3)
    expected = shapes.thick_line((ROWS, COLUMNS), path[0], path[1], 6) | shapes.thick_line((ROWS, COLUMNS), path[1], path[2], 6)
    assert (frame[expected] == 1234).all()
    np.testing.assert_array_equal(frame[~expected], original[~expected])
    np.testing.assert_array_equal(window.image_view.image_item.image, frame)  # shown at once
    np.testing.assert_array_equal(document.frame(2), np.array(document.frame(2)))
    assert not document.edits.is_edited(2) and not document.edits.is_edited(4)
    assert window.undo_action.text() == "&Undo Brush" and window.windowTitle().startswith("*cine.dcm")
    window.undo_action.trigger()
    np.testing.assert_array_equal(document.frame(3), original)
    assert not document.can_undo and not document.dirty  # the whole drag was one step
    assert window.windowTitle() == "cine.dcm — Cinemap"


def test_escape_during_a_brush_drag_takes_the_stroke_back(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine, writable=True)
    choose(window, edit_tools.BRUSH, brush_radius=2)
    pressed = []

    def escape_once():
        if not pressed:
            pressed.append(True)
            qtbot.keyClick(window.image_view, Qt.Key.Key_Escape)

    drag(qtbot, window, [(10, 10), (10, 30), (20, 40)], between=escape_once)
    assert not document.dirty and not document.can_undo


@pytest.mark.parametrize("scope, first, last, edited, where", [
    (edit_tools.CURRENT_FRAME, 0, 0, {4}, ""),
    (edit_tools.FRAME_RANGE, 2, 5, {2, 3, 4, 5}, " on frames 3-6"),  # counted from 1 for people
    (edit_tools.ALL_FRAMES, 0, 0, set(range(FRAMES)), f" on all {FRAMES} frames"),
])
def test_rectangle_and_polygon_on_the_current_frame_a_range_or_all(qtbot, window, cine, scope, first, last, edited,
                                                                   where):
    document = open_and_wait(qtbot, window, cine, writable=True)
    window.state.set_frame(4)
    originals = [np.array(document.frame(k)) for k in range(FRAMES)]
    choose(window, edit_tools.RECTANGLE, scope=scope, first=first, last=last, fill=edit_tools.MAXIMUM)
    drag(qtbot, window, [(30, 40), (35, 50), (40, 60)])
    rectangle = shapes.rectangle((ROWS, COLUMNS), (30, 40), (40, 60))
    choose(window, edit_tools.POLYGON, fill=edit_tools.ZERO)
    corners = [(5, 5), (5, 30), (20, 30)]
    click(window, corners[0])
    click(window, corners[1])
    assert not window.edit_overlay.item.path().isEmpty()  # the open polygon is previewed
    click(window, corners[2], double=True)
    polygon = shapes.polygon((ROWS, COLUMNS), corners)
    assert window.edit_overlay.item.path().isEmpty()
    for index in range(FRAMES):
        frame = document.frame(index)
        if index in edited:
            assert (frame[rectangle] == 65535).all() and (frame[polygon] == 0).all(), index
            untouched = ~(rectangle | polygon)
            np.testing.assert_array_equal(frame[untouched], originals[index][untouched])
        else:
            np.testing.assert_array_equal(frame, originals[index])
    assert document.undo_label == f"Undo Polygon{where}"


def test_an_edit_on_other_frames_says_where_it_went(qtbot, window, tmp_path):
    path = write_cine(tmp_path / "long.dcm", frames=24, rows=ROWS, columns=COLUMNS)
    document = open_and_wait(qtbot, window, path, writable=True)
    window.state.set_frame(4)  # frame 5 on screen
    choose(window, edit_tools.RECTANGLE, scope=edit_tools.FRAME_RANGE, first=9, last=19, fill=edit_tools.MAXIMUM)
    drag(qtbot, window, [(30, 40), (35, 50), (40, 60)])
    assert document.undo_label == "Undo Rectangle on frames 10-20"
    assert window.undo_action.text() == "&Undo Rectangle on frames 10-20"
    message = window.status.currentMessage()
    assert "Rectangle applied to frames 10-20" in message and "frame 5, on screen, is unchanged" in message
    choose(window, edit_tools.BRUSH, scope=edit_tools.ALL_FRAMES)
    drag(qtbot, window, [(10, 10), (12, 14)])
    assert document.undo_label == "Undo Brush on all 24 frames"


def test_a_line_is_previewed_while_dragged(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine, writable=True)
    choose(window, edit_tools.LINE, line_width=3, fill=edit_tools.CUSTOM, custom=(77,))
    paths = []
    drag(qtbot, window, [(10, 5), (20, 30), (40, 60)],
         between=lambda: paths.append(window.edit_overlay.item.path().isEmpty()))
    assert paths and not any(paths)
    line = shapes.thick_line((ROWS, COLUMNS), (10, 5), (40, 60), 3)
    assert (document.frame(0)[line] == 77).all()


def test_rgb_custom_value_per_channel(qtbot, window, tmp_path):
    path = write_cine(tmp_path / "rgb.dcm", frames=3, rows=ROWS, columns=COLUMNS, bits_allocated=8, samples_per_pixel=3)
    document = open_and_wait(qtbot, window, path, writable=True)
    panel = window.edit_panel
    assert len(panel.custom) == 3
    panel.fill.setCurrentIndex(panel.fill.findData(edit_tools.CUSTOM))
    for spin, value in zip(panel.custom, (10, 200, 30)):
        spin.setValue(value)
    assert window.edit_tools.value() == (10, 200, 30)
    choose(window, edit_tools.RECTANGLE)
    drag(qtbot, window, [(5, 5), (10, 15), (12, 20)])
    frame = document.frame(0)
    assert (frame[5:13, 5:21] == (10, 200, 30)).all()
    assert not (frame[20:, 30:] == (10, 200, 30)).all(axis=-1).any()


# --------------------------------------------------------------------- save
def test_save_shows_its_progress(qtbot, window, cine, monkeypatch):
    document = open_and_wait(qtbot, window, cine, writable=True)
    choose(window, edit_tools.RECTANGLE, scope=edit_tools.ALL_FRAMES, fill=edit_tools.CUSTOM, custom=(4321,))
    drag(qtbot, window, [(2, 3), (6, 9), (8, 12)])
    release = threading.Event()
    real_save = document.save

    def slow_save(progress=None):
        progress(3, 8)
        release.wait(10)
        real_save(progress=progress)

    monkeypatch.setattr(document, "save", slow_save)
    window.save_action.trigger()
    dialog = window.findChild(QProgressDialog, "SaveProgress")
    qtbot.waitUntil(lambda: dialog.maximum() == 8 and dialog.value() == 3, timeout=EVENT_TIMEOUT_MS)
    with qtbot.waitSignal(window.saver.saved, timeout=EVENT_TIMEOUT_MS):
        release.set()
    assert not document.dirty


def test_save_writes_the_file_and_clears_the_star(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine, writable=True)
    choose(window, edit_tools.RECTANGLE, scope=edit_tools.ALL_FRAMES, fill=edit_tools.CUSTOM, custom=(4321,))
    drag(qtbot, window, [(2, 3), (6, 9), (8, 12)])
    assert window.save_action.isEnabled() and window.windowTitle().startswith("*")
    with qtbot.waitSignal(window.saver.saved, timeout=EVENT_TIMEOUT_MS):
        window.save_action.trigger()
    assert not document.dirty and not window.save_action.isEnabled()
    assert window.windowTitle() == "cine.dcm — Cinemap"
    for index in (0, FRAMES - 1):
        stored = pydicom.pixels.pixel_array(str(cine), index=index)
        assert (stored[2:9, 3:13] == 4321).all()
    qtbot.wait(400)  # the file watcher polls meanwhile: our own save is no change on disk
    assert document.changed_on_disk is None and not window.file_watch.bar.isVisible()


def test_a_failed_save_keeps_the_file_and_the_edits(qtbot, window, cine, monkeypatch):
    import errno

    document = open_and_wait(qtbot, window, cine, writable=True)
    before = sha256(cine)
    choose(window, edit_tools.BRUSH, brush_radius=4)
    click(window, (20, 20))
    real_pwrite = os.pwrite
    failed = []

    def disk_full(fd, data, offset):  # the first in-place write fails; the rollback's go through
        if fd == document.edits._fd and not failed:
            failed.append(True)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    with monkeypatch.context() as patch, qtbot.waitSignal(window.saver.save_failed, timeout=EVENT_TIMEOUT_MS):
        patch.setattr(os, "pwrite", disk_full)
        window.save_action.trigger()
    boxes = visible_boxes(window)
    assert boxes and "no space left on device" in box_text(boxes[0]).lower()
    assert "original bytes were restored" in box_text(boxes[0])
    assert sha256(cine) == before and document.dirty and window.windowTitle().startswith("*")
    assert document.changed_on_disk is None
    close_boxes(window)
    with qtbot.waitSignal(window.saver.saved, timeout=EVENT_TIMEOUT_MS):
        window.save_action.trigger()  # and it can be saved once there is room
    assert sha256(cine) != before


def test_a_file_changed_on_disk_is_not_saved_over_and_reload_is_offered(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine, writable=True)
    choose(window, edit_tools.BRUSH)
    click(window, (20, 20))
    stamp = os.stat(cine).st_mtime_ns + 10**9
    os.utime(cine, ns=(stamp, stamp))  # another program touched it
    before = sha256(cine)
    with qtbot.waitSignal(window.saver.save_failed, timeout=EVENT_TIMEOUT_MS):
        window.save_action.trigger()
    assert sha256(cine) == before
    box = next(box for box in visible_boxes(window) if box.objectName() == "ReloadAfterChange")
    reload_button = next(button for button in box.findChildren(QPushButton) if button.text() == "Reload")
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        reload_button.click()
    assert window.document is not document and not window.document.dirty


# ---------------------------------------------------------- unsaved edits
def _edit(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine, writable=True)
    choose(window, edit_tools.RECTANGLE, fill=edit_tools.CUSTOM, custom=(999,))
    drag(qtbot, window, [(1, 1), (3, 3), (4, 4)])
    assert document.dirty
    return document


def test_closing_with_unsaved_edits_asks_and_cancel_keeps_everything(qtbot, window, cine, monkeypatch):
    document = _edit(qtbot, window, cine)
    before = sha256(cine)
    asked = answer(monkeypatch, CANCEL)
    window.close_action.trigger()
    assert window.document is document and document.dirty and not document.closed
    assert window.close() is False and window.isVisible()
    assert len(asked) == 2 and "unsaved edits" in asked[0]
    assert sha256(cine) == before


def test_closing_with_unsaved_edits_discard_leaves_the_file(qtbot, window, cine, monkeypatch):
    document = _edit(qtbot, window, cine)
    before = sha256(cine)
    answer(monkeypatch, DISCARD)
    window.close_action.trigger()
    assert window.document is None and document.closed and sha256(cine) == before


def test_closing_with_unsaved_edits_save_writes_then_closes(qtbot, window, cine, monkeypatch):
    document = _edit(qtbot, window, cine)
    answer(monkeypatch, SAVE)
    assert window.close() is True
    assert document.closed
    assert (pydicom.pixels.pixel_array(str(cine), index=0)[1:5, 1:5] == 999).all()


def test_edits_to_a_file_changed_on_disk_can_only_be_discarded(qtbot, window, cine, monkeypatch):
    document = _edit(qtbot, window, cine)
    stamp = os.stat(cine).st_mtime_ns + 10**9
    os.utime(cine, ns=(stamp, stamp))
    asked = answer(monkeypatch, DISCARD)
    window.close_action.trigger()
    assert len(asked) == 1 and "changed on disk" in asked[0] and document.closed


def test_opening_another_file_and_leaving_read_write_mode_ask_first(qtbot, window, cine, tmp_path, monkeypatch):
    other = write_cine(tmp_path / "other.dcm", frames=2, rows=16, columns=16)
    document = _edit(qtbot, window, cine)
    asked = answer(monkeypatch, CANCEL)
    window.open_path(str(other))
    window.write_action.trigger()
    assert len(asked) == 2 and window.document is document and document.writable and document.dirty
    assert window.write_action.isChecked()
    answer(monkeypatch, DISCARD)
    window.write_action.trigger()
    assert not document.writable and not document.dirty
    assert (document.frame(0)[1:5, 1:5] != 999).all()


# ------------------------------------------------------- read-only session
def test_a_read_only_session_trying_every_tool_leaves_the_file_unchanged(qtbot, window, tmp_path, monkeypatch):
    path = write_cine(tmp_path / "us.dcm", frames=5, rows=64, columns=80, bits_allocated=8, kind="us",
                      burned_in_annotation="YES")
    before = sha256(path)
    asked = answer(monkeypatch, CANCEL)  # "switch to read/write?" and any other question: no
    document = open_and_wait(qtbot, window, path)
    for name, action in window.edit_toolbar.tool_actions.items():
        action.trigger()  # disabled: nothing happens
        window.edit_tools.set_tool(name)  # even chosen directly, a read-only document only pans
        drag(qtbot, window, [(5, 5), (20, 30), (40, 60)])
        click(window, (10, 10))
        click(window, (30, 10))
        click(window, (30, 40), double=True)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Escape):
            qtbot.keyClick(window.image_view, key)
        for gesture in ("press", "drag", "release", "click", "double_click"):
            getattr(window.edit_tools, gesture)((10, 10))
        window.edit_tools.finish()
    for action in (window.save_action, window.revert_action, window.undo_action, window.redo_action):
        action.trigger()
    window.saver.save()
    window.saver.revert()
    window.mask_regions_action.trigger()
    dialog = window.findChild(DeidentifyDialog)
    dialog.apply_button.click()  # asks to switch to read/write: Cancel
    assert asked and "read/write" in asked[-1]
    assert not document.writable and not document.dirty and not document.can_undo
    assert not visible_boxes(window)
    window.close_document()
    assert sha256(path) == before


# ------------------------------------------------------------- de-identify
def test_deidentify_masks_outside_the_regions_on_all_frames_and_records_no(qtbot, window, tmp_path, monkeypatch):
    path = write_cine(tmp_path / "us.dcm", frames=5, rows=64, columns=80, bits_allocated=8, kind="us",
                      burned_in_annotation="YES")
    originals = [pydicom.pixels.pixel_array(str(path), index=k) for k in range(5)]
    document = open_and_wait(qtbot, window, path)
    assert window.mask_regions_action.isEnabled() and document.burned_in_annotation == "YES"
    outside = document.outside_regions_mask()
    assert outside.any() and (originals[0][outside] != 0).any()  # the burned-in band
    window.mask_regions_action.trigger()
    dialog = window.findChild(DeidentifyDialog)
    assert dialog.isVisible() and window.deidentify.previewing
    assert "outside 1 ultrasound region on all 5 frames" in dialog.message.text()
    assert not dialog.record_no.isHidden() and not dialog.record_no.isChecked()  # opt-in: a false NO is worse
    assert "Text burned into the kept regions" in dialog.warning.text() and "stays" in dialog.warning.text()
    dialog.record_no.setChecked(True)
    tint = window.deidentify.tint.image
    assert (tint[outside][:, 3] > 0).all() and (tint[~outside][:, 3] == 0).all()  # the exact mask, previewed
    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.saver.saved, timeout=EVENT_TIMEOUT_MS):
        dialog.apply_save_button.click()
    assert asked and "read/write" in asked[0]
    assert not window.deidentify.previewing and not document.dirty
    for index in range(5):
        stored = pydicom.pixels.pixel_array(str(path), index=index)
        assert (stored[outside] == 0).all()
        np.testing.assert_array_equal(stored[~outside], originals[index][~outside])
    assert pydicom.dcmread(str(path)).BurnedInAnnotation == "NO"


def test_deidentify_is_offered_only_with_regions_and_says_why_no_cannot_be_recorded(qtbot, window, cine, tmp_path):
    open_and_wait(qtbot, window, cine)
    assert not window.mask_regions_action.isEnabled()
    path = write_cine(tmp_path / "us-no.dcm", frames=2, rows=64, columns=80, bits_allocated=8, kind="us")
    open_and_wait(qtbot, window, path)
    window.mask_regions_action.trigger()
    dialog = window.findChild(DeidentifyDialog)
    assert dialog.record_no.isHidden()
    assert dialog.record_note.isVisible() and "already records Burned In Annotation: NO" in dialog.record_note.text()
    dialog.reject()
    assert not window.deidentify.previewing


@pytest.mark.parametrize("value, words", [("", ("no Burned In Annotation element", "in place")),
                                          ("NO", ("already records",)), ("YES", ("Tick only if no text",))])
def test_deidentify_dialog_says_what_it_can_record_and_why(qtbot, value, words):
    dialog = DeidentifyDialog(1, 10, value)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.record_no.isVisible() == (value == "YES") and not dialog.record_no.isChecked()
    for word in words:
        assert word in dialog.record_note.text()


# ----------------------------------------------------------------- recovery
CRASHER = """
import os, sys
import numpy as np
from viewer.model import open_document
document = open_document(sys.argv[1], writable=True)
document.apply_mask(np.ones(document.frame_shape[:2], bool), 7)
document.edits.save(_step_hook=lambda step: os._exit(3) if step == "mid-write" else None)
"""


def test_opening_after_an_interrupted_save_says_the_file_was_restored(qtbot, window, cine):
    before = sha256(cine)
    crashed = subprocess.run([sys.executable, "-c", CRASHER, str(cine)], cwd=ROOT)
    assert crashed.returncode == 3 and sha256(cine) != before  # half written, journal left behind
    open_and_wait(qtbot, window, cine)
    assert sha256(cine) == before
    texts = [box_text(box) for box in visible_boxes(window)]
    assert any("interrupted" in text and "as it was before" in text and "edits that save was writing are gone"
               in text for text in texts), texts
    close_boxes(window)
