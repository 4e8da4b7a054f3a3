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
