"""Cinemap: a desktop viewer for DICOM files too large for memory.

The package is split in three layers:

- :mod:`viewer.model` -- the document model, a Qt-free library (header
  parsing, memory-mapped frame sources, display transforms, edits, journal);
- :mod:`viewer.ui` -- the PySide6/pyqtgraph widgets, which subscribe to the
  model and send it commands;
- :mod:`viewer.cli` -- the command line (``cinemap``), which offers the same
  model headless.
"""

__version__ = "0.1.0"
