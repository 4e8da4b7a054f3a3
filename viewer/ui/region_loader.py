"""Fetch the pixels a view needs, and build overview levels, off the UI thread.

The image view asks for a :class:`~viewer.model.display.viewport.ViewRequest`
of a frame; :class:`RegionLoader` reads it on one long-lived thread (a region
of the frame at a stride, or of a pyramid level) and hands it back on the UI
thread through :attr:`RegionLoader.loaded`. Requests do not queue: while one
is read, a newer one replaces any waiting one (the latest wins), so a fast
pan or a cine never falls behind and the image shown stays until the next
is ready.

Pyramid levels of a frame are built on a second worker
(:meth:`RegionLoader.build`, one frame at a time, the latest wanted frame
next); :attr:`RegionLoader.built` says when a frame's levels are ready.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal

from viewer.model.display import render
from viewer.model.display.viewport import ViewRequest
from viewer.ui.workers import Cancelled, run_in_background


@dataclass(frozen=True)
class Loaded:
    """Pixels read for a request (already converted for display by the caller's function)."""

    generation: int
    index: int
    request: ViewRequest
    pixels: np.ndarray
    stored: np.ndarray  # as read, before display conversion (for tests and the readout)
    current: bool = True  # False if read from levels with edits still to be averaged in


class RegionLoader(QObject):
    """One reading worker (latest request wins) and one building worker.

    Signals
    -------
    loaded(object)
        A :class:`Loaded`.
    failed(object)
        Reading raised this exception (a ``DicomError`` for the view to report).
    built(int)
        The frame whose pyramid levels are now ready (or were brought up to date).
    """

    loaded = Signal(object)
    failed = Signal(object)
    built = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._build_pool = QThreadPool(self)
        self._build_pool.setMaxThreadCount(1)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._waiting: Callable[[], Any] | None = None
        self._in_flight = False
        self._reading = False
        self._reader: threading.Thread | None = None
        self._relay = _Relay()
        self._relay.done.connect(self._on_done)
        self._build_wanted: tuple[Any, int] | None = None
        self._building = False
        self._cancel = threading.Event()
        self.reads = 0  # requests read (for tests and the benchmark)

    # ---------------------------------------------------------------- reads
    def request(self, generation: int, index: int, read: Callable[[], tuple]) -> None:
        """Run ``read() -> (request, display pixels, stored pixels, current)`` on the reading thread.

        A call made while another read is under way replaces any read still waiting.
        """
        job = lambda: Loaded(generation, index, *read())  # noqa: E731
        with self._lock:
            self._waiting = job
            self._reading = True
            if self._reader is None:
                # One long-lived thread: a pool task per frame cost the UI thread ~2 ms (QRunnable, signals object).
                self._reader = threading.Thread(target=_read_loop, args=(weakref.ref(self),), daemon=True,
                                                name="cinemap-region-reader")
                self._reader.start()
            self._wake.notify()

    def _next_job(self) -> Callable[[], Any] | None:
        """The reading thread's next job (waits up to a second; None if there is none)."""
        with self._lock:
            if self._waiting is None:
                self._wake.wait(1.0)
            job, self._waiting = self._waiting, None
            self._in_flight = job is not None
            return job

    def _job_done(self, result, error) -> None:
        with self._lock:
            self._in_flight = False
            self._wake.notify_all()
        try:
            self._relay.done.emit(result, error)
        except RuntimeError:  # the view went away meanwhile
            pass

    def _on_done(self, result, error) -> None:  # UI thread
        with self._lock:
            if self._waiting is None and not self._in_flight:
                self._reading = False
        if error is not None:
            self.failed.emit(error)
        else:
            self.reads += 1
            self.loaded.emit(result)

    @property
    def busy(self) -> bool:
        """True while a read is under way or waiting, or its result not yet delivered."""
        with self._lock:
            return self._reading

    # --------------------------------------------------------------- builds
    def build(self, overview, index: int) -> None:
        """Build (or bring up to date) frame `index`'s levels on the building worker, soon."""
        with self._lock:
            self._build_wanted = (overview, index)
            if self._building:
                return
            self._building = True
        self._cancel.clear()
        self._start_build()

    def _start_build(self) -> None:
        with self._lock:
            wanted, self._build_wanted = self._build_wanted, None
            if wanted is None:
                self._building = False
                return
        overview, index = wanted

        def work(_progress) -> int:
            overview.refresh(index, self._check_cancel)
            return index

        run_in_background(work, on_success=self._on_built, on_failure=lambda *_: self._start_build(),
                          context=self, pool=self._build_pool)

    def _check_cancel(self, _done: int, _total: int) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def _on_built(self, index: int) -> None:
        self.built.emit(index)
        self._start_build()

    # ----------------------------------------------------------------- stop
    def stop(self) -> None:
        """Drop waiting work, cancel a build at its next block, and wait for both workers."""
        with self._lock:
            self._waiting = None
            self._build_wanted = None
            while self._in_flight:
                self._wake.wait()
        self._cancel.set()
        self._build_pool.waitForDone()
        with self._lock:
            self._reading = self._building = False


class _Relay(QObject):
    """Carries a read's result from the reading thread to the UI thread (a queued signal)."""

    done = Signal(object, object)  # Loaded or None, exception or None


def _read_loop(owner: "weakref.ref[RegionLoader]") -> None:
    """The reading thread: run jobs as they come; end once the loader is gone."""
    while True:
        loader = owner()
        if loader is None:
            return
        job = loader._next_job()
        if job is None:
            del loader  # let it be collected while we wait
            continue
        try:
            result, error = job(), None
        except BaseException as exc:  # noqa: BLE001 -- reported to the UI thread
            result, error = None, exc
        loader._job_done(result, error)
        del loader


def read_view(document, index: int, request: ViewRequest, overview, kind: str, palette) -> tuple:
    """Read `request` of frame `index` (worker thread).

    Returns ``(request read, display pixels, stored pixels, current)``. A
    level request is read from `overview`; without it (or if its levels went
    away) the same area is read from the frame at the equivalent stride.
    `current` is False when the levels were still averaging in an edit.
    """
    stored, current = None, True
    if request.level > 0 and overview is not None:
        current = overview.is_ready(index)
        stored = overview.read(index, request.level, *request.slices(), request.step)
    if stored is None and request.level > 0:
        shift, (rows, cols) = request.level, document.frame_shape[:2]
        request = ViewRequest(0, request.pixel_size, (request.rows[0] << shift, min(rows, request.rows[1] << shift)),
                              (request.cols[0] << shift, min(cols, request.cols[1] << shift)))
    if stored is None:
        stored = document.region(index, *request.slices(), request.step)
    if kind == render.PALETTE and palette is not None:
        return request, palette.apply(stored), stored, current
    return request, render.contiguous_native(stored), stored, current
