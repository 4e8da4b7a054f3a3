"""Whole-slide viewing in the real main window, offscreen: issue 16's viewing goals.

``measure(spec)`` opens a slide folder in a :class:`MainWindow` (1100 x 800,
offscreen, device pixel ratio 1; the files in the page cache, as in the
region rows) and measures:

* choosing the folder to the first tiles on screen (``open_path`` to the
  first paint that drew tiles: the header scan, the fit, the fetch, the
  decode and the paint), and to the first view complete (its margin too):
  once with the slide's files evicted from the page cache (cold disk), then
  again with them read through;
* cold viewports: the view jumps to places never shown, at 1:1 (level 0,
  tiles neither in the slide's cache nor held), and the time until every
  visible tile is painted;
* CPU per pan and per zoom step from cached tiles (``time.process_time``:
  every thread of the process), each step painted before the next: a path
  of pans past the margin and a series of zoom steps, each walked once to
  fill the caches, then measured on the way back;
* frames per second of a continuous pan at 1:1 (16 screen pixels a step);
* anonymous memory: the peak added over the run (sampled every few
  milliseconds), the slide cache's bytes and the tiles held for the screen,
  and what is left after a second walk over as many new places as the first
  (memory bounded by the caches does not grow).

Run alone with::

    QT_QPA_PLATFORM=offscreen python -m viewer.benchmarks.slide_gui FOLDER
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any, Callable

from viewer.benchmarks.huge import _AnonPeak
from viewer.benchmarks.probe import evict_file, memory_kib

WINDOW_SIZE = (1100, 800)
_TIMEOUT = 120.0
COLD_PLACES = 6
PAN_STEPS = 10


class SlideSession:
    """A main window that opens one slide folder, with helpers to step the view and wait for it."""

    def __init__(self, window_size: tuple[int, int] = WINDOW_SIZE) -> None:
        import tempfile

        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from viewer.app import configure_pyqtgraph
        from viewer.ui.main_window import MainWindow
        from viewer.ui.settings_store import SettingsStore

        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        configure_pyqtgraph()
        self._folder = tempfile.TemporaryDirectory()
        os.environ["CINEMAP_CACHE_DIR"] = f"{self._folder.name}/cache"
        self.store = SettingsStore(QSettings(f"{self._folder.name}/bench.ini", QSettings.Format.IniFormat))
        self.window = MainWindow(self.store)
        self.window.resize(*window_size)
        self.window.show()
        self.run_until(lambda: self.window.isVisible(), 5.0)
        self.view = self.window.slides.view

    def run_until(self, done: Callable[[], bool], timeout: float = _TIMEOUT) -> bool:
        """Process events until `done()`; blocks between events (no busy polling billed as CPU)."""
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.perf_counter() + timeout
        tick = QTimer()
        tick.start(5)
        try:
            while not done():
                if time.perf_counter() > deadline:
                    raise TimeoutError("the slide view did not settle")
                self.app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        finally:
            tick.stop()
        return True

    def visible_painted(self) -> bool:
        """Every visible tile of the level wanted held, and the last paint showed them."""
        view = self.view
        plan = view.plan
        if plan is None or view._timer.isActive() or not all(view.tiles.holds(key) for key in plan.visible):
            return False
        return not plan.visible or view.tiles.painted_state == view.tiles.state()

    def settle(self) -> None:
        self.run_until(lambda: self.view.on_screen)

    def close(self) -> None:
        self.window.close_document()
        self.window.close()
        self.window.deleteLater()
        self.app.processEvents()
        self._folder.cleanup()


def _steps(session: SlideSession, steps: list[Callable[[], None]]) -> dict[str, float]:
    """CPU and wall time per step, each step on screen (margin fetched too) before the next."""
    cpu, wall = [], []
    for step in steps:
        started_cpu, started = time.process_time(), time.perf_counter()
        step()
        session.settle()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return {"cpu_ms": statistics.median(cpu) * 1000, "cpu_max_ms": max(cpu) * 1000,
            "wall_ms": statistics.median(wall) * 1000, "steps": len(steps)}


def _open(session: SlideSession, folder: str) -> dict[str, float]:
    """Open `folder`: time to the first tiles painted, and to the first view complete."""
    view = session.view
    started = time.perf_counter()
    session.window.open_path(folder)
    session.run_until(lambda: view.tiles.first_paint_at is not None)
    first = ((view.tiles.first_paint_at or started) - started) * 1000
    session.settle()
    slide = session.window.slides.slide
    assert slide is not None
    return {"first_tiles_ms": first, "first_view_complete_ms": (time.perf_counter() - started) * 1000,
            "open_ms": slide.open_seconds * 1000}


def _files(folder: str) -> list[str]:
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name))]


def _read_through(paths: list[str]) -> None:
    buffer = bytearray(8 << 20)
    for path in paths:
        with open(path, "rb", buffering=0) as file:
            while file.readinto(buffer):
                pass


def _cold_viewports(session: SlideSession, first: int = 0) -> dict[str, float]:
    """Jumps at 1:1 to places not shown before: wall time until the visible tiles are painted."""
    view = session.view
    width, height = view.levels[0].extent
    times, cpu = [], []
    for number in range(first, first + COLD_PLACES):
        x = width * (0.15 + 0.7 * ((number * 0.37) % 1.0))
        y = height * (0.15 + 0.7 * ((number * 0.61 + 0.3) % 1.0))
        started_cpu, started = time.process_time(), time.perf_counter()
        view.centre_on(x, y)
        session.run_until(session.visible_painted)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        session.settle()  # the margin too, before the next jump
    return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
            "cpu_ms": statistics.median(cpu) * 1000, "places": COLD_PLACES}


def _pan_path(session: SlideSession) -> list[Callable[[], None]]:
    box = session.view.view_box
    width = box.viewRect().width()
    there = [lambda: box.translateBy(x=width * 0.3, y=width * 0.1) for _ in range(PAN_STEPS)]
    back = [lambda: box.translateBy(x=-width * 0.3, y=-width * 0.1) for _ in range(PAN_STEPS)]
    return there + back


def _zoom_series(session: SlideSession) -> list[Callable[[], None]]:
    box = session.view.view_box
    out = [lambda: box.scaleBy((1.6, 1.6)) for _ in range(8)]
    back = [lambda: box.scaleBy((1 / 1.6, 1 / 1.6)) for _ in range(8)]
    return out + back


def _continuous_pan(session: SlideSession, seconds: float) -> dict[str, float]:
    box = session.view.view_box
    step = box.viewRect().width() * 16 / max(1.0, session.view.screen_size()[0])
    frames, cpu_started, started = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - started < seconds:
        box.translateBy(x=step, y=step / 3)
        session.run_until(session.visible_painted)
        frames += 1
    elapsed = time.perf_counter() - started
    return {"fps": frames / elapsed, "frames": frames, "cpu_ms_per_frame": (time.process_time() - cpu_started) / frames * 1000}


def _memory(baseline_kib: int, slide, view) -> dict[str, float]:
    """Anonymous memory added since the start, what the two caches hold of it, and the rest."""
    added = (memory_kib().get("RssAnon", 0) - baseline_kib) / 1024
    cache, held = slide.cache.nbytes / 2**20, view.tiles.held_bytes / 2**20
    return {"anon_added_mb": added, "slide_cache_mb": cache, "held_tiles_mb": held, "other_mb": added - cache - held}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Open ``spec["path"]`` (a slide folder) in the main window and measure (see the module docstring)."""
    session = SlideSession(tuple(spec.get("window_size", WINDOW_SIZE)))
    memory = _AnonPeak()
    result: dict[str, Any] = {}
    try:
        view = session.view
        files = _files(spec["path"])
        if spec.get("cold_disk", True):
            for path in files:
                evict_file(path)
            result["cold_disk"] = _open(session, spec["path"])
            session.window.close_document()
            _read_through(files)  # the rest is measured with the files in the page cache
        result.update(_open(session, spec["path"]))
        slide = session.window.slides.slide
        assert slide is not None
        result["tiles"] = sum(level.stored_tiles for level in slide.levels)
        result["fit_level"] = view.shown_level
        view.actual_size()
        session.settle()
        result["cold_viewport"] = _cold_viewports(session)
        pans = _pan_path(session)
        _steps(session, pans)  # fills the caches along the path
        result["pan"] = _steps(session, pans)
        zooms = _zoom_series(session)
        _steps(session, zooms)
        result["zoom"] = _steps(session, zooms)
        view.actual_size()
        session.settle()
        result["continuous_pan"] = _continuous_pan(session, float(spec.get("pan_seconds", 3.0)))
        result["after_first_walk"] = _memory(memory.baseline, slide, view)
        result["cold_viewport_again"] = _cold_viewports(session, first=COLD_PLACES)
        _steps(session, _pan_path(session))
        result["after_second_walk"] = _memory(memory.baseline, slide, view)
        result["slide_cache_mb"] = slide.cache.nbytes / 2**20
        result["slide_cache_capacity_mb"] = slide.cache.capacity_bytes / 2**20
        result["held_tiles_mb"] = sum(tile.nbytes for tile in view.tiles.tiles.values()) / 2**20
        result["screen"] = list(view.screen_size())
    finally:
        result.update(memory.stop())
        session.close()
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m viewer.benchmarks.slide_gui FOLDER", file=sys.stderr)
        return 2
    print(json.dumps(measure({"path": argv[0]}), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
