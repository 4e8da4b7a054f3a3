"""Fetch tiles on worker threads in the order a view wants them; the latest list wins. No Qt.

A view calls :meth:`TileFetcher.want` with every tile it needs, most
urgent first, each time it pans or zooms. The list replaces the one before
(tiles no longer wanted are never fetched; tiles being fetched finish), so
a fast pan never queues work for places already left. Each tile is fetched
by ``fetch(key)`` on one of a few threads (a slide's ``read_tile``: read,
decoded and kept in the slide's cache, then made ready to draw by the
caller's function) and handed to ``deliver(key, result, error)`` on that
thread; the GUI relays it to its own.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Hashable, Iterable

Deliver = Callable[[Hashable, Any, BaseException | None], None]


class TileFetcher:
    """A few threads fetching the keys of the latest :meth:`want`, in its order.

    Parameters
    ----------
    fetch : callable
        ``fetch(key) -> result``, run on a worker thread.
    deliver : callable
        ``deliver(key, result, error)``, called on the worker thread after each fetch.
    workers : int
        Threads (started on the first :meth:`want`).
    """

    def __init__(self, fetch: Callable[[Hashable], Any], deliver: Deliver, workers: int = 2) -> None:
        self._fetch = fetch
        self._deliver = deliver
        self._workers = max(1, int(workers))
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Hashable] = deque()
        self._in_flight: set[Hashable] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self.fetched = 0  # tiles fetched (for tests and the benchmark)

    def want(self, keys: Iterable[Hashable], skip: Callable[[Any], bool] | None = None) -> int:
        """Fetch `keys` in this order, instead of whatever was still waiting; returns how many were queued.

        `skip(key)` (the keys a view already holds) is called here, on the caller's thread.
        """
        queued = deque(key for key in dict.fromkeys(keys) if not (skip is not None and skip(key)))
        with self._lock:
            if self._stopped:
                return 0
            self._queue = deque(key for key in queued if key not in self._in_flight)
            self._start_threads()
            self._changed.notify_all()
            return len(self._queue)

    def _start_threads(self) -> None:
        while len(self._threads) < min(self._workers, max(1, len(self._queue))):
            thread = threading.Thread(target=self._run, daemon=True, name=f"cinemap-tiles-{len(self._threads)}")
            self._threads.append(thread)
            thread.start()

    @property
    def pending(self) -> int:
        """Keys waiting or being fetched."""
        with self._lock:
            return len(self._queue) + len(self._in_flight)

    def _next(self) -> Hashable | None:
        with self._lock:
            while not self._queue and not self._stopped:
                self._changed.wait()
            if self._stopped:
                return None
            key = self._queue.popleft()
            self._in_flight.add(key)
            return key

    def _run(self) -> None:
        while True:
            key = self._next()
            if key is None:
                return
            try:
                result, error = self._fetch(key), None
            except Exception as exc:  # noqa: BLE001 -- handed to the view, which reports it
                result, error = None, exc
            with self._lock:
                self.fetched += 1
            try:
                self._deliver(key, result, error)
            finally:
                with self._lock:
                    self._in_flight.discard(key)
                    self._changed.notify_all()

    def stop(self) -> None:
        """Drop the waiting keys, let the fetches under way finish, and end the threads (idempotent)."""
        with self._lock:
            self._stopped = True
            self._queue.clear()
            self._changed.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
