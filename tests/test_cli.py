"""``cinemap info`` and the command line's contract (exit codes, one-line errors)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from viewer.cli import main
from viewer.synthetic import write_cine


def test_info_json(tmp_path, capsys):
    path = write_cine(tmp_path / "c.dcm", frames=4, rows=32, columns=32)
    assert main(["info", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 4
    assert report["frame_shape"] == [32, 32]
    assert report["dtype"] == "uint16"
    assert report["pixel_data"]["length"] == 4 * 32 * 32 * 2
    assert report["mapped_elements"][0]["keyword"] == "PixelData"
    assert report["editable"] is True
    assert report["open_ms"] > 0


def test_info_text(tmp_path, capsys):
    path = write_cine(tmp_path / "c.dcm", frames=2, rows=16, columns=16)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Explicit VR Little Endian" in out and "2 x 16 x 16" in out


def test_info_error_is_one_line_and_nonzero(tmp_path, capsys):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom" * 100)
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "Traceback" not in err


def test_console_entry_points():
    root = Path(__file__).parents[1]
    version = subprocess.run([sys.executable, "-m", "viewer", "--version"], capture_output=True, text=True, cwd=root)
    assert version.returncode == 0 and version.stdout.startswith("cinemap ")
    helptext = subprocess.run([sys.executable, "-m", "viewer", "--help"], capture_output=True, text=True, cwd=root)
    assert helptext.returncode == 0
    for word in ("info", "bench", "--demo", "exit codes"):
        assert word in helptext.stdout


def test_usage_error_exit_code():
    with pytest.raises(SystemExit) as info:
        main(["info"])
    assert info.value.code == 2


def test_info_check_frames_decodes_compressed(capsys):
    from reference_files import reference_files

    path = next(p for p in reference_files() if p.name == "emri_small_RLE.dcm")
    assert main(["info", str(path), "--json", "--check-frames"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [c["index"] for c in report["checked_frames"]] == [0, 5, 9]
    assert all(c["shape"] == [64, 64] and c["max"] > c["min"] for c in report["checked_frames"])


def _cinemap(*args, env_remove=(), env=None, cwd=None):
    """Run ``python -m viewer`` as a user would, without the listed environment variables."""
    import os

    root = Path(__file__).parents[1]
    environment = {key: value for key, value in os.environ.items() if key not in env_remove}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "viewer", *map(str, args)], capture_output=True, text=True,
                          env=environment, cwd=cwd or root, timeout=120)


NO_DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


@pytest.mark.skipif(sys.platform.startswith(("win", "darwin")), reason="Windows and macOS always have a display")
def test_no_display_is_one_line_and_exit_code_3(tmp_path):
    path = write_cine(tmp_path / "c.dcm", frames=2, rows=16, columns=16)
    result = _cinemap(path, env_remove=NO_DISPLAY_VARIABLES, env={"CINEMAP_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for advice in ("no display", "ssh -X", "QT_QPA_PLATFORM=offscreen", "cinemap info"):
        assert advice in lines[0]


def test_a_mistyped_path_is_refused_before_the_viewer_starts(tmp_path):
    # No display either: had Qt started, it would abort (134) or report exit code 3.
    result = _cinemap(tmp_path / "bogus", env_remove=NO_DISPLAY_VARIABLES)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"cinemap: {tmp_path / 'bogus'}: no such file"
    folder = _cinemap(tmp_path, env_remove=NO_DISPLAY_VARIABLES)
    assert folder.returncode == 1 and folder.stderr.strip() == f"cinemap: {tmp_path}: is a folder without a whole-slide image"


@pytest.mark.parametrize(
    "environ, platform, has_display",
    [({}, "linux", False), ({"DISPLAY": ":0"}, "linux", True), ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
     ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True), ({}, "freebsd14", False), ({}, "win32", True),
     ({}, "darwin", True), ({}, "cygwin", True)],
)
def test_display_detection(environ, platform, has_display):
    from viewer.cli import display_problem

    assert (display_problem(environ, platform) is None) == has_display


def test_info_takes_several_paths_as_ls_would(tmp_path, capsys):
    first = write_cine(tmp_path / "a.dcm", frames=2, rows=16, columns=16)
    second = write_cine(tmp_path / "b.dcm", frames=3, rows=8, columns=8)
    missing = tmp_path / "missing.dcm"
    assert main(["info", str(first), str(missing), str(second)]) == 1  # one failed: exit 1, the others described
    captured = capsys.readouterr()
    assert captured.err.strip() == f"cinemap: {missing}: no such file"
    assert f"{first}:\n" in captured.out and f"{second}:\n" in captured.out
    assert "2 x 16 x 16" in captured.out and "3 x 8 x 8" in captured.out
    assert main(["info", str(first), str(second), "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [report["frames"] for report in reports] == [2, 3]


def test_fresh_goes_with_demo():
    with pytest.raises(SystemExit) as info:
        main(["--fresh"])
    assert info.value.code == 2
