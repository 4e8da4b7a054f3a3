"""Start the GUI: ``run(paths, demo)`` is what ``cinemap [PATH ...]`` and ``cinemap --demo`` call.

Environment
-----------
CINEMAP_SCREENSHOT
    If set to a file name, grab the main window once the first frame has
    been painted, save it there as PNG and quit (end-to-end tests, README).
    If the file cannot be opened, the error dialog is grabbed and the exit
    code is 1.
CINEMAP_DEMO_FRAMES
    Frames of the ``--demo`` cine (default 4000, about 2 GB).
CINEMAP_CACHE_DIR
    Folder of the demo file and the log (default ``~/.cache/cinemap``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from viewer.exit_codes import EXIT_FILE_ERROR, EXIT_OK

SCREENSHOT_VARIABLE = "CINEMAP_SCREENSHOT"
_SCREENSHOT_DELAY_MS = 500
_QUIT_AFTER_SCREENSHOT_MS = 1000
DESKTOP_FILE_NAME = "cinemap"  # resources/cinemap.desktop: docks and task bars match the window to it


def resource_folder() -> Path:
    """``resources`` (icon, desktop entry): in the bundle when frozen, else beside the package."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def application_icon(folder: Path | None = None):
    """Cinemap's icon from ``cinemap.svg`` and the rendered PNG sizes; a null icon if they are missing."""
    from PySide6.QtGui import QIcon

    folder = resource_folder() if folder is None else folder
    svg = folder / "cinemap.svg"
    icon = QIcon(str(svg)) if svg.is_file() else QIcon()
    # The PNGs serve where the SVG plugin is missing, and are sharper at 16-48 px.
    for png in sorted((folder / "icons").glob("cinemap-*.png")):
        icon.addFile(str(png))
    return icon


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setOrganizationName("Cinemap")
    app.setApplicationName("Cinemap")
    app.setApplicationDisplayName("Cinemap")
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    icon = application_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)
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


def _arm_screenshot(window, path: str):
    """Save a grab of `window` to `path` after its first painted frame, then quit.

    Returns a function to call when the file cannot be shown: it grabs the
    error dialog instead and quits with exit code 1.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def grab(exit_code: int) -> None:
        _grab_window(window).save(path, "PNG")
        QTimer.singleShot(_QUIT_AFTER_SCREENSHOT_MS, lambda: QApplication.exit(exit_code))

    def on_painted() -> None:
        window.image_view.frame_painted.disconnect(on_painted)
        window.slides.view.painted.disconnect(on_painted)
        QTimer.singleShot(_SCREENSHOT_DELAY_MS, lambda: grab(EXIT_OK))

    def failed(*_: object) -> None:
        QTimer.singleShot(_SCREENSHOT_DELAY_MS, lambda: grab(EXIT_FILE_ERROR))

    window.image_view.frame_painted.connect(on_painted)
    window.slides.view.painted.connect(on_painted)  # a whole-slide image's first tiles
    window.open_failed.connect(failed)  # instead of waiting forever for a frame
    return failed


def run(paths: list[str], demo: bool = False, fresh: bool = False) -> int:
    """Open a main window per path (one empty window if none) and run until the last closes.

    Parameters
    ----------
    paths : list of str
        Files to open.
    demo : bool
        Also make (first time) and open the synthetic demo cine.
    fresh : bool
        With `demo`: write the demo file again even if it exists.

    Returns
    -------
    int
        The process exit code.
    """
    from viewer.model.codecs.shared import shutdown_pools

    app, _windows = start(paths, demo, fresh)  # the list keeps the windows alive
    try:
        return int(app.exec())
    finally:
        shutdown_pools()  # decoder processes end with the windows, not at interpreter exit


def start(paths: list[str], demo: bool = False, fresh: bool = False):
    """Everything :func:`run` does before the event loop: returns the application and its windows."""
    app = _application()
    configure_pyqtgraph()
    from viewer.model.storage import lease
    from viewer.ui.error_dialog import install_excepthook
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings_store import SettingsStore
    from viewer.ui.termination import install_sigterm_quit

    install_excepthook()
    install_sigterm_quit(app)  # the edit lock's info file goes with a clean exit
    # Files are opened on worker threads, where the model cannot install its
    # SIGIO handler: without it there is no read lease, only fstat checks.
    lease.install_default_handler()
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
    screenshot_failed = _arm_screenshot(first, screenshot) if screenshot else None
    if demo:
        target = first if first.document is None and not paths else new_window()
        builder = target.open_demo(fresh=fresh)
        if screenshot_failed is not None and target is first and builder is not None:
            builder.failed.connect(screenshot_failed)
    return app, windows


def main() -> int:
    """``python -m viewer.app PATH ...`` (the ``cinemap`` command lives in :mod:`viewer.cli`)."""
    arguments = sys.argv[1:]
    demo = "--demo" in arguments
    fresh = "--fresh" in arguments
    return run([argument for argument in arguments if argument not in ("--demo", "--fresh")], demo=demo, fresh=fresh)


if __name__ == "__main__":
    sys.exit(main())
