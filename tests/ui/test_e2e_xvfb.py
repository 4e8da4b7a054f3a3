"""End to end: the real program on a synthetic file under Xvfb, checked by a screenshot.

Starts its own X server (``Xvfb -displayfd`` picks a free display), runs
``python -m viewer PATH`` with ``CINEMAP_SCREENSHOT`` set (the app grabs its
window from the X server once the first frame is painted, saves it, and
quits), watches the window title with ``xwininfo``, and checks that the
picture shows an image, not a blank window.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from viewer.synthetic import write_cine  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def command(path: Path) -> list[str]:
    if (ROOT / "viewer" / "cli.py").exists():
        return [sys.executable, "-m", "viewer", str(path)]
    return [sys.executable, "-c", "import sys; from viewer.app import run; sys.exit(run(sys.argv[1:]))", str(path)]


def window_titles(display: str) -> str:
    if shutil.which("xwininfo") is None:
        return ""
    result = subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                            capture_output=True, text=True, timeout=10)
    return result.stdout


def test_cinemap_shows_the_first_frame_under_xvfb(xvfb, tmp_path):
    path = tmp_path / "e2e-cine.dcm"
    write_cine(path, frames=30, rows=256, columns=256)
    shot = tmp_path / "screenshot.png"
    environment = {
        **os.environ,
        "DISPLAY": xvfb,
        "QT_QPA_PLATFORM": "xcb",
        "CINEMAP_SCREENSHOT": str(shot),
        "CINEMAP_CACHE_DIR": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # QSettings: never the user's
        "PYTHONPATH": str(ROOT),
    }
    app = subprocess.Popen(command(path), env=environment, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    titles = ""
    deadline = time.monotonic() + 60
    try:
        while app.poll() is None and time.monotonic() < deadline:
            listing = window_titles(xvfb)
            if "e2e-cine.dcm" in listing:
                titles = listing
            time.sleep(0.1)
        output = app.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert app.returncode == 0, output
    assert shot.exists(), output
    if shutil.which("xwininfo") is not None:
        assert '"e2e-cine.dcm — Cinemap"' in titles or '"e2e-cine.dcm - Cinemap"' in titles, titles

    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert not image.isNull() and image.width() > 300 and image.height() > 300
    greys = set()
    bright = 0
    step = 7
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            grey = image.pixelColor(x, y).lightness()
            greys.add(grey)
            bright += grey > 200
    assert len(greys) > 64, "the window looks blank: too few grey levels"
    assert bright > 50
