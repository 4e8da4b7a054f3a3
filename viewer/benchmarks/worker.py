"""Both sides of a measurement process: start one, and run one.

The parent calls :func:`run_worker` with a spec (a JSON-ready dict); it
starts ``python -m viewer.bench --worker SPEC`` in a fresh process, which
calls :func:`worker_main`, runs the measurement named by ``spec["task"]``
and prints one JSON object on stdout. A worker that fails, times out or
prints no JSON gives ``{"error": "..."}`` instead, so one broken method never
stops the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from typing import Any

WORKER_TIMEOUT_SECONDS = 240


def run_worker(spec: dict[str, Any], *, env: dict[str, str] | None = None,
               timeout: float = WORKER_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return its JSON.

    Parameters
    ----------
    spec : dict
        What to measure; ``spec["task"]`` picks the measurement.
    env : dict, optional
        Extra environment variables for the child (e.g. ``QT_QPA_PLATFORM``).
    timeout : float
        Seconds before the child is killed.

    Returns
    -------
    dict
        The child's result, or ``{"error": reason}``.
    """
    child_env = dict(os.environ)
    child_env.update(env or {})
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, child_env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "viewer.bench", "--worker", json.dumps(spec)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=child_env,
                                   stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker exited with {completed.returncode}: {tail}"}
    return json.loads(lines[-1])


def worker_main(spec_text: str) -> int:
    """Entry point of a worker process: measure, print one JSON line, return 0."""
    spec = json.loads(spec_text)
    try:
        result = _dispatch(spec)
    except Exception as exc:  # reported to the parent as this method's reason
        traceback.print_exc(file=sys.stderr)
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def _dispatch(spec: dict[str, Any]) -> dict[str, Any]:
    task = spec["task"]
    if task == "native":
        from viewer.benchmarks import native

        return native.measure(spec)
    if task == "video":
        from viewer.benchmarks import video

        return video.measure(spec)
    if task == "compressed":
        from viewer.benchmarks import compressed

        return compressed.measure(spec)
    if task == "enhanced":
        from viewer.benchmarks import enhanced

        return enhanced.measure(spec)
    if task == "indexed":
        from viewer.benchmarks import indexed

        return indexed.measure(spec)
    if task == "decoders":
        from viewer.benchmarks import decoders

        return decoders.measure(spec)
    if task == "gui":
        return measure_gui(spec)
    if task == "cine_floor":
        from viewer.benchmarks import cine_measure

        return cine_measure.measure_floor(spec)
    if task == "slide":
        from viewer.benchmarks import slide_measure

        return slide_measure.measure(spec)
    if task == "slide-gui":
        from viewer.benchmarks import slide_gui

        return slide_gui.measure(spec)
    if task == "huge":
        from viewer.benchmarks import huge

        return huge.measure(spec)
    raise ValueError(f"unknown task {task!r}")


def measure_gui(spec: dict[str, Any]) -> dict[str, Any]:
    """GUI playback through ``viewer.benchmarks.playback.measure_playback``, if present.

    Returns ``{"na": reason}`` when the GUI module (or Qt) cannot be imported,
    so the row says why instead of failing.
    """
    try:
        from viewer.benchmarks.playback import DEFAULT_TARGET_FPS, measure_playback
    except Exception as exc:  # ImportError, or Qt missing its system libraries
        return {"na": f"n/a (GUI not available: {type(exc).__name__}: {exc})"}
    if spec.get("warm"):
        _read_through(spec["path"])  # "with the file in the page cache"
    kwargs: dict[str, Any] = {"target_fps": float(spec.get("target_fps") or DEFAULT_TARGET_FPS)}
    if spec.get("window_size"):
        kwargs["window_size"] = tuple(spec["window_size"])
    result = measure_playback(spec["path"], float(spec["seconds"]), **kwargs)
    return dict(result) if isinstance(result, dict) else {"error": f"measure_playback returned {result!r}"}


def _read_through(path: str) -> None:
    """Read a file once so that its pages sit in the page cache."""
    with open(path, "rb", buffering=0) as file:
        buffer = bytearray(8 << 20)
        while file.readinto(buffer):
            pass
