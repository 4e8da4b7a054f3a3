"""``cinemap info`` on a bad file: one line on stderr, exit code 1, the traceback in the log file, no Qt."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from test_layers import BLOCK_QT

ROOT = Path(__file__).resolve().parents[1]


def run_info(tmp_path: Path, target: Path) -> subprocess.CompletedProcess:
    script = BLOCK_QT + textwrap.dedent(
        """
        import sys
        from viewer.cli import main
        code = main(["info", sys.argv[1]])
        assert not [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]
        sys.exit(code)
        """
    )
    environment = {"CINEMAP_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, cwd=tmp_path,
                          env=environment, timeout=60)


def test_a_bad_file_is_one_line_exit_1_and_a_logged_traceback(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"this is not DICOM at all" * 20)
    result = run_info(tmp_path, bad)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinemap: ") and "broken.dcm" in lines[0], result.stderr
    log = (tmp_path / "cache" / "log" / "cinemap.log").read_text(encoding="utf-8")
    assert f"cinemap info {bad}" in log and "Traceback (most recent call last)" in log and "Error" in log


def test_a_missing_file_too(tmp_path):
    result = run_info(tmp_path, tmp_path / "nowhere.dcm")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" in (tmp_path / "cache" / "log" / "cinemap.log").read_text(encoding="utf-8")


def test_the_log_is_rotated_past_its_size_limit(tmp_path, monkeypatch):
    from viewer import logfile

    monkeypatch.setattr(logfile, "MAX_LOG_BYTES", 200)
    for number in range(20):
        assert logfile.write_log(f"entry {number} " + "x" * 40, folder=str(tmp_path))
    current, previous = tmp_path / "cinemap.log", tmp_path / "cinemap.log.1"
    assert current.stat().st_size < 200 + 100 and previous.stat().st_size < 200 + 100
    assert "entry 19" in current.read_text()
    assert "entry 0 " not in current.read_text() + previous.read_text()  # the oldest entries are gone
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cinemap.log", "cinemap.log.1"]
