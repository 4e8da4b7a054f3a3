"""Very large frames in the real main window, offscreen: issue 14's figures.

``measure(spec)`` opens a frame far larger than the screen (30,000 x 30,000
16-bit by default) in a :class:`MainWindow` and measures, each next to the
floor of reading just the visible pixels (a bare ``numpy.memmap`` at the
known offset copying the same number of pixels the view shows):

* the first frame on screen after the window appeared (wall time), the
  file evicted from the page cache first (its floor: the bare mapping's
  cold read of the same pixels, after the viewer closed it and the file was
  evicted again);
* the background build of the averaged levels (and, as its floor, one
  sequential read of the frame);
* CPU per zoom, pan and window step (``time.process_time``: every thread of
  the process, the reading thread included), with the update painted;
* frames per second of a continuous pan at 1:1;
* peak anonymous memory (file-backed pages of the mapping are cache, not
  counted), sampled every few milliseconds by a thread;
* that every update drew the right region, when the file is the grid
  pattern (compared with :func:`viewer.synthetic.expected_region`).

Run alone with::

    QT_QPA_PLATFORM=offscreen python -m viewer.benchmarks.huge FILE [--shots DIR]
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from viewer.benchmarks.probe import evict_file, memory_kib

if TYPE_CHECKING:
    from viewer.model import Document
    from viewer.model.display.viewport import ViewRequest

WINDOW_SIZE = (1100, 800)
_TIMEOUT = 600.0


class _AnonPeak:
    """Samples anonymous memory every few milliseconds on a thread; keeps the peak."""

    def __init__(self) -> None:
        self.baseline = memory_kib().get("RssAnon", 0)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, memory_kib().get("RssAnon", 0))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {"anon_baseline_mb": self.baseline / 1024, "anon_peak_mb": self.peak / 1024,
                "anon_added_peak_mb": (self.peak - self.baseline) / 1024}


class Session:
    """A main window showing one large file, with helpers to step it and wait for it."""

    def __init__(self, path: str, window_size: tuple[int, int] = WINDOW_SIZE) -> None:
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from viewer.app import configure_pyqtgraph
        from viewer.ui.main_window import MainWindow
        from viewer.ui.settings_store import SettingsStore

        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        configure_pyqtgraph()
        self._folder = tempfile.TemporaryDirectory()
        os.environ["CINEMAP_CACHE_DIR"] = f"{self._folder.name}/cache"  # the levels go with this run
        self.store = SettingsStore(QSettings(f"{self._folder.name}/bench.ini", QSettings.Format.IniFormat))
        self.window = MainWindow(self.store)
        self.window.resize(*window_size)
        self.window.show()
        self.run_until(lambda: self.window.isVisible(), 5.0)
        self.path = path
        self.view = self.window.image_view
        self._document: Document | None = None

    @property
    def document(self) -> Document:
        """The document :meth:`open` opened."""
        if self._document is None:
            raise RuntimeError("the session has not opened its file yet")
        return self._document

    def open(self) -> None:
        from viewer.ui.opening import open_with_settings

        document, _notes = open_with_settings(self.path, self.store.settings)  # default 2 GB disk cache
        self._document = document
        self.window.show_document(document)

    def shown(self) -> tuple[int, ViewRequest]:
        """Frame index and view request of the image on screen (once :meth:`settled`)."""
        index, request = self.view.shown_index, self.view.shown_request
        if index is None or request is None:
            raise RuntimeError("the view shows no part of a frame yet")
        return index, request

    def run_until(self, done: Callable[[], bool], timeout: float = _TIMEOUT) -> bool:
        """Process events until `done()`; blocks between events (no busy polling to bill as CPU)."""
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.perf_counter() + timeout
        tick = QTimer()
        tick.start(20)  # wakes the wait below now and then; results from threads wake it too
        try:
            while not done():
                if time.perf_counter() > deadline:
                    return False
                self.app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        finally:
            tick.stop()
        return True

    def settled(self) -> bool:
        view = self.view
        return view.shown_request is not None and not view.loader.busy and view.shown_current \
            and not view._view_timer.isActive()

    def settle(self) -> None:
        """Wait for the view's update, and for it to be painted."""
        self.run_until(self.settled, 60.0)
        self.app.processEvents()  # the paint the update scheduled

    def close(self) -> None:
        self.window.close_document()
        self.window.close()
        self.window.deleteLater()
        self.app.processEvents()
        self._folder.cleanup()


def _floor_read(document, request) -> float:
    """Seconds a bare ``numpy.memmap`` takes to copy as many pixels, at the same stride, as the view shows."""
    size = request.pixel_size
    rows = slice(request.rows[0] << request.level, min(document.frame_shape[0], request.rows[1] << request.level))
    cols = slice(request.cols[0] << request.level, min(document.frame_shape[1], request.cols[1] << request.level))
    mapped = np.memmap(document.path, dtype=document.dtype, mode="r", offset=document.pixel_offset,
                       shape=document.frame_shape)
    started = time.perf_counter()
    np.array(mapped[rows, cols][::size, ::size])
    elapsed = time.perf_counter() - started
    del mapped
    return elapsed


