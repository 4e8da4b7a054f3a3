"""Fetch the next few frames before they are shown, in the direction of play.

Native frames are views into the file mapping: for them one ``madvise``
("willneed" advice) over the next frames' bytes lets the kernel read them in a
single request, on the UI thread because it does not wait, and frames left
behind are released ("dontneed": the pages stay in the kernel's page
cache but leave this process's resident set, so playing a 4 GB file through
does not look like it costs 4 GB). Compressed frames
are decoded by a single worker thread into the document's frame cache, so
that showing them is a cache hit. One thread, measured: a JPEG 640x480 RGB
cine played at 60 fps on its first pass with 0 frames dropped with one
decode thread, but only 31-35 fps with two (the UI thread lost the GIL and
the cores to them), although two threads decode faster on their own.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThreadPool

from viewer.ui.viewer_state import ViewerState
from viewer.ui.workers import run_in_background


class ReadAhead(QObject):
    """Prefetches :attr:`frames` frames after the one shown."""

    def __init__(self, state: ViewerState, frames: int = 8, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.frames = int(frames)
        self.decoded = 0  # frames decoded ahead (for tests and the benchmark)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._wanted: list[int] = []
        self._generation = 0
        self._lock = threading.Lock()
        self._busy = False
        self._previous: int | None = None
        state.frame_changed.connect(self._on_frame_changed)
        state.document_changed.connect(self._on_document_changed)

    def set_frames(self, frames: int) -> None:
        self.frames = max(0, int(frames))

    def upcoming(self, index: int, direction: int, count: int) -> list[int]:
        """The frames after `index` in `direction`, wrapping round (playback loops)."""
        if count <= 1:
            return []
        return [(index + direction * step) % count for step in range(1, min(self.frames, count - 1) + 1)]

    def _on_document_changed(self, _document) -> None:
        self.stop()
        self._previous = None

    def _on_frame_changed(self, index: int) -> None:
        document = self.state.document
        if document is None:
            return
        previous, self._previous = self._previous, index
        if document.frames is not None and not document.is_encapsulated and previous is not None:
            self._release_behind(document, previous, index)
        if self.frames <= 0:
            return
        upcoming = self.upcoming(index, self.state.direction, document.num_frames)
        if not upcoming:
            return
        if document.is_encapsulated:
            self._decode_ahead(document, [i for i in upcoming if i not in document.cache])
        elif document.frames is not None and document.pixel_offset is not None:
            self._advise(document, index, upcoming)

    def _advise(self, document, index: int, upcoming: list[int]) -> None:
        frame_nbytes = document.geometry.frame_nbytes
        ahead = [i for i in upcoming if (i > index) == (self.state.direction > 0)]
        if not ahead:
            return
        first = min(ahead)
        start = document.pixel_offset + first * frame_nbytes
        document.advise_range(start, len(ahead) * frame_nbytes, "willneed")

    def _release_behind(self, document, previous: int, index: int) -> None:
        """Drop from the resident set the frames passed since `previous`, beyond the read-ahead window."""
        keep = self.frames + 2
        count = document.num_frames
        if abs(index - previous) <= count // 2:
            low, high = (previous - keep, index - keep) if index > previous else (index + keep + 1, previous + keep + 1)
        else:  # a jump (loop wrap, Home/End): release what was around the old position
            low, high = previous - keep, previous + keep + 1
        low, high = max(0, low), min(count, high)
        if abs(index - previous) > count // 2:
            # never the new position's own window
            if low <= index + keep and index - keep < high:
                return
        if high > low:
            frame_nbytes = document.geometry.frame_nbytes
            document.advise_range(document.pixel_offset + low * frame_nbytes, (high - low) * frame_nbytes, "dontneed")

    def _decode_ahead(self, document, wanted: list[int]) -> None:
        with self._lock:
            self._wanted = wanted
            self._generation += 1
            if self._busy or not wanted:
                return
            self._busy = True
        run_in_background(lambda _progress: self._decode_loop(document), context=self, pool=self._pool)

    def _decode_loop(self, document) -> None:  # worker thread
        while True:
            with self._lock:
                if not self._wanted or document is not self.state.document:
                    self._busy = False
                    return
                index = self._wanted.pop(0)
            if index in document.cache:
                continue
            try:
                document.frame(index)
                self.decoded += 1
            except Exception:  # noqa: BLE001 -- the UI shows the error when it fetches the frame itself
                continue

    def stop(self) -> None:
        """Drop pending work and wait for the frame being decoded (before closing a document)."""
        with self._lock:
            self._wanted = []
        self._pool.waitForDone()
        with self._lock:
            self._busy = False
