"""Errors are for people: a dialog naming the file and the problem, the details in the log file."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtWidgets import QMessageBox, QWidget  # noqa: E402

from viewer import logfile  # noqa: E402
from viewer.ui import paths  # noqa: E402
from viewer.ui.error_dialog import show_error  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402

from conftest import EVENT_TIMEOUT_MS  # noqa: E402


def read_log() -> str:
    with open(os.path.join(paths.log_folder(), "cinemap.log"), encoding="utf-8") as log:
        return log.read()


def test_a_file_that_cannot_be_opened_is_logged_with_its_traceback(qtbot, store, tmp_path):
    window = MainWindow(store)
    qtbot.addWidget(window)
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"this is not DICOM at all" * 20)
    with qtbot.waitSignal(window.open_failed, timeout=EVENT_TIMEOUT_MS):
        window.open_path(str(bad))
    (box,) = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert "broken.dcm" in box.text() and "Traceback" not in box.informativeText()
    log = read_log()
    assert "Cannot open broken.dcm" in log and "Traceback (most recent call last)" in log
    assert "NotDicomError" in log and "open_document" in log  # the worker thread's frames
    box.close()


def test_an_unexpected_error_says_where_the_details_are(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    try:
        raise KeyError("oops")
    except KeyError as exc:
        box = show_error(parent, exc, "show a frame of")
    log_path = os.path.join(paths.log_folder(), "cinemap.log")
    assert log_path in box.informativeText() and "KeyError" in read_log()
    box.close()


@pytest.mark.parametrize("cache_dir", [None, "custom"])
def test_the_cli_and_the_gui_log_to_the_same_folder(monkeypatch, tmp_path, cache_dir):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if cache_dir is None:
        monkeypatch.delenv("CINEMAP_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("CINEMAP_CACHE_DIR", str(tmp_path / cache_dir))
    assert logfile.log_folder() == paths.log_folder()
