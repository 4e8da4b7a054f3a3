"""Files changed on disk while shown: the bar, once per change; Reload and Close; the status bar's access mode.

Another program is played by a child process (``Popen``), never by this one:
this process may hold a read lease on the file, and its SIGIO handler runs
only while the main thread runs Python (``qtbot.waitUntil`` does), so a
blocking wait here could stall the writer for the kernel's lease-break time.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from viewer.model.storage import fileaccess# noqa: E402
from viewer.synthetic import frame_index_of, write_cine  # noqa: E402
from viewer.ui import file_watch  # noqa: E402
from viewer.ui.status_bar import file_access_text  # noqa: E402
from conftest import EVENT_TIMEOUT_MS, open_and_wait  # noqa: E402


@pytest.fixture
def cine(tmp_path):
    return write_cine(tmp_path / "watched.dcm", frames=30, rows=32, columns=32, frame_time_ms=20.0)


def another_program(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)


def truncate(path, size: int) -> subprocess.Popen:
    return another_program(f"open({str(path)!r}, 'r+b').truncate({size})")


def error_boxes(window):
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_truncation_while_playing_shows_the_bar_once_and_stops_playback(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine)
    reports = []
    window.file_watch.changed.connect(lambda path, reason: reports.append((path, reason)))
    window.player.play()
    writer = truncate(cine, document.pixel_offset + 100)
    qtbot.waitUntil(window.file_watch.bar.isVisible, timeout=EVENT_TIMEOUT_MS)
    assert writer.wait(10) == 0, writer.stderr.read()
    assert not window.player.playing
    text = window.file_watch.bar.message.text()
    assert text.startswith("watched.dcm changed on disk (") and document.changed_on_disk in text
    for _ in range(3):  # every frame now fails with FileChangedError: no dialog, no second prompt
        qtbot.keyClick(window.image_view, Qt.Key.Key_Right)
    qtbot.wait(3 * file_watch.POLL_INTERVAL_MS)
    assert reports == [(str(cine), document.changed_on_disk)]
    assert not error_boxes(window)


def test_reload_opens_the_same_path_on_the_same_frame(qtbot, window, cine):
    first = open_and_wait(qtbot, window, cine)
    window.state.set_frame(7)
    writer = another_program(f"open({str(cine)!r}, 'ab').write(bytes(8))")  # appended: modified
    qtbot.waitUntil(window.file_watch.bar.isVisible, timeout=EVENT_TIMEOUT_MS)
    writer.wait(10)
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        qtbot.mouseClick(window.file_watch.bar.reload_button, Qt.MouseButton.LeftButton)
    assert first.closed and window.document is not first and window.document.path == str(cine)
    assert window.state.frame_index == 7 and frame_index_of(window.image_view.image_item.image) == 7
    assert not window.file_watch.bar.isVisible() and window.file_watch.reason is None


def test_close_closes_the_document(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine)
    writer = truncate(cine, 10)
    qtbot.waitUntil(window.file_watch.bar.isVisible, timeout=EVENT_TIMEOUT_MS)
    writer.wait(10)
    qtbot.mouseClick(window.file_watch.bar.close_button, Qt.MouseButton.LeftButton)
    assert window.document is None and document.closed
    assert not window.file_watch.bar.isVisible()


def test_the_poll_alone_notices(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine)
    window.file_watch._watcher.blockSignals(True)  # as on a network file system: no inotify events
    writer = truncate(cine, document.pixel_offset + 10)
    qtbot.waitUntil(window.file_watch.bar.isVisible, timeout=EVENT_TIMEOUT_MS)
    writer.wait(10)
    assert window.file_watch.reason == document.changed_on_disk


def test_a_file_replaced_under_the_same_name_is_reported(qtbot, window, cine, tmp_path):
    open_and_wait(qtbot, window, cine)
    replacement = tmp_path / "replacement.dcm"
    shutil.copyfile(cine, replacement)
    backup = tmp_path / "watched.bak"
    os.link(cine, backup)  # the open file keeps a name: the model sees nothing wrong with it
    os.replace(replacement, cine)
    qtbot.waitUntil(window.file_watch.bar.isVisible, timeout=EVENT_TIMEOUT_MS)
    assert "replaced by another file" in window.file_watch.bar.message.text()


def test_a_frame_error_from_a_change_gives_the_bar_not_an_error_dialog(qtbot, window, cine):
    document = open_and_wait(qtbot, window, cine)
    window.file_watch._timer.stop()  # only the frame fetch may notice
    window.file_watch._watcher.blockSignals(True)
    writer = truncate(cine, document.pixel_offset + 10)
    qtbot.waitUntil(lambda: writer.poll() is not None, timeout=EVENT_TIMEOUT_MS)
    qtbot.keyClick(window.image_view, Qt.Key.Key_End)
    assert window.file_watch.bar.isVisible() and window.file_watch.reason
    assert not error_boxes(window)


def test_unsaved_edits_are_mentioned():
    text = file_watch.change_message("/data/a.dcm", "it was deleted", dirty=True)
    assert text.startswith("a.dcm changed on disk (it was deleted).") and "unsaved edits" in text


def test_status_bar_shows_the_file_access(qtbot, window, cine, store):
    document = open_and_wait(qtbot, window, cine)
    expected = "memory-mapped, leased" if document.has_lease else "memory-mapped"
    assert f"File access: {expected}\n" in window.status.summary.toolTip()
    assert document.file_access_reason in window.status.summary.toolTip()
    store.save(store.settings.replace(file_access=fileaccess.READ))
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.reopen()
    assert "File access: read: chosen in Settings" in window.status.summary.toolTip()


@pytest.mark.parametrize(
    "access, reason, lease, expected",
    [
        (fileaccess.READ, f"{fileaccess.READ_PREFIX}: the file is on a nfs4 file system, where mapping is unsafe",
         False, "read: the file is on a nfs4 file system, where mapping is unsafe"),
        (fileaccess.READ, fileaccess.UNLEASED_REASON, False, "read: " + fileaccess.UNLEASED_REASON.split(": ", 1)[1]),
        (fileaccess.MEMORY_MAP, "memory-mapped (ext4 file system)", True, "memory-mapped, leased"),
        (fileaccess.MEMORY_MAP, "memory-mapped (ext4 file system)", False, "memory-mapped"),
    ],
)
def test_file_access_text(access, reason, lease, expected):
    document = SimpleNamespace(file_access=access, file_access_reason=reason, has_lease=lease)
    text, tip = file_access_text(document)
    assert text == expected and reason in tip


@pytest.mark.parametrize("playing", [True, False], ids=["playing", "paused"])
def test_reload_plays_on_if_the_change_stopped_playback(qtbot, window, cine, playing):
    open_and_wait(qtbot, window, cine)
    if playing:
        window.player.play()
    writer = another_program(f"open({str(cine)!r}, 'ab').write(bytes(8))")
    qtbot.waitUntil(window.file_watch.bar.isVisible, timeout=EVENT_TIMEOUT_MS)
    writer.wait(10)
    assert not window.player.playing  # stopped while the bar asks
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        qtbot.mouseClick(window.file_watch.bar.reload_button, Qt.MouseButton.LeftButton)
    assert window.player.playing == playing
    window.player.pause()