def _floor_sequential(document) -> float:
    """Seconds to copy the whole frame once, in bands, through a bare ``numpy.memmap``."""
    mapped = np.memmap(document.path, dtype=document.dtype, mode="r", offset=document.pixel_offset,
                       shape=document.frame_shape)
    band = max(1, (32 << 20) // max(1, mapped[0].nbytes))
    started = time.perf_counter()
    for top in range(0, mapped.shape[0], band):
        np.array(mapped[top:top + band])
    elapsed = time.perf_counter() - started
    del mapped
    return elapsed


class _Checker:
    """Compares every image drawn with the grid pattern's expected pixels (if the file is a grid)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.checked = self.wrong = 0
        self.enabled = "grid" in str(session.document.dataset.get("SeriesDescription", "")).lower()

    def check(self) -> None:
        if not self.enabled:
            return
        from viewer.synthetic import expected_region

        view, document = self.session.view, self.session.document
        index, request = self.session.shown()
        expected = expected_region(index, slice(*request.rows), slice(*request.cols), request.step,
                                   request.level, frame_rows=document.frame_shape[0],
                                   frame_columns=document.frame_shape[1])
        self.checked += 1
        self.wrong += int(not np.array_equal(view.image_item.image, expected))


def _timed_steps(session: Session, checker: _Checker, steps: list[Callable[[], None]]) -> dict[str, Any]:
    cpu, floor = [], []
    for step in steps:
        started = time.process_time()
        step()
        session.settle()
        cpu.append(time.process_time() - started)
        floor.append(_floor_read(session.document, session.shown()[1]))
        checker.check()
    return {"cpu_ms": statistics.median(cpu) * 1000, "cpu_max_ms": max(cpu) * 1000,
            "floor_ms": statistics.median(floor) * 1000, "steps": len(steps)}


def _zoom_steps(session: Session) -> list[Callable[[], None]]:
    from PySide6.QtCore import QRectF

    rows, cols = session.document.frame_shape[:2]
    width, height = session.view.screen_size()
    steps: list[Callable[[], None]] = []
    size = max(rows, cols)
    while size > 1.2 * max(width, height):
        size /= 1.6
        rect = QRectF(cols / 2 - size / 2, rows / 2 - size / 2, size, size)
        steps.append(functools.partial(session.view.view_box.setRange, rect, padding=0))
    return steps + steps[-2::-1]  # in, then out again


def _pan_steps(session: Session, count: int, fraction: float) -> list[Callable[[], None]]:
    box = session.view.view_box
    width = box.viewRect().width()
    return [lambda: box.translateBy(x=width * fraction, y=width * fraction / 2) for _ in range(count)]


def _continuous_pan(session: Session, seconds: float) -> dict[str, float]:
    """Pan by 16 screen pixels per step, each step painted before the next; steps per second."""
    box = session.view.view_box
    step = box.viewRect().width() * 16 / max(1.0, session.view.screen_size()[0])
    frames, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        box.translateBy(x=step, y=step / 3)
        session.settle()
        frames += 1
    return {"fps": frames / (time.perf_counter() - started), "frames": frames}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Open ``spec["path"]`` in the main window and measure (see the module docstring)."""
    session = Session(spec["path"], tuple(spec.get("window_size", WINDOW_SIZE)))
    memory = _AnonPeak()
    result: dict[str, Any] = {}
    try:
        if spec.get("cold", True):
            evict_file(session.path)
        started_wall = time.perf_counter()
        session.open()
        session.run_until(lambda: session.view.image_item.painted_frames > 0)
        result["first_frame_ms"] = (time.perf_counter() - started_wall) * 1000
        first_request = session.view.shown_request
        checker = _Checker(session)
        checker.check()
        if spec.get("shots"):
            session.window.grab().save(f"{spec['shots']}/fit-strided.png")
        started = time.perf_counter()
        session.run_until(lambda: session.settled() and session.shown()[1].level > 0)
        result["levels_seconds"] = time.perf_counter() - started
        result["levels_floor_seconds"] = _floor_sequential(session.document)
        session.settle()
        checker.check()
        if spec.get("shots"):
            session.window.grab().save(f"{spec['shots']}/fit.png")
        result["zoom"] = _timed_steps(session, checker, _zoom_steps(session))
        session.view.actual_size()
        session.settle()
        if spec.get("shots"):
            session.window.grab().save(f"{spec['shots']}/one-to-one.png")
        result["pan"] = _timed_steps(session, checker, _pan_steps(session, 12, 0.3))
        state = session.window.state
        windows = [(state.center + delta, state.width * factor) for delta, factor in
                   [(500, 0.9), (-800, 1.1), (300, 0.7), (0, 1.3), (-200, 1.0)] * 2]
        result["window"] = _timed_steps(session, checker, [functools.partial(state.set_window, *w) for w in windows])
        result["continuous_pan"] = _continuous_pan(session, float(spec.get("pan_seconds", 3.0)))
        result["checked_updates"], result["wrong_updates"] = checker.checked, checker.wrong
        result["frame_shape"] = list(session.document.frame_shape)
        result["screen"] = list(session.view.screen_size())
        document = session.document
    finally:
        result.update(memory.stop())
        session.close()
    if spec.get("cold", True):
        evict_file(spec["path"])  # nothing of ours maps it any more: the floor reads it cold too
    result["first_frame_floor_ms"] = _floor_read(document, first_request) * 1000
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m viewer.benchmarks.huge FILE [--shots DIR]", file=sys.stderr)
        return 2
    spec = {"path": argv[0]}
    if "--shots" in argv:
        spec["shots"] = argv[argv.index("--shots") + 1]
    print(json.dumps(measure(spec), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
