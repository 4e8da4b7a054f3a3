"""Fixtures of the GUI tests: a temporary settings scope, synthetic files, a real model."""

from __future__ import annotations

import os
from pathlib import Path

# Offscreen, on a 1600 x 1000 screen (a laptop's; Qt's offscreen default is
# 800 x 800), so that windows open at the size a user's would.
SCREEN_CONFIG = Path(__file__).with_name("offscreen-screen.json")
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={SCREEN_CONFIG}"

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from viewer.app import configure_pyqtgraph  # noqa: E402
from viewer.model import open_document  # noqa: E402
from viewer.synthetic import write_cine  # noqa: E402
from viewer.ui.main_window import MainWindow  # noqa: E402

configure_pyqtgraph()

ROWS, COLUMNS, FRAMES = 64, 80, 40
TEST_ORGANIZATION = "CinemapTest"
# How long a test waits for an event before it fails: generous, because a test
# checks that the event comes, not how fast (on a loaded 2-core machine a
# worker thread or a child process may wait seconds for a core). Latency goals
# belong in `cinemap bench`, not here.
EVENT_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def private_settings_and_cache(tmp_path, monkeypatch):
    """Every test gets its own QSettings scope and cache folder: the user's are never touched."""
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("CINEMAP_CACHE_DIR", str(tmp_path / "cache"))
    yield


@pytest.fixture
def qsettings(tmp_path):
    """A QSettings in the temporary scope, under a test organisation name."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, TEST_ORGANIZATION, "Cinemap")


@pytest.fixture
def store(qsettings):
    from viewer.ui.settings_store import SettingsStore

    return SettingsStore(qsettings)


@pytest.fixture(scope="session")
def cine_path(tmp_path_factory):
    """A small 16-bit synthetic cine (frames carry their index, see frame_index_of)."""
    path = tmp_path_factory.mktemp("cine") / "cine.dcm"
    write_cine(path, frames=FRAMES, rows=ROWS, columns=COLUMNS, frame_time_ms=50.0)
    return path


@pytest.fixture
def document(cine_path):
    with open_document(cine_path) as doc:
        yield doc


@pytest.fixture
def state(qtbot):
    """The view model the widgets under test subscribe to."""
    from viewer.model.view import ViewerModel

    state = ViewerModel()
    yield state
    state.set_document(None)


@pytest.fixture
def window(qtbot, store):
    """The main window, shown; its document closed afterwards."""
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close_document()


def open_and_wait(qtbot, window, path):
    """Open `path` in `window` and wait until it is shown."""
    with qtbot.waitSignal(window.document_opened, timeout=EVENT_TIMEOUT_MS):
        window.open_path(str(path))
    return window.document
