"""Application plumbing: the demo file, the exception hook, the playback benchmark."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget  # noqa: E402

from viewer.model import open_document  # noqa: E402
from viewer.ui import demo  # noqa: E402
from viewer.ui.error_dialog import install_excepthook  # noqa: E402
from viewer.ui.paths import log_folder  # noqa: E402
from viewer.ui.workers import Cancelled  # noqa: E402

from conftest import EVENT_TIMEOUT_MS  # noqa: E402


@pytest.fixture
def small_demo(monkeypatch):
    monkeypatch.setenv(demo.FRAMES_VARIABLE, "12")


def test_demo_is_written_once_then_reused(qtbot, small_demo, tmp_path):
    parent = QWidget()
    qtbot.addWidget(parent)
    builder = demo.DemoBuilder(parent)
    with qtbot.waitSignal(builder.ready, timeout=EVENT_TIMEOUT_MS) as ready:
        builder.start()
    path = ready.args[0]
    assert path == demo.demo_path() and path.startswith(str(tmp_path / "cache"))
    with open_document(path) as document:
        assert document.num_frames == 12 and document.frame_time_ms == pytest.approx(1000 / 30)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no partial file left
    again = demo.DemoBuilder(parent)
    with qtbot.waitSignal(again.ready, timeout=EVENT_TIMEOUT_MS):
        again.start()
    assert again.dialog is None  # reused: no progress dialog


def test_cancelled_demo_leaves_no_file(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv(demo.FRAMES_VARIABLE, "400")
    parent = QWidget()
    qtbot.addWidget(parent)
    builder = demo.DemoBuilder(parent)
    builder.start()
    assert builder.dialog is not None
    cancel_button = builder.dialog.findChild(QPushButton)
    with qtbot.waitSignal(builder.cancelled, timeout=EVENT_TIMEOUT_MS):
        cancel_button.click()
    folder = os.path.dirname(demo.demo_path())
    assert not os.path.exists(demo.demo_path())
    assert not [name for name in os.listdir(folder) if ".part" in name]


def test_write_demo_cancelled_by_progress_removes_partial(tmp_path):
    path = str(tmp_path / "demo.dcm")

    def cancel(done, total):
        raise Cancelled()

    with pytest.raises(Cancelled):
        demo.write_demo(path, 50, cancel)
    assert os.listdir(tmp_path) == []


def test_excepthook_logs_and_shows_a_dialog(qtbot, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook()
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    try:
        raise RuntimeError("something broke")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    log = os.path.join(log_folder(), "cinemap.log")
    with open(log, encoding="utf-8") as file:
        assert "RuntimeError: something broke" in file.read()
    boxes = [widget for widget in QApplication.topLevelWidgets() if isinstance(widget, QMessageBox) and widget.isVisible()]
    boxes += [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert any("something broke" in box.informativeText() for box in boxes), [
        (box.text(), box.informativeText()) for box in boxes]
    for box in boxes:
        box.close()


def test_measure_playback_reports_fps_and_memory(qtbot, cine_path):
    from viewer.benchmarks.playback import measure_playback

    result = measure_playback(str(cine_path), 0.5, target_fps=120)
    assert result["painted"] > 10 and result["fps"] > 20
    assert result["frames"] == 40 and result["frame_shape"] == [64, 80]
    if result["anonymous_before"] is not None:
        assert result["anonymous_after"] - result["anonymous_before"] < 64 << 20


def test_measure_playback_once_through(qtbot, cine_path):
    from viewer.benchmarks.playback import measure_playback

    result = measure_playback(str(cine_path), None, target_fps=400)
    assert 0 < result["seconds"] < 5


def test_a_masked_demo_is_regenerated_from_the_menu_and_with_fresh(qtbot, small_demo, window):
    from pathlib import Path

    from viewer.app import start

    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.demo_action.trigger()
    path = Path(window.document.path)
    # The pixel data ends the file; the header before it differs each time (UIDs, times).
    pixels = slice(window.document.pixel_offset - window.document.file_size, None)
    original = path.read_bytes()[pixels]

    def mask_on_disk():
        # As a saved mask would; by another process, because this one may hold a
        # read lease that only its main thread, running Python, can let go of.
        code = f"f = open({str(path)!r}, 'r+b'); f.seek(-4096, 2); f.write(bytes(4096)); f.close()"
        writer = subprocess.Popen([sys.executable, "-c", code])
        qtbot.waitUntil(lambda: writer.poll() is not None, timeout=EVENT_TIMEOUT_MS)
        assert writer.returncode == 0 and path.read_bytes()[pixels] != original

    mask_on_disk()
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.fresh_demo_action.trigger()  # the demo shown is closed, written again and opened
    assert path.read_bytes()[pixels] == original and window.document.path == str(path)
    window.close_document()

    mask_on_disk()
    _app, windows = start([], demo=True, fresh=True)  # cinemap --demo --fresh
    for other in windows:
        qtbot.addWidget(other)
    qtbot.waitUntil(lambda: windows[0].document is not None, timeout=EVENT_TIMEOUT_MS)
    assert path.read_bytes()[pixels] == original
    windows[0].close_document()
