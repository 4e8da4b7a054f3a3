"""Regression test for the PySide6 6.12.0 reference leak on Python < 3.12.

PySide6 6.12.0 loses a reference to ``True`` on every ``Signal.emit()`` and
to ``None`` on many void calls; after a few thousand signals the interpreter
aborts. pyproject.toml keeps those users below 6.12; this test fails if an
installed PySide6 leaks again.
"""

import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtCore = pytest.importorskip("PySide6.QtCore")

EMITS = 100_000


class _Emitter(QtCore.QObject):
    fired = QtCore.Signal(bool)
    void = QtCore.Signal()


def test_signal_emit_keeps_true_and_none_references(qapp):
    # qapp (pytest-qt) is a QApplication: creating a bare QCoreApplication here
    # would make every later widget test in this process abort.
    app = qapp
    emitter = _Emitter()
    received = []
    emitter.fired.connect(lambda flag: received.append(flag) if len(received) < 1 else None)
    emitter.void.connect(lambda: None)
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(EMITS):
        emitter.fired.emit(True)
        emitter.void.emit()
        emitter.blockSignals(False)
    true_after, none_after = sys.getrefcount(True), sys.getrefcount(None)
    assert received == [True]
    # Immortal objects (3.12+) report a constant huge count; mortal ones must not fall.
    assert true_after >= true_before - 100, f"lost {true_before - true_after} references to True"
    assert none_after >= none_before - 100, f"lost {none_before - none_after} references to None"
    assert app is not None
