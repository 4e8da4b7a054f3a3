"""The real DICOM files the suite checks against.

Walks the folders of the ``pydicom-data`` package (``data_store``) and of
pydicom's own ``pydicom/data/test_files`` directly: pydicom's
``get_testdata_files()`` would try the network.
"""

from __future__ import annotations

import os
from pathlib import Path

_SKIP_SUFFIXES = {".py", ".pyc", ".txt", ".json", ".icc", ".dump", ".gz", ".md", ".zip"}


def reference_folders() -> list[Path]:
    """Folders holding real DICOM files (only those installed)."""
    folders = []
    try:
        import data_store

        folders.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    import pydicom

    folders.append(Path(pydicom.__file__).parent / "data" / "test_files")
    return [folder for folder in folders if folder.is_dir()]


def reference_files() -> list[Path]:
    """Every candidate DICOM file in the reference folders, sorted."""
    files = []
    for folder in reference_folders():
        for root, _, names in os.walk(folder):
            for name in names:
                path = Path(root) / name
                if path.suffix.lower() not in _SKIP_SUFFIXES and "__pycache__" not in path.parts:
                    files.append(path)
    return sorted(files)


def deid_ultrasounds() -> Path | None:
    """The deid-data package's ultrasound folder, if installed."""
    try:
        import deid_data
    except ImportError:
        return None
    folder = Path(deid_data.__file__).parent / "data" / "ultrasounds"
    return folder if folder.is_dir() else None
