"""The structure the architecture promises, checked by tools rather than by hand.

* import-linter's contracts in ``pyproject.toml``: the model imports no Qt,
  pyqtgraph, UI, app or command line; the UI does not import the app or the
  command line; the model's subpackages form layers (platform, storage,
  dicom, codecs, then frames / editing / display, then the document, then
  slides).
* No two modules import each other (grimp's import graph, which
  import-linter builds on).
* No mixins, and no module over 500 lines.
* And at run time: the model imports and reads frames with Qt blocked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

from reference_files import reference_files

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "viewer"


def test_import_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(ROOT)  # lint-imports reads pyproject.toml from the working folder
    assert lint_imports(no_cache=True, no_logo=True) == 0, "run `lint-imports` to see the broken contract"


def test_no_two_modules_import_each_other():
    graph = grimp.build_graph("viewer", cache_dir=None)
    pairs = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if module in graph.find_modules_directly_imported_by(imported):
                pairs.add(tuple(sorted((module, imported))))
    assert not pairs, sorted(pairs)


def _sources() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def test_no_class_is_built_from_mixins():
    offenders = []
    for source in _sources():
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.ClassDef):
                names = [ast.unparse(base) for base in node.bases]
                offenders += [f"{source.relative_to(ROOT)}: {node.name}({name})" for name in names
                              if name.split(".")[-1].endswith("Mixin")]
    assert not offenders, offenders


def test_no_module_over_500_lines():
    long = {str(source.relative_to(ROOT)): count for source in _sources()
            if (count := len(source.read_text().splitlines())) > 500}
    assert not long, long


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


def test_model_imports_and_reads_frames_with_qt_blocked():
    sample = next(p for p in reference_files() if p.name == "emri_small.dcm")
    script = BLOCK_QT + textwrap.dedent(
        f"""
        import importlib, pkgutil, viewer.model
        for info in pkgutil.walk_packages(viewer.model.__path__, 'viewer.model.'):
            if not info.name.rsplit('.', 1)[1].startswith('_'):  # _windows: imported on Windows only
                importlib.import_module(info.name)
        from viewer.model import open_document
        with open_document({str(sample)!r}) as doc:
            assert doc.frame(doc.num_frames - 1).shape == doc.frame_shape
        bad = [m for m in sys.modules if m == 'viewer.ui' or m.startswith(('viewer.ui.', 'PySide6', 'pyqtgraph'))]
        assert not bad, bad
        print('ok')
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
