"""The main window with a real model: opening, errors, keys, status bar, modes, drops."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from viewer.synthetic import frame_index_of  # noqa: E402
from viewer.ui.main_window import window_title  # noqa: E402

from conftest import EVENT_TIMEOUT_MS, FRAMES, open_and_wait  # noqa: E402


def message_boxes(window):
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def shown(window):
    return frame_index_of(window.image_view.image_item.image)


def test_open_shows_first_frame_and_title(qtbot, window, cine_path, store):
    document = open_and_wait(qtbot, window, cine_path)
    assert document.num_frames == FRAMES
    assert shown(window) == 0
    assert window.windowTitle() == "cine.dcm — Cinemap" == window_title(str(cine_path))
    assert store.recent_files()[0] == str(cine_path)
    assert [action.text() for action in window.recent_menu.actions()][0] == "cine.dcm"


def test_bad_file_gives_an_error_dialog_naming_the_file(qtbot, window, tmp_path):
    bad = tmp_path / "not-dicom.dcm"
    bad.write_bytes(b"this is not DICOM at all" * 20)
    with qtbot.waitSignal(window.open_failed, timeout=EVENT_TIMEOUT_MS) as blocker:
        window.open_path(str(bad))
    path, exc = blocker.args
    boxes = message_boxes(window)
    assert len(boxes) == 1
    text = boxes[0].text() + "\n" + boxes[0].informativeText()
    assert "not-dicom.dcm" in text and exc.problem in text
    assert boxes[0].informativeText().startswith("This is not a DICOM file.\n\nDetail: ")  # plain words first
    assert "Traceback" not in text
    assert window.document is None and window.windowTitle() == "Cinemap"
    boxes[0].close()


def test_missing_file_gives_an_error_dialog(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.open_failed, timeout=EVENT_TIMEOUT_MS):
        window.open_path(str(tmp_path / "nowhere.dcm"))
    boxes = message_boxes(window)
    assert boxes and "no such file" in boxes[0].informativeText()
    boxes[0].close()


def test_navigation_keys_move_frames(qtbot, window, cine_path):
    open_and_wait(qtbot, window, cine_path)
    target = window.image_view
    for key, expected in ((Qt.Key.Key_Right, 1), (Qt.Key.Key_Right, 2), (Qt.Key.Key_Left, 1),
                          (Qt.Key.Key_PageDown, 11), (Qt.Key.Key_End, FRAMES - 1), (Qt.Key.Key_PageUp, FRAMES - 11),
                          (Qt.Key.Key_Home, 0)):
        qtbot.keyClick(target, key)
        assert shown(window) == expected


def test_play_pause_advances_frames(qtbot, window, cine_path):
    open_and_wait(qtbot, window, cine_path)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=EVENT_TIMEOUT_MS)
    qtbot.keyClick(window.image_view, Qt.Key.Key_Space)
    assert window.player.playing and window.cine_controls.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: shown(window) >= 3, timeout=EVENT_TIMEOUT_MS)
    qtbot.waitUntil(lambda: "fps of 20" in window.status.fps.text(), timeout=EVENT_TIMEOUT_MS)  # achieved, of the file's rate
    window.play_action.trigger()
    assert not window.player.playing
    qtbot.waitUntil(lambda: "fps" not in window.status.fps.text(), timeout=EVENT_TIMEOUT_MS)


def test_status_bar_is_one_plain_summary_with_the_details_in_its_tool_tip(qtbot, window, cine_path, monkeypatch):
    from viewer.model import format_bytes
    from viewer.ui import status_bar
    from viewer.ui.memory import MemoryUse
    from viewer.ui.status_bar import file_access_text

    document = open_and_wait(qtbot, window, cine_path)
    # After a save the kernel keeps the file's pages in the resident set: cache, not memory used.
    monkeypatch.setattr(status_bar, "memory_use", lambda: MemoryUse(resident=2_200_000_000, anonymous=115_000_000))
    window.status.update_memory()
    text = window.status.summary.text()
    assert text == f"Read-only · {format_bytes(document.file_size)} file, 115.0 MB memory"
    tip = window.status.summary.toolTip()
    assert f"File access: {file_access_text(document)[0]}" in tip and str(cine_path) in tip
    assert "File pages cached in memory: 2.1 GB" in tip and "Memory used by Cinemap: 115.0 MB" in tip


def test_read_write_toggle_changes_mode(qtbot, window, tmp_path):
    from viewer.synthetic import write_cine

    path = write_cine(tmp_path / "editable.dcm", frames=3, rows=16, columns=16)
    document = open_and_wait(qtbot, window, path)
    assert document.edit_refusal() is None  # a native synthetic file in a temporary folder is editable
    window.write_action.trigger()
    assert document.writable and window.status.summary.text().startswith("Read/write · ")
    window.write_action.trigger()
    assert not document.writable and window.status.summary.text().startswith("Read-only · ")


def test_automatic_window_is_computed_in_the_background(qtbot, window, cine_path):
    open_and_wait(qtbot, window, cine_path)
    qtbot.waitUntil(lambda: window.window_level._task is None, timeout=EVENT_TIMEOUT_MS)
    names = [window.window_level.presets.itemData(i).name for i in range(window.window_level.presets.count())]
    assert "Automatic" in names and "Full range" in names


def test_close_and_drop_reopen(qtbot, window, cine_path):
    document = open_and_wait(qtbot, window, cine_path)
    window.close_action.trigger()
    assert window.document is None and document.closed and window.windowTitle() == "Cinemap"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(cine_path))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPoint(10, 10).toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.dropEvent(drop)  # a synthetic drop is refused by Qt without a real drag
    assert window.document is not None and shown(window) == 0


def test_reopen_keeps_the_frame_and_applies_settings(qtbot, window, cine_path, store):
    first = open_and_wait(qtbot, window, cine_path)
    window.state.set_frame(9)
    store.save(store.settings.replace(frame_cache_mb=1))
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.reopen()
    assert first.closed and window.document.cache.capacity_bytes == 1 << 20
    assert shown(window) == 9


def test_warnings_show_as_a_non_blocking_message(qtbot, window, tmp_path, cine_path):
    truncated = tmp_path / "truncated.dcm"
    data = cine_path.read_bytes()
    truncated.write_bytes(data[: len(data) - 3 * 64 * 80 * 2 - 100])
    document = open_and_wait(qtbot, window, truncated)
    assert document.warnings
    boxes = message_boxes(window)
    assert boxes and boxes[0].windowModality() == Qt.WindowModality.NonModal
    assert document.warnings[0] in boxes[0].informativeText()
    boxes[0].close()


def test_an_unexpected_error_while_showing_becomes_a_dialog(qtbot, window, cine_path, monkeypatch):
    from viewer.model.view import ViewerModel

    def broken(self):
        raise TypeError("a bug somewhere")

    monkeypatch.setattr(ViewerModel, "_choose_initial_window", broken)
    with qtbot.waitSignal(window.open_failed, timeout=EVENT_TIMEOUT_MS) as blocker:
        window.open_path(str(cine_path))
    assert blocker.args[1].args == ("a bug somewhere",)
    assert window.document is None and window.windowTitle() == "Cinemap"
    boxes = message_boxes(window)
    assert boxes and "a bug somewhere" in boxes[0].informativeText()
    boxes[0].close()


def test_a_slow_open_shows_progress_and_keeps_the_window_responsive(qtbot, window, cine_path, monkeypatch):
    import threading

    from PySide6.QtWidgets import QProgressDialog

    from viewer.ui import opening

    real_open = opening.open_with_settings
    release = threading.Event()

    def slow_open(path, settings):
        release.wait(EVENT_TIMEOUT_MS / 1000)  # a huge enhanced header: parsing lasts until the test says
        return real_open(path, settings)

    def progress_shown():
        return any(dialog.isVisible() for dialog in window.findChildren(QProgressDialog))

    monkeypatch.setattr(opening, "open_with_settings", slow_open)
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.open_path(str(cine_path))
        qtbot.waitUntil(progress_shown, timeout=EVENT_TIMEOUT_MS)  # the event loop runs while the worker parses
        assert window.document is None
        window.status.update_memory()  # the UI thread is free meanwhile
        release.set()
    assert not progress_shown()


def test_compressed_file_plays_with_the_disk_cache_in_the_cache_folder(qtbot, window, tmp_path):
    from reference_files import reference_files

    path = next(p for p in reference_files() if p.name == "emri_small_RLE.dcm")
    document = open_and_wait(qtbot, window, path)
    assert document.is_encapsulated
    for _ in range(document.num_frames - 1):
        qtbot.keyClick(window.image_view, Qt.Key.Key_Right)
    assert window.state.frame_index == document.num_frames - 1
    assert window.image_view.image_item.image.shape == document.frame_shape
    assert document.disk_cache is not None  # the setting's disk cache, in the test's cache folder
    assert str(document.disk_cache.path).startswith(str(tmp_path / "cache" / "frames"))


def test_an_empty_window_says_what_to_do_and_disables_what_cannot_work(qtbot, window, cine_path):
    from viewer.ui.main_window import EMPTY_HINT

    assert window.empty_hint.isVisible() and window.empty_hint.text() == EMPTY_HINT == (
        "Open a DICOM file (Ctrl+O) or drop it here")
    for action in (window.play_action, window.save_action, window.undo_action, window.close_action,
                   window.write_action, window.fit_action, window.invert_action, window.mask_regions_action):
        assert not action.isEnabled(), action.text()
    assert not window.cine_controls.isEnabled() and not window.frame_controls.isEnabled()
    assert not any(action.isEnabled() for action in window.play_modes.actions())
    assert window.open_action.isEnabled() and window.demo_action.isEnabled()
    open_and_wait(qtbot, window, cine_path)
    assert not window.empty_hint.isVisible()
    assert window.play_action.isEnabled() and window.cine_controls.isEnabled()
    window.close_action.trigger()
    assert window.empty_hint.isVisible() and not window.play_action.isEnabled()


def test_the_rate_box_says_the_files_own_rate(qtbot, window, cine_path):
    rate = window.cine_controls.rate
    assert rate.value() == 0 and rate.text() == "default (30 fps)"
    open_and_wait(qtbot, window, cine_path)  # Frame Time 50 ms
    assert rate.text() == "file rate (20 fps)"
    QApplication.processEvents()  # the layout makes room for the longer text
    assert rate.width() >= rate.sizeHint().width()


def test_the_window_opens_at_most_of_the_screen_and_remembers_its_size(qtbot, store):
    from PySide6.QtCore import QSize

    from viewer.ui.main_window import MainWindow

    first = MainWindow(store)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first, timeout=EVENT_TIMEOUT_MS)
    available = first.screen().availableGeometry()
    assert first.width() >= 0.85 * available.width() and first.height() >= 0.85 * available.height()
    assert available.contains(first.geometry())
    first.resize(1000, 640)
    first.close()
    second = MainWindow(store)
    qtbot.addWidget(second)
    assert second.size() == QSize(1000, 640)


def test_opening_a_file_fetches_frame_0_once(qtbot, window, cine_path, monkeypatch):
    from viewer.model import Document

    fetched = []
    real_frame = Document.frame

    def counting_frame(self, index):
        fetched.append(int(index))
        return real_frame(self, index)

    monkeypatch.setattr(Document, "frame", counting_frame)
    document = open_and_wait(qtbot, window, cine_path)
    # Everything opening starts: the image, the initial window, the automatic window, the read-ahead.
    qtbot.waitUntil(lambda: window.window_level._task is None, timeout=EVENT_TIMEOUT_MS)
    assert window.read_ahead.wait(EVENT_TIMEOUT_MS / 1000)
    qtbot.waitUntil(lambda: window.image_view.image_item.painted_frames > 0, timeout=EVENT_TIMEOUT_MS)
    assert window.document is document and shown(window) == 0
    assert fetched.count(0) == 1, fetched
