"""Help > About Cinemap: what this is, the versions it runs on and the decoders it has.

The facts come from the running program (``__version__`` attributes and
pydicom's decoder registry), so that a user can paste them into a bug report;
:func:`about_text` is the same as plain text (the Copy button).
"""

from __future__ import annotations

import html
import platform
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

import viewer
from viewer.logfile import log_path
from viewer.ui.paths import log_folder

DESCRIPTION = (
    "Cinemap views, plays and masks DICOM files too large for memory. It maps the file instead of reading it, "
    "so a multi-gigabyte cine opens at once and costs little memory; compressed frames are decoded one at a "
    "time by pydicom's decoders. Edits stay in memory until they are saved through a crash-safe journal."
)

# Transfer syntaxes whose pixel decoders a user may need, by the name shown.
DECODER_SYNTAXES = (
    ("JPEG Baseline", "JPEGBaseline8Bit"),
    ("JPEG Extended", "JPEGExtended12Bit"),
    ("JPEG Lossless", "JPEGLossless"),
    ("JPEG Lossless SV1", "JPEGLosslessSV1"),
    ("JPEG-LS Lossless", "JPEGLSLossless"),
    ("JPEG-LS Near-Lossless", "JPEGLSNearLossless"),
    ("JPEG 2000 Lossless", "JPEG2000Lossless"),
    ("JPEG 2000", "JPEG2000"),
    ("HTJ2K", "HTJ2K"),
    ("RLE Lossless", "RLELossless"),
    ("Deflate", "DeflatedExplicitVRLittleEndian"),
)


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of Cinemap and what it runs on."""
    import numpy
    import pydicom
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    return [
        ("Cinemap", viewer.__version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()}, {sys.platform})"),
        ("pydicom", pydicom.__version__),
        ("numpy", numpy.__version__),
        ("pyqtgraph", pyqtgraph.__version__),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
    ]


def decoder_status() -> list[tuple[str, bool, tuple[str, ...]]]:
    """(name, available, plugins) of pydicom's decoder for each of :data:`DECODER_SYNTAXES`."""
    import pydicom.uid
    from pydicom.pixels import get_decoder

    rows: list[tuple[str, bool, tuple[str, ...]]] = []
    for name, keyword in DECODER_SYNTAXES:
        try:
            decoder = get_decoder(getattr(pydicom.uid, keyword))
        except (AttributeError, NotImplementedError, ValueError, TypeError):  # AttributeError: a syntax this pydicom lacks
            rows.append((name, False, ()))
            continue
        rows.append((name, bool(decoder.is_available), tuple(decoder.available_plugins)))
    return rows


def _decoder_text(available: bool, plugins: tuple[str, ...]) -> str:
    if not available:
        return "not available"
    return ", ".join(plugins) if plugins else "built in"


def about_text() -> str:
    """Everything the dialog shows, as plain text."""
    lines = [DESCRIPTION, ""]
    lines += [f"{name}: {version}" for name, version in library_versions()]
    lines += ["", "Pixel decoders:"]
    lines += [f"  {name}: {_decoder_text(ok, plugins)}" for name, ok, plugins in decoder_status()]
    lines += ["", f"Log: {log_path(log_folder())}"]
    return "\n".join(lines)


def _about_html() -> str:
    def table(rows: list[tuple[str, str]]) -> str:
        cells = "".join(
            f"<tr><td style='padding-right:12px'>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in rows
        )
        return f"<table>{cells}</table>"

    decoders = [(name, _decoder_text(ok, plugins)) for name, ok, plugins in decoder_status()]
    return (
        f"<h3>Cinemap {html.escape(viewer.__version__)}</h3><p>{html.escape(DESCRIPTION)}</p>"
        f"{table(library_versions())}<h4>Pixel decoders</h4>{table(decoders)}"
        f"<p>Log file: <code>{html.escape(log_path(log_folder()))}</code></p>"
    )


class AboutDialog(QDialog):
    """Help > About Cinemap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Cinemap")
        self.text = about_text()
        label = QLabel(_about_html())
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setMinimumWidth(460)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy these facts for a bug report")
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)
        self.label = label
