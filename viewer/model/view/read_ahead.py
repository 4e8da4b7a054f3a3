"""Which frames to fetch before they are shown, and which to let go of. No Qt, no file offsets.

:class:`ReadAheadPolicy` follows a :class:`~viewer.model.view.ViewerModel`:
after each frame change it asks the document to prefetch the next few
frames in the direction of play (wrapping round, since playback loops) and
to release the frames left behind beyond that window. How a document
prefetches is its own business (:meth:`Document.prefetch`: one
``madvise`` for mapped frames); the policy only chooses frame indices.

Native frames are prefetched on one worker thread, one request at a time,
latest first: a new frame change replaces what was still wanted.

Compressed frames (``document.decoding``) are asked of the shared decode
pool instead (:class:`~viewer.model.frames.requests.FrameRequests`:
threads where the plugin releases the GIL, processes where it does not),
at the factor the view draws them at (:attr:`ViewerModel.display_factor`):

* while a cine plays, only frames that will be shown: the plan of
  :func:`~viewer.model.codecs.schedule.plan_decodes`, which skips to the
  frame due when its decode would finish (from the recent decode time and
  the pool's size) rather than decode frames playback will have dropped;
* when paused, the next frames in the direction of travel;
* after each frame change, queued decodes no longer in that list are
  cancelled, so scrubbing never leaves a queue of frames already passed.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Callable

from viewer.model.codecs.schedule import Playback as PlaybackClock
from viewer.model.codecs.schedule import plan_decodes
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
        Runs the native prefetches; a :class:`LatestOnlyWorker` by default
        (tests pass one that runs at once).
    player : Playback, optional
        The cine player (:class:`viewer.model.view.Playback`): while it
        plays, compressed frames are planned by its clock.
    """

    def __init__(self, model, frames: int = 8, worker=None, player=None) -> None:
        self.model = model
        self.player = player
        self.frames = max(0, int(frames))
        self.prefetched = 0  # frames handed to the document's prefetch or decode pool (for tests)
        self._worker = worker if worker is not None else LatestOnlyWorker(self._prefetch)
        self._previous: int | None = None
        self._decoding = None  # the shown document's FrameRequests, if its frames are compressed
        self._requested: list[concurrent.futures.Future] = []
        model.frame_changed.connect(self._on_frame_changed)
        model.document_changed.connect(self._on_document_changed)

    def set_frames(self, frames: int) -> None:
        self.frames = max(0, int(frames))

    def _on_document_changed(self, document) -> None:
        self.stop()
        self._previous = None
        self._decoding = document.decoding if document is not None else None
        if self._decoding is not None and self.frames:
            self._decoding.warm_up()  # decoder processes start now, not on the first frame that needs one

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
        if self._decoding is not None:
            self._request_ahead(self._decoding, index, count)
            return
        ahead = upcoming(index, self.model.direction, count, self.frames)
        self._worker.want([(document, frame) for frame in ahead])

    def _request_ahead(self, decoding, index: int, count: int) -> None:
        """Ask the decode pool for the frames that will be shown next; cancel the queued rest."""
        factor = self.model.display_factor
        playing = self.player is not None and self.player.playing
        wanted = self._plan(decoding, index, count, factor) if playing else self._next(decoding, index, count, factor)
        keep = [(frame, factor) for frame, _ in wanted]
        decoding.retain(keep if playing else keep + [(index, factor)])  # paused: the frame shown is wanted too
        self._requested = [decoding.request(frame, factor, priority) for frame, priority in wanted]
        self.prefetched += len(wanted)

    def _plan(self, decoding, index: int, count: int, factor: int) -> list[tuple[int, float]]:
        """Playing: the frames due when their decodes would end, with their due times as priorities."""
        player = self.player
        clock = PlaybackClock(player.due, index, count, player.fps, player.direction, player.mode)
        now, workers = player.clock(), decoding.workers
        # At least a job per worker, read-ahead set to 0 or not: a playing cine shows only what is planned.
        return plan_decodes(clock, now, decoding.decode_seconds(factor), workers,
                            lambda frame: decoding.is_ready(frame, factor) or decoding.is_running(frame, factor),
                            max(self.frames, workers), [now + left for left in decoding.busy_for(factor)])

    def _next(self, decoding, index: int, count: int, factor: int) -> list[tuple[int, float]]:
        """Paused: the next frames in the direction of travel, less urgent than the frame shown."""
        now = time.perf_counter()
        ahead = upcoming(index, self.model.direction, count, self.frames)
        return [(frame, now + step * 1e-3) for step, frame in enumerate(ahead) if not decoding.is_ready(frame, factor)]

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
        if self._decoding is not None:
            self._decoding.retain(())
        concurrent.futures.wait(self._requested)  # decodes under way end; cancelled ones are done
        self._requested = []

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the frames wanted now are prefetched or decoded; False on time-out."""
        if not self._worker.wait(timeout):
            return False
        _, not_done = concurrent.futures.wait(self._requested, timeout)
        return not not_done
