"""Open and render files in child processes; a crash or a hang is a result, not the end.

The child (``python harness.py --child``) reads one path per line on stdin,
opens it with :func:`viewer.model.open_document`, renders the first, middle
and last frame (touching every byte with ``sum``), and writes one JSON line:

``{"outcome": "ok" | "dicom" | "other", "phase": ..., "type": ..., "message": ...}``

``dicom`` means a :class:`DicomError` whose message names the file; a
DicomError without the path in its message is reported as ``other``.

:class:`Runner` keeps a small pool of children. A child that dies (for
example of SIGSEGV or SIGBUS) gives ``crash``; one that has not answered
after ``timeout`` seconds is killed and gives ``hang``. Either way a new
child takes its place.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 5.0
CHILD_ADDRESS_SPACE = 6 << 30  # a runaway allocation fails in the child, not on the machine
FAILURES = ("crash", "hang", "other")
DEEP = os.environ.get("CINEMAP_FUZZ_DEEP", "1") == "1"
"""Also read what the viewer shows besides pixels (display values, the tag tree)."""


@dataclass
class Result:
    """What happened to one input."""

    path: str
    outcome: str  # ok, dicom, other, crash, hang
    phase: str = ""
    type: str = ""
    message: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES

    def summary(self) -> str:
        where = f" in {self.phase}" if self.phase else ""
        return f"{self.outcome}{where}: {self.type} {self.message}".strip()


# ------------------------------------------------------------------- child
def check_file(path: str) -> dict:
    """Open and render `path`; classify what happened (runs in the child)."""
    import numpy as np

    from viewer.model import DicomError, open_document

    phase = "open"
    first_error: tuple[str, DicomError] | None = None  # a frame that fails does not stop the others
    try:
        with open_document(path) as document:
            count = document.num_frames
            for index in sorted({0, count // 2, count - 1}) if count else [0]:
                phase = f"frame {index}"
                try:
                    np.asarray(document.frame(index)).sum()
                    if DEEP:
                        for step, read in _VIEWER_READS:
                            phase = f"frame {index} {step}"
                            read(document, index)
                except DicomError as exc:
                    if path not in str(exc):
                        raise
                    first_error = first_error or (phase, exc)
            phase = "close"
        if first_error is not None:
            phase, exc = first_error
            return {"outcome": "dicom", "phase": phase, "type": type(exc).__name__, "message": str(exc)}
        return {"outcome": "ok"}
    except DicomError as exc:
        if path in str(exc):
            return {"outcome": "dicom", "phase": phase, "type": type(exc).__name__, "message": str(exc)}
        return {"outcome": "other", "phase": phase, "type": type(exc).__name__,
                "message": f"DicomError message does not name the file: {exc}"}
    except Exception as exc:  # noqa: BLE001 -- the point is to see them all
        where = _where(traceback.extract_tb(exc.__traceback__))
        return {"outcome": "other", "phase": phase, "type": type(exc).__name__, "message": f"{exc} [{where}]"}


_VIEWER_READS = [
    # What the viewer reads besides pixels; CINEMAP_FUZZ_DEEP=1 exercises it too.
    ("rescale", lambda document, index: document.rescale(index)),
    ("window presets", lambda document, index: document.window_presets),
    ("frame time", lambda document, index: document.frame_time_ms),
    ("rescale unit", lambda document, index: document.rescale_unit),
    ("per-frame groups", lambda document, index: getattr(document, "per_frame_groups", lambda k: None)(index)),
    ("ultrasound regions", lambda document, index: getattr(document, "ultrasound_regions", None)),
    ("tag tree", lambda document, index: _walk_tag_tree(document.dataset) if index == 0 else None),
]


def _walk_tag_tree(dataset, depth: int = 0) -> int:
    """Describe every element as the tag browser does (sequences expanded, up to a depth)."""
    from viewer.model.dicom.tags import describe_value

    count = 0
    for tag in list(dataset.keys()):
        _, _, items = describe_value(dataset, tag)
        count += 1
        if items and depth < 3:
            for item in items[:20]:
                count += _walk_tag_tree(item, depth + 1)
    return count


def _where(frames: traceback.StackSummary) -> str:
    """The last model frame and the frame that raised: enough to find the bug."""
    ours = [f for f in frames if f"viewer{os.sep}model" in f.filename]
    chosen = ([ours[-1]] if ours else []) + ([frames[-1]] if frames and (not ours or frames[-1] is not ours[-1]) else [])
    return " -> ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in chosen)


def child_main() -> None:
    import logging
    import resource
    import warnings

    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash is a result here, not a core file
    import viewer.model  # noqa: F401 -- import before the first timed input
    import pydicom.pixels  # noqa: F401

    results.write("ready\n")
    for line in sys.stdin:
        path = line.rstrip("\n")
        if path:
            results.write(json.dumps(check_file(path)) + "\n")


# ------------------------------------------------------------------ parent
class _Child:
    def __init__(self, command: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env, cwd=tempfile.gettempdir(),
        )
        self.buffer = b""
        self.path: str | None = None
        self.started = 0.0
        self.ready = False

    def send(self, path: str) -> None:
        self.path, self.started = path, time.monotonic()
        assert self.process.stdin is not None
        self.process.stdin.write(path.encode() + b"\n")
        self.process.stdin.flush()

    def read_lines(self) -> list[str] | None:
        """Lines available now; None at end of file (the child died)."""
        assert self.process.stdout is not None
        chunk = os.read(self.process.stdout.fileno(), 65536)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [line.decode() for line in lines]

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-400:].decode("utf-8", "replace").strip()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (OSError, BrokenPipeError):
                pass
        self.stderr.close()


class Runner:
    """A pool of children that check files and survive crashes and hangs.

    Use as a context manager; :meth:`run` checks a list of paths and returns
    one :class:`Result` per path, in order. `command` replaces the child
    (the harness's own tests use a child that crashes and hangs on purpose).
    """

    def __init__(
        self,
        workers: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
        startup_timeout: float = 60.0,
        command: list[str] | None = None,
    ) -> None:
        self.command = command or [sys.executable, "-u", __file__, "--child"]
        self.workers = max(1, workers)
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.restarts = 0
        self._children: list[_Child] = []

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for child in self._children:
            child.kill()
        self._children = []

    def _start(self) -> _Child:
        child = _Child(self.command)
        deadline = time.monotonic() + self.startup_timeout
        assert child.process.stdout is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                child.kill()
                raise RuntimeError("a fuzz child did not start in time")
            with selectors.DefaultSelector() as selector:
                selector.register(child.process.stdout, selectors.EVENT_READ)
                if not selector.select(remaining):
                    continue
            lines = child.read_lines()
            if lines is None:
                tail = child.stderr_tail()
                child.kill()
                raise RuntimeError(f"a fuzz child failed to start: {tail}")
            if "ready" in lines:
                return child

    def run(self, paths: list[str]) -> list[Result]:
        results: dict[int, Result] = {}
        pending = list(enumerate(paths))[::-1]
        while len(self._children) < min(self.workers, max(1, len(paths))):
            self._children.append(self._start())
        busy: dict[_Child, int] = {}
        with selectors.DefaultSelector() as selector:
            for child in self._children:
                selector.register(child.process.stdout, selectors.EVENT_READ, child)
            while pending or busy:
                for child in self._children:
                    if child not in busy and pending:
                        index, path = pending.pop()
                        busy[child] = index
                        child.send(path)
                now = time.monotonic()
                wait = min(child.started + self.timeout - now for child in busy)
                for key, _ in selector.select(max(0.0, wait)):
                    child = key.data
                    lines = child.read_lines()
                    if lines == []:
                        continue  # part of a line; the rest follows
                    index = busy.pop(child)
                    if lines is None:
                        code = child.process.wait()
                        reason = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                        results[index] = Result(paths[index], "crash", type=reason, message=child.stderr_tail(),
                                                seconds=time.monotonic() - child.started)
                        self._replace(selector, child)
                        continue
                    answer = json.loads(lines[0])
                    results[index] = Result(paths[index], seconds=time.monotonic() - child.started, **answer)
                now = time.monotonic()
                for child in [c for c in busy if now - c.started > self.timeout]:
                    index = busy.pop(child)
                    results[index] = Result(paths[index], "hang", message=f"no answer after {self.timeout:g} s",
                                            seconds=now - child.started)
                    self._replace(selector, child)
        return [results[index] for index in range(len(paths))]

    def _replace(self, selector: selectors.BaseSelector, child: _Child) -> None:
        selector.unregister(child.process.stdout)
        child.kill()
        self.restarts += 1
        replacement = self._start()
        self._children[self._children.index(child)] = replacement
        selector.register(replacement.process.stdout, selectors.EVENT_READ, replacement)


if __name__ == "__main__" and "--child" in sys.argv:
    child_main()
