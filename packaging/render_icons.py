"""Render ``resources/cinemap.svg`` to the PNG icon sizes in ``resources/icons/``.

Run after editing the SVG (the PNGs are committed, so building the app does
not need this)::

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py

Uses Qt's own SVG renderer (QtSvg is part of PySide6-Essentials), so no
rsvg-convert or ImageMagick is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
SVG_PATH = ROOT / "resources" / "cinemap.svg"
ICON_DIR = ROOT / "resources" / "icons"
# The freedesktop hicolor sizes that matter, and 512 for macOS/store listings.
SIZES = (16, 32, 48, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The icon as a transparent ``size`` x ``size`` image."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (QPainter needs it)
    renderer = QSvgRenderer(str(SVG_PATH))
    if not renderer.isValid():
        print(f"render_icons: {SVG_PATH} is not a valid SVG", file=sys.stderr)
        return 1
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        target = ICON_DIR / f"cinemap-{size}.png"
        if not render(renderer, size).save(str(target)):
            print(f"render_icons: cannot write {target}", file=sys.stderr)
            return 1
        print(target.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
