"""Take the README's screenshots: the main window, Settings, tags, Save progress, an error, de-identify,
Export Cine, a whole-slide image (fit and 1:1) and its Mask Slide Label dialog.

Run from the repository root (offscreen, on a 1600 x 1000 screen like the
tests'; or under Xvfb with ``QT_QPA_PLATFORM=xcb``)::

    python tools/screenshots.py [FOLDER] [--huge]

``--huge`` also writes a 30,000 x 30,000 16-bit frame (1.8 GB, streamed to a
temporary folder) and shoots it at fit to window and at 1:1.

Each window is shown at its default size, as a user first sees it, and
saved as a PNG in FOLDER (default ``resources/screenshots``). The cine is a
synthetic ultrasound loop from :mod:`viewer.synthetic`, written to a
temporary folder, with a burned-in text band outside its region; the slide
is a synthetic JPEG pyramid with a label and an overview.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREEN_CONFIG = ROOT / "tests" / "ui" / "offscreen-screen.json"
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={SCREEN_CONFIG}"
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

FRAMES, ROWS, COLUMNS = 120, 480, 640
SHOWN_FRAME = 47


def settle(milliseconds: int = 300) -> None:
    """Let Qt lay out and paint (and pyqtgraph draw) before a grab."""
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


GREY_LEVELS = 192  # of 256 palette entries; the rest hold the interface's colours
COLOURS = 256 - GREY_LEVELS


def compact(image: QImage) -> QImage:
    """`image` with a 256-colour palette: greys in steps of 1.3 (unseen), the interface's colours kept.

    A screenshot is mostly grey (the frame, the widgets); one byte a pixel
    instead of three makes the PNG about three times smaller without the
    banding of Qt's own quantisation.
    """
    rgb = image.convertToFormat(QImage.Format.Format_RGB32)
    width, height = rgb.width(), rgb.height()
    pixels = np.frombuffer(rgb.constBits(), np.uint32).reshape(height, rgb.bytesPerLine() // 4)[:, :width]
    red, green, blue = (pixels >> 16) & 0xFF, (pixels >> 8) & 0xFF, pixels & 0xFF
    grey = (red == green) & (green == blue)
    indices = np.empty((height, width), np.uint8)
    indices[grey] = np.rint(blue[grey] * (GREY_LEVELS - 1) / 255).astype(np.uint8)
    palette = [int(round(level * 255 / (GREY_LEVELS - 1))) * 0x010101 | 0xFF000000 for level in range(GREY_LEVELS)]
    others, inverse, counts = np.unique(pixels[~grey], return_inverse=True, return_counts=True)
    if others.size:
        kept = others[np.argsort(counts)[::-1][:COLOURS]]
        channels = lambda values: np.stack([(values >> shift) & 0xFF for shift in (16, 8, 0)], -1).astype(int)  # noqa: E731
        distances = ((channels(others)[:, None, :] - channels(kept)[None, :, :]) ** 2).sum(-1)
        nearest = distances.argmin(1)
        indices[~grey] = (GREY_LEVELS + nearest[inverse.ravel()]).astype(np.uint8)
        palette += [int(colour) | 0xFF000000 for colour in kept]
    result = QImage(indices.tobytes(), width, height, width, QImage.Format.Format_Indexed8)
    result.setColorTable(palette)
    return result.copy()  # own the pixels: the bytes above go away


def save(widget: QWidget, folder: Path, name: str, full_colour: bool = False) -> Path:
    """Grab `widget` into FOLDER/NAME.png with 256 colours, or with `full_colour` (a colour
    image would band) into FOLDER/NAME.jpg."""
    settle()
    image = widget.grab().toImage()
    path = folder / f"{name}.{'jpg' if full_colour else 'png'}"
    saved = image.save(str(path), "JPEG", 90) if full_colour else compact(image).save(str(path), "PNG", 0)
    if not saved:  # PNG at 0: the smallest file
        raise OSError(f"cannot write {path}")
    print(f"{path}: {widget.width()} x {widget.height()}")
    return path


def main(folder: Path, huge: bool = False) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="cinemap-shots-"))
    os.environ["CINEMAP_CACHE_DIR"] = str(scratch / "cache")
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(scratch / "settings"))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from viewer.app import application_icon, configure_pyqtgraph

    configure_pyqtgraph()
    app.setWindowIcon(application_icon())
    from viewer.synthetic import write_cine

    cine = write_cine(scratch / "echo-loop.dcm", frames=FRAMES, rows=ROWS, columns=COLUMNS, bits_allocated=8,
                      kind="us", burned_in_annotation="YES", frame_time_ms=1000 / 30)
    shots = [
        main_window_shot(folder, cine),
        settings_shot(folder),
        tag_browser_shot(folder, cine),
        save_progress_shot(folder, cine),
        error_shot(folder, scratch),
        deidentify_shot(folder, cine),
        export_cine_shot(folder, cine),
        *slide_shots(folder, scratch),
        *(huge_shots(folder, scratch) if huge else []),
    ]
    for path in shots:
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


def _window(cine: Path):
    from viewer.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    loop = QEventLoop()
    window.document_opened.connect(lambda _document: loop.quit())
    window.open_path(str(cine))
    loop.exec()
    window.state.set_frame(SHOWN_FRAME)
    return window


def main_window_shot(folder: Path, cine: Path) -> Path:
    from viewer.model.display import render

    window = _window(cine)
    document = window.document
    frame = document.frame(SHOWN_FRAME)
    # The pixel readout as a user hovering over the image would see it.
    window.status.show_pixel(render.pixel_readout(frame, 240, 320, SHOWN_FRAME, 1.0, 0.0, ""))
    window.status.update_memory()
    path = save(window, folder, "main-window")
    window.close_document()
    window.close()
    return path


def settings_shot(folder: Path) -> Path:
    from viewer.model.settings import Settings
    from viewer.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), can_reopen=True)
    dialog.show()
    path = save(dialog, folder, "settings")
    dialog.close()
    return path


def tag_browser_shot(folder: Path, cine: Path) -> Path:
    window = _window(cine)
    window.tag_browser.toggleViewAction().trigger()
    settle()
    path = save(window.tag_browser, folder, "tag-browser")
    window.close_document()
    window.close()
    return path


def save_progress_shot(folder: Path, cine: Path) -> Path:
    from viewer.ui.saving import save_progress_dialog

    window = _window(cine)
    dialog = save_progress_dialog(window, cine.name)
    dialog.show_progress(FRAMES + 47, 2 * FRAMES)  # journaled every frame, writing the 48th
    path = save(dialog, folder, "save-progress")
    dialog.reset()
    window.close_document()
    window.close()
    return path


def error_shot(folder: Path, scratch: Path) -> Path:
    from viewer.ui.main_window import MainWindow

    bad = scratch / "report.pdf.dcm"
    bad.write_bytes(b"%PDF-1.7 not a DICOM file " * 40)
    window = MainWindow()
    window.show()
    loop = QEventLoop()
    window.open_failed.connect(lambda *_args: loop.quit())
    window.open_path(str(bad))
    loop.exec()
    box = next(box for box in window.findChildren(QWidget, "CinemapMessage") if box.isVisible())
    path = save(box, folder, "error-dialog")
    box.close()
    window.close()
    return path


def deidentify_shot(folder: Path, cine: Path) -> Path:
    window = _window(cine)
    window.deidentify.start()
    path = save(window.deidentify.dialog, folder, "deidentify")
    window.deidentify.dialog.reject()
    window.close_document()
    window.close()
    return path


def export_cine_shot(folder: Path, cine: Path) -> Path:
    from viewer.ui.export_dialog import ExportCineDialog

    window = _window(cine)
    document = window.document
    dialog = ExportCineDialog(document.num_frames, 30.0, str(cine.parent), False, window)
    dialog.show()
    path = save(dialog, folder, "export-cine")
    dialog.reject()
    window.close_document()
    window.close()
    return path


def slide_shots(folder: Path, scratch: Path) -> list[Path]:
    from viewer.synthetic.slide import write_slide
    from viewer.ui.main_window import MainWindow

    files = write_slide(scratch / "slide", width=24000, height=18000, levels=5, compression="jpeg", period=8)
    window = MainWindow()
    window.show()
    loop = QEventLoop()
    window.slides.slide_opened.connect(lambda *_args: loop.quit())
    window.open_path(files.folder)
    loop.exec()
    view = window.slides.view
    while not (view.on_screen and view.complete):
        settle(100)
    shots = [save(window, folder, "slide-view", full_colour=True)]
    window.actual_size_view()
    settle(300)
    while not (view.on_screen and view.complete):
        settle(100)
    shots.append(save(window, folder, "slide-1to1", full_colour=True))
    window.slides.mask_label()  # reads the label and overview on a worker, then shows the dialog
    while window.slides.masker.dialog is None:
        settle(100)
    dialog = window.slides.masker.dialog
    shots.append(save(dialog, folder, "mask-slide-label"))
    dialog.reject()
    window.close_document()
    window.close()
    return shots


def huge_shots(folder: Path, scratch: Path, size: int = 30000) -> list[Path]:
    from viewer.synthetic import write_cine

    path = write_cine(scratch / "huge.dcm", frames=1, rows=size, columns=size, pattern="grid")
    window = _window(path)
    window.fit_view()
    while not window.document.overviews.is_built(0):  # the averaged levels, built in the background
        settle(200)
    shots = []
    for name, show in (("huge-fit", window.fit_view), ("huge-1to1", window.actual_size_view)):
        show()
        settle(1500)  # the region read at the new scale is on screen well within this
        shots.append(save(window, folder, name))
    window.close_document()
    window.close()
    path.unlink()
    return shots


if __name__ == "__main__":
    arguments = [argument for argument in sys.argv[1:] if argument != "--huge"]
    sys.exit(main(Path(arguments[0]) if arguments else ROOT / "resources" / "screenshots", "--huge" in sys.argv))
