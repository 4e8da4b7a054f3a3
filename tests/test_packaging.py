"""The frozen app: build ``packaging/cinemap.spec`` with PyInstaller and run it as a new user would.

One build per test run (shared by the pytest-xdist workers through a lock
file), then the frozen ``cinemap`` is run from an unrelated folder with no
access to the source tree: ``--version``, ``info`` on a synthetic cine,
``info --check-frames`` on real compressed files (JPEG, JPEG 2000, JPEG-LS,
RLE: each needs a codec that PyInstaller cannot find by itself), and the GUI
offscreen until it has painted its first frame.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import viewer
from viewer.synthetic import write_cine

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "cinemap.spec"
EXECUTABLE = "cinemap.exe" if os.name == "nt" else "cinemap"
BUILD_TIMEOUT_S = 420
RUN_TIMEOUT_S = 90

# Real compressed files from pydicom's own test files, and the codec each needs.
COMPRESSED_FILES = {
    "SC_rgb_jpeg_dcmtk.dcm": "JPEG Baseline: pylibjpeg-libjpeg",
    "MR_small_jp2klossless.dcm": "JPEG 2000: pylibjpeg-openjpeg",
    "MR_small_jpeg_ls_lossless.dcm": "JPEG-LS: pylibjpeg-libjpeg or pyjpegls",
    "MR_small_RLE.dcm": "RLE: pylibjpeg-rle or pydicom",
}
# Distributions whose metadata must be in the bundle: pylibjpeg finds its
# plugins through entry points, and jpeg_ls reads its version on import.
PLUGIN_DISTRIBUTIONS = ("pylibjpeg_libjpeg", "pylibjpeg_openjpeg", "pylibjpeg_rle")
METADATA_DISTRIBUTIONS = ("pylibjpeg", *PLUGIN_DISTRIBUTIONS, "pyjpegls")
EXTENSION_MODULES = ("_libjpeg.*", "_openjpeg.*", "_CharLS.*", "rle/rle.*")
# Test packages and data sets that must stay out of the bundle.
UNWANTED = ("pytest", "_pytest", "hypothesis", "data_store", "deid_data", "libjpeg/tests", "openjpeg/tests",
            "rle/tests", "jpeg_ls/tests", "pylibjpeg/tests", "pyqtgraph/examples", "scipy")


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """Hold an exclusive lock on `lock_path` (POSIX); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: no xdist sharing, each worker builds
        yield
        return
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(target: Path) -> str:
    """Run PyInstaller on the spec into `target`; return "" on success, else the reason."""
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(target / "dist"), "--workpath", str(target / "work"), str(SPEC)]
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"PyInstaller did not finish in {BUILD_TIMEOUT_S} s"
    if result.returncode != 0:
        return f"PyInstaller exited with {result.returncode}:\n{result.stderr[-6000:]}"
    print(f"built the frozen app in {time.monotonic() - started:.0f} s")
    return ""


@pytest.fixture(scope="session")
def frozen_dir(tmp_path_factory) -> Path:
    """The one-folder app (``.../dist/cinemap``), built once per test run."""
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (pip install -e '.[package]')")
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the same folder for every worker of this run
    target = shared / "frozen-cinemap"
    outcome = target / "build-outcome.txt"
    with _exclusive(shared / "frozen-cinemap.lock"):
        if not outcome.exists():
            target.mkdir(exist_ok=True)
            outcome.write_text(_build(target))
    failure = outcome.read_text()
    if failure:
        pytest.fail(f"building {SPEC.name} failed: {failure}")
    return target / "dist" / "cinemap"


@pytest.fixture(scope="session")
def frozen_app(frozen_dir) -> Path:
    """The frozen ``cinemap`` executable."""
    executable = frozen_dir / EXECUTABLE
    assert executable.is_file(), f"no {EXECUTABLE} in {frozen_dir}"
    return executable


