"""The model is a library of its own: it must import and work with Qt absent."""

import subprocess
import sys
import textwrap
from pathlib import Path

from reference_files import reference_files

BLOCK_QT = textwrap.dedent(
    """
    import sys
    class _NoQt:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'PySide2', 'pyqtgraph', 'shiboken6'):
                raise ImportError(f'{name} is blocked: the model must not import Qt')
            return None
    sys.meta_path.insert(0, _NoQt())
    """
)


def test_model_imports_and_reads_frames_without_qt():
    sample = next(p for p in reference_files() if p.name == "emri_small.dcm")
    script = BLOCK_QT + textwrap.dedent(
        f"""
        import viewer.model, viewer.model.document, viewer.model.dicom.header, viewer.model.dicom.encapsulated
        import importlib, pkgutil
        for info in pkgutil.iter_modules(viewer.model.__path__):
            importlib.import_module('viewer.model.' + info.name)
        from viewer.model import open_document
        with open_document({str(sample)!r}) as doc:
            assert doc.frame(doc.num_frames - 1).shape == doc.frame_shape
        bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'viewer.ui')]
        assert not bad, bad
        print('ok')
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_model_sources_never_mention_qt_imports():
    root = Path(__file__).parents[1] / "viewer" / "model"
    offenders = []
    for source in root.rglob("*.py"):
        for number, line in enumerate(source.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")) and any(
                name in stripped for name in ("PySide6", "pyqtgraph", "viewer.ui", "shiboken")
            ):
                offenders.append(f"{source.name}:{number}: {stripped}")
    assert not offenders, offenders
