"""Start the GUI: ``run(paths, demo)`` is what ``cinemap [PATH ...]`` and ``cinemap --demo`` call.

Environment
-----------
CINEMAP_SCREENSHOT
    If set to a file name, grab the main window once the first frame has
    been painted, save it there as PNG and quit (end-to-end tests, README).
CINEMAP_DEMO_FRAMES
    Frames of the ``--demo`` cine (default 4000, about 2 GB).
CINEMAP_CACHE_DIR
    Folder of the demo file and the log (default ``~/.cache/cinemap``).
"""

from __future__ import annotations

import os
import sys

SCREENSHOT_VARIABLE = "CINEMAP_SCREENSHOT"
_SCREENSHOT_DELAY_MS = 500
_QUIT_AFTER_SCREENSHOT_MS = 1000


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setOrganizationName("Cinemap")
    app.setApplicationName("Cinemap")
    app.setApplicationDisplayName("Cinemap")
    return app


def configure_pyqtgraph() -> None:
    """pyqtgraph options Cinemap relies on (row-major frames); call once at start-up."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major")


def _grab_window(window):
    """The window's pixels as the display server has them (X11), else as Qt renders them."""
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.platformName() == "xcb" and window.screen() is not None:
        pixmap = window.screen().grabWindow(window.winId())
        if not pixmap.isNull():
            return pixmap
    return window.grab()


def _arm_screenshot(window, path: str) -> None:
    """Save a grab of `window` to `path` after its first painted frame, then quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def grab() -> None:
        _grab_window(window).save(path, "PNG")
        QTimer.singleShot(_QUIT_AFTER_SCREENSHOT_MS, QApplication.instance().quit)

    def on_painted() -> None:
        window.image_view.frame_painted.disconnect(on_painted)
        QTimer.singleShot(_SCREENSHOT_DELAY_MS, grab)

    window.image_view.frame_painted.connect(on_painted)
    # A failed open shows a dialog: grab that instead of waiting forever.
    window.open_failed.connect(lambda *_: QTimer.singleShot(_SCREENSHOT_DELAY_MS, grab))


def run(paths: list[str], demo: bool = False) -> int:
    """Open a main window per path (one empty window if none) and run until the last closes.

    Parameters
    ----------
    paths : list of str
        Files to open.
    demo : bool
        Also make (first time) and open the synthetic demo cine.

    Returns
    -------
    int
        The process exit code.
    """
    app = _application()
    configure_pyqtgraph()
    from viewer.ui.demo import DemoBuilder
    from viewer.ui.error_dialog import install_excepthook, show_error
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings_store import SettingsStore

    install_excepthook()
    store = SettingsStore()
    windows: list[MainWindow] = []

    def new_window() -> MainWindow:
        window = MainWindow(store)
        windows.append(window)
        window.show()
        return window

    for path in paths:
        new_window().open_path(path)
    first = windows[0] if windows else new_window()
    screenshot = os.environ.get(SCREENSHOT_VARIABLE)
    if screenshot:
        _arm_screenshot(first, screenshot)
    if demo:
        target = first if first.document is None and not paths else new_window()
        builder = DemoBuilder(target)
        builder.ready.connect(target.open_path)
        builder.failed.connect(lambda exc: show_error(target, exc, "write the demo file"))
        builder.start()
    return int(app.exec())


def main() -> int:
    """``python -m viewer.app PATH ...`` (the ``cinemap`` command lives in :mod:`viewer.cli`)."""
    arguments = sys.argv[1:]
    demo = "--demo" in arguments
    return run([argument for argument in arguments if argument != "--demo"], demo=demo)


if __name__ == "__main__":
    sys.exit(main())
