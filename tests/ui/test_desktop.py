"""Desktop integration: the icon and desktop file name; the screenshot hook's exit codes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from viewer import app as cinemap_app  # noqa: E402
from viewer.synthetic import write_cine  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def application_names(qapp):
    """Restore what _application() changes on the test's QApplication."""
    saved = (qapp.organizationName(), qapp.applicationName(), qapp.applicationDisplayName(),
             qapp.desktopFileName(), qapp.windowIcon())
    yield qapp
    qapp.setOrganizationName(saved[0])
    qapp.setApplicationName(saved[1])
    qapp.setApplicationDisplayName(saved[2])
    qapp.setDesktopFileName(saved[3])
    qapp.setWindowIcon(saved[4])


def test_application_has_the_desktop_file_name_and_icon(application_names):
    app = cinemap_app._application()
    assert app is QApplication.instance()
    assert app.desktopFileName() == "cinemap" == (ROOT / "resources" / "cinemap.desktop").stem
    assert not app.windowIcon().isNull()
    for size in (16, 256):
        assert not app.windowIcon().pixmap(size, size).isNull()


def test_resources_are_found_beside_the_package_or_in_the_bundle(monkeypatch, tmp_path):
    assert cinemap_app.resource_folder() == ROOT / "resources"
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert cinemap_app.resource_folder() == tmp_path / "resources"


def test_a_missing_icon_is_no_error(qapp, tmp_path):
    assert cinemap_app.application_icon(tmp_path / "nowhere").isNull()


def _screenshot_run(tmp_path, target: Path) -> tuple[subprocess.CompletedProcess, Path]:
    shot = tmp_path / "shot.png"
    environment = {
        **os.environ, "QT_QPA_PLATFORM": "offscreen", "CINEMAP_SCREENSHOT": str(shot),
        "CINEMAP_CACHE_DIR": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run([sys.executable, "-m", "viewer", str(target)], env=environment, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    return result, shot


def test_screenshot_of_a_shown_file_exits_0(tmp_path):
    result, shot = _screenshot_run(tmp_path, write_cine(tmp_path / "cine.dcm", frames=3, rows=32, columns=32))
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 0


def test_screenshot_of_a_failed_open_exits_1(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM" * 100)
    result, shot = _screenshot_run(tmp_path, bad)
    assert result.returncode == 1, result.stderr[-2000:]
    assert shot.stat().st_size > 0  # the error dialog, for the record
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils is not installed")
def test_desktop_file_validates_without_errors_warnings_or_hints():
    result = subprocess.run(["desktop-file-validate", str(ROOT / "resources" / "cinemap.desktop")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout
