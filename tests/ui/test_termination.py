"""SIGTERM quits the GUI's event loop cleanly, so the edit lock's info file does not stay beside the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from dicom_builders import write_dicom
from viewer.model.storage.filelock import lock_info_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GUI = """
import os, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from viewer.model.storage.filelock import acquire_edit_lock
from viewer.ui.termination import install_sigterm_quit
app = QApplication([])
install_sigterm_quit(app)
lock = acquire_edit_lock(os.open(sys.argv[1], os.O_RDWR), sys.argv[1])
QTimer.singleShot(0, lambda: print("running", flush=True))
print("exit code", app.exec(), flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals (SIGTERM to another process)")
def test_sigterm_quits_the_event_loop_and_removes_the_info_file(tmp_path):
    path = str(tmp_path / "edited.dcm")
    write_dicom(path, np.zeros((2, 8, 8), np.uint16))
    process = subprocess.Popen([sys.executable, "-c", GUI, path], stdout=subprocess.PIPE, text=True, cwd=REPO,
                               env={**os.environ, "PYTHONPATH": REPO, "QT_QPA_PLATFORM": "offscreen"})
    try:
        assert process.stdout.readline().strip() == "running"
        assert os.path.exists(lock_info_path(path))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0  # a normal exit, not death by signal
        assert process.stdout.read().strip() == "exit code 0"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert not os.path.exists(lock_info_path(path))
