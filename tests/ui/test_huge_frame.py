"""A 30,000 x 30,000 16-bit frame end to end: written in bounded memory, viewed in bounded memory, drawn right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SIDE = 30000

WRITE = textwrap.dedent("""
    import sys
    from viewer.synthetic import write_cine

    def peak_kb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    before = peak_kb()
    write_cine(sys.argv[1], frames=1, rows=int(sys.argv[2]), columns=int(sys.argv[2]), pattern="grid")
    print(peak_kb() - before)
""")


def _run(arguments: list[str], timeout: float) -> str:
    completed = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=timeout,
                               cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.slow
def test_a_30k_frame_in_the_main_window(tmp_path):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc/self/status (Linux) to read memory use")
    path = tmp_path / "grid-30k.dcm"
    try:
        growth_kb = int(_run(["-c", WRITE, str(path), str(SIDE)], timeout=1200).strip())
        assert path.stat().st_size > SIDE * SIDE * 2
        assert growth_kb < 200 * 1024, f"writing grew the peak RSS by {growth_kb / 1024:.0f} MB"

        lines = _run(["-m", "viewer.benchmarks.huge", str(path)], timeout=1800)
        result = json.loads(lines[lines.index("{"):])
    finally:
        path.unlink(missing_ok=True)
    assert result["frame_shape"] == [SIDE, SIDE]
    # Fit (strided, then averaged), every zoom step in and out, pans at 1:1, window steps.
    assert result["checked_updates"] >= 30
    assert result["wrong_updates"] == 0
    assert result["zoom"]["steps"] >= 10 and result["pan"]["steps"] == 12 and result["window"]["steps"] == 10
    assert result["continuous_pan"]["frames"] > 0
    # The mapping's pages are the page cache's; what the viewer itself holds stays small.
    assert result["anon_added_peak_mb"] < 500