def run_frozen(app: Path, *args: str, cwd: Path, extra_env: dict[str, str] | None = None,
               timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the frozen app from `cwd` with no Python path pointing into the checkout."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(extra_env or {})
    return subprocess.run([str(app), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def pydicom_test_file(name: str) -> Path:
    """A file from the installed pydicom's own ``data/test_files`` (never downloaded)."""
    import pydicom

    test_files = Path(pydicom.__file__).parent / "data" / "test_files"
    for folder, _, files in os.walk(test_files):
        if name in files:
            return Path(folder) / name
    pytest.skip(f"{name} is not among pydicom's installed test files")


def test_frozen_version(frozen_app, tmp_path):
    result = run_frozen(frozen_app, "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"cinemap {viewer.__version__}"


def test_frozen_info_on_a_synthetic_cine(frozen_app, tmp_path):
    path = write_cine(tmp_path / "cine.dcm", frames=4, rows=32, columns=32)
    result = run_frozen(frozen_app, "info", "--json", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frames"] == 4
    assert report["frame_shape"] == [32, 32]
    assert report["dtype"] == "uint16"
    assert report["pixel_data"]["length"] == 4 * 32 * 32 * 2
    assert report["editable"] is True


def test_frozen_info_error_is_one_line(frozen_app, tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom" * 100)
    result = run_frozen(frozen_app, "info", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", sorted(COMPRESSED_FILES), ids=lambda name: COMPRESSED_FILES[name].split(":")[0])
def test_frozen_decodes_compressed_frames(frozen_app, tmp_path, name):
    import pydicom
    from pydicom.pixels import pixel_array

    path = pydicom_test_file(name)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    args = ["info", "--json", "--check-frames", str(path)]
    result = run_frozen(frozen_app, *args, cwd=tmp_path)
    assert result.returncode == 0, f"{COMPRESSED_FILES[name]}: {result.stderr}"
    report = json.loads(result.stdout)
    assert report["transfer_syntax"]["uid"] == header.file_meta.TransferSyntaxUID
    assert report["compressed"] is True
    assert report["frames"] == int(header.get("NumberOfFrames") or 1)
    checked = report["checked_frames"]
    assert checked, "no frame was decoded"
    for frame in checked:
        expected = pixel_array(path, index=frame["index"])
        assert frame["shape"] == list(expected.shape), name
        assert (frame["min"], frame["max"]) == (float(expected.min()), float(expected.max())), name


def test_frozen_bundle_contents(frozen_dir):
    internal = frozen_dir / "_internal"
    assert internal.is_dir(), f"unexpected layout of {frozen_dir}"
    for distribution in METADATA_DISTRIBUTIONS:
        found = list(internal.glob(f"{distribution}-*.dist-info/METADATA"))
        assert found, f"the metadata of {distribution} is missing from the bundle"
    for distribution in PLUGIN_DISTRIBUTIONS:
        (entry_points,) = internal.glob(f"{distribution}-*.dist-info/entry_points.txt")
        assert "pylibjpeg.pixel_data_decoders" in entry_points.read_text(), distribution
    for pattern in EXTENSION_MODULES:
        assert list(internal.glob(pattern)), f"no compiled {pattern} in the bundle"
    for unwanted in UNWANTED:
        assert not (internal / unwanted).exists(), f"{unwanted} should not be bundled"
    resources = internal / "resources"
    assert (resources / "cinemap.svg").is_file() and (resources / "cinemap.desktop").is_file()
    assert (resources / "icons" / "cinemap-256.png").is_file()
    size = sum(path.stat().st_size for path in frozen_dir.rglob("*") if path.is_file() and not path.is_symlink())
    print(f"bundle size: {size / 2**20:.0f} MiB")
    assert size < 400 * 2**20, f"the bundle grew to {size / 2**20:.0f} MiB"


@pytest.mark.parametrize("source", ["file", "demo"])
def test_frozen_gui_paints_a_frame(frozen_app, tmp_path, source):
    from PySide6 import QtGui

    from viewer.app import SCREENSHOT_VARIABLE
    from viewer.logfile import CACHE_VARIABLE
    from viewer.ui.demo import FRAMES_VARIABLE

    screenshot = tmp_path / "window.png"
    env = {"QT_QPA_PLATFORM": "offscreen", SCREENSHOT_VARIABLE: str(screenshot)}
    if source == "demo":
        args = ["--demo"]
        env.update({FRAMES_VARIABLE: "20", CACHE_VARIABLE: str(tmp_path / "cache")})
    else:
        args = [str(write_cine(tmp_path / "cine.dcm", frames=4, rows=64, columns=64))]
    result = run_frozen(frozen_app, *args, cwd=tmp_path, extra_env=env)
    assert result.returncode == 0, result.stderr
    image = QtGui.QImage(str(screenshot))
    assert not image.isNull(), f"no screenshot at {screenshot}"
    assert image.width() > 200 and image.height() > 200
    # The middle of the window is the image: the synthetic rings over a
    # gradient give many greys there, a failed open leaves it black.
    width, height = image.width(), image.height()
    middle = {image.pixel(x, y) for x in range(width // 3, 2 * width // 3, 4) for y in range(height // 3, 2 * height // 3, 4)}
    assert len(middle) > 16, f"the middle of the window shows only {len(middle)} colours: no frame painted"
