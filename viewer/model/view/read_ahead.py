"""Which frames to fetch before they are shown, and which to let go of. No Qt, no file offsets.

:class:`ReadAheadPolicy` follows a :class:`~viewer.model.view.ViewerModel`:
after each frame change it asks the document to prefetch the next few
frames in the direction of play (wrapping round, since playback loops) and
to release the frames left behind beyond that window. How a document
prefetches is its own business (:meth:`Document.prefetch`): one
``madvise`` for mapped frames, decoding into the frame cache for compressed
ones; the policy only chooses frame indices.

Prefetching runs on one worker thread, one frame at a time, latest request
first: a new frame change replaces what was still wanted. One thread,
measured: a JPEG 640x480 RGB cine played at 60 fps on its first pass with 0
frames dropped with one decode thread, but only 31-35 fps with two (the GUI
thread lost the GIL and the cores to them), although two threads decode
faster on their own.
"""

from __future__ import annotations

import threading
from typing import Callable

from viewer.model.errors import DicomError


def upcoming(index: int, direction: int, count: int, frames: int) -> list[int]:
    """The `frames` frames after `index` in `direction`, wrapping round (playback loops)."""
    if count <= 1 or frames <= 0:
        return []
    return [(index + direction * step) % count for step in range(1, min(frames, count - 1) + 1)]


def left_behind(previous: int, index: int, count: int, keep: int) -> range:
    """Frames to release after moving from `previous` to `index`: those passed, beyond `keep` of the new one.

    A move over more than half the file (a loop wrap, Home/End) releases what
    was around the old position, never the new position's own window.
    """
    if abs(index - previous) <= count // 2:
        low, high = (previous - keep, index - keep) if index > previous else (index + keep + 1, previous + keep + 1)
    else:
        low, high = previous - keep, previous + keep + 1
    low, high = max(0, low), min(count, high)
    if abs(index - previous) > count // 2 and low <= index + keep and index - keep < high:
        return range(0)
    return range(low, max(low, high))


class LatestOnlyWorker:
    """One background thread running ``work(item)`` over a list of wanted items, newest list first.

    :meth:`want` replaces the items still waiting; the thread starts when
    there is work and ends when there is none, so an idle viewer holds no
    thread.
    """

    def __init__(self, work: Callable[[object], None]) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._wanted: list = []
        self._thread: threading.Thread | None = None

    def want(self, items: list) -> None:
        with self._lock:
            self._wanted = list(items)
            if not self._wanted or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="cinemap-read-ahead", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                item = self._wanted.pop(0)
            self._work(item)

    def stop(self) -> None:
        """Drop what is waiting and wait for the item in progress."""
        with self._lock:
            self._wanted = []
        self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every wanted item is done (the thread has ended); False on time-out."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True


class ReadAheadPolicy:
    """Prefetches :attr:`frames` frames ahead of the one shown and releases those left behind.

    Parameters
    ----------
    model : ViewerModel
        Whose document and frame changes it follows.
    frames : int
        How many frames ahead (0: none; frames are still released behind).
    worker : optional
        Runs the prefetches; a :class:`LatestOnlyWorker` by default (tests
        pass one that runs at once).
    """

    def __init__(self, model, frames: int = 8, worker=None) -> None:
        self.model = model
        self.frames = max(0, int(frames))
        self.prefetched = 0  # frames handed to the document's prefetch (for tests)
        self._worker = worker if worker is not None else LatestOnlyWorker(self._prefetch)
        self._previous: int | None = None
        model.frame_changed.connect(self._on_frame_changed)
        model.document_changed.connect(self._on_document_changed)

    def set_frames(self, frames: int) -> None:
        self.frames = max(0, int(frames))

    def _on_document_changed(self, document) -> None:
        self.stop()
        self._previous = None

    def _on_frame_changed(self, index: int) -> None:
        document = self.model.document
        if document is None:
            return
        previous, self._previous = self._previous, index
        count = document.num_frames
        if previous is not None and previous != index:
            behind = left_behind(previous, index, count, self.frames + 2)
            if behind:
                document.release(behind)
        ahead = upcoming(index, self.model.direction, count, self.frames)
        self._worker.want([(document, frame) for frame in ahead])

    def _prefetch(self, item) -> None:  # worker thread
        document, index = item
        if document is not self.model.document or document.closed:
            return
        try:
            document.prefetch([index])
        except (DicomError, OSError, ValueError):
            pass  # the view reports the error when it fetches the frame itself
        self.prefetched += 1

    def stop(self) -> None:
        """Drop pending work and wait for the frame in progress (before closing a document)."""
        self._worker.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the frames wanted now are prefetched; False on time-out."""
        return self._worker.wait(timeout)
