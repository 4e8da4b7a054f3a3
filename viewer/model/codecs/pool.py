"""A small decode pool: most urgent first, each key decoded once at a time, cancellable.

The pool has :func:`default_workers` threads (the cores left after the UI
thread, at least one). A thread takes the most urgent queued job and
decodes it itself when the decoder releases the GIL (Pillow's JPEG), or
hands it to its own decoder process otherwise
(:class:`~viewer.model.codecs.process.DecoderProcess`), waiting on the pipe
without the GIL; so at most `workers` frames decode at once either way, and
the UI thread keeps the GIL.

A job's bytes may be given as a function that reads them: it runs on the
pool's thread, so that the caller (the UI thread) neither reads the file nor
waits for a lazy frame index to locate the frame.

Keys name what is decoded, for example ``(frame_index, factor)``: a second
:meth:`DecodePool.submit` of a key that is queued or being decoded returns
the same future (raising its priority if the new one is more urgent)
instead of decoding it again, so the UI and the read-ahead never race for
a frame. When the key's future is done the key is free again: keeping
results is the frame cache's job, not the pool's.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Union

import numpy as np

from viewer.model.codecs.process import DecoderProcess
from viewer.model.errors import DicomError
from viewer.model.platform.process import usable_cpus

__all__ = ["DecodePool", "DecodedFrame", "PoolClosedError", "default_workers"]


def default_workers() -> int:
    """Decode threads for this machine: the cores this process may use less one for the UI, at least one."""
    return max(1, usable_cpus() - 1)


class PoolClosedError(RuntimeError):
    """:meth:`DecodePool.submit` after :meth:`DecodePool.shutdown`."""


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame.

    Attributes
    ----------
    array : numpy.ndarray
        The frame (a new array the caller owns).
    factor : int
        1: full resolution, equal to pydicom's output; more: a reduced decode for display.
    seconds : float
        Wall time the decode took on its worker, queueing not included (for
        the playback scheduler's estimate, :class:`~viewer.model.codecs.schedule.DecodeTimer`).
    """

    array: np.ndarray
    factor: int = 1
    seconds: float = 0.0


FrameData = Union[bytes, bytearray, memoryview, Callable[[], Any]]
"""A frame's bytes, or a function returning them (called on the pool's thread)."""


@dataclass(eq=False)
class _Job:
    key: Hashable
    decoder: Any
    data: FrameData
    factor: int
    index: int | None
    priority: float
    future: Future = field(default_factory=Future)
    taken: bool = False


class DecodePool:
    """Decodes frames off the calling thread.

    Parameters
    ----------
    workers : int, optional
        Frames decoded at once; default :func:`default_workers`.

    Notes
    -----
    Threads start on the first submit, decoder processes on the first job
    whose plugin holds the GIL (or at :meth:`start_processes`). Call
    :meth:`shutdown` (or use the pool as a context manager) when done; pools
    still open are shut down at interpreter exit, so no process outlives it
    (and a child whose parent is killed exits when its pipe closes).
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = int(workers) if workers is not None else default_workers()
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[tuple[float, int, _Job]] = []
        self._jobs: dict[Hashable, _Job] = {}
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._processes: list[DecoderProcess] = [DecoderProcess() for _ in range(self.workers)]
        self._closed = False
        self._warm = False  # pool threads start their processes before any job needs one
        self._warmed: set[int] = set()  # (ids of the processes started that way)
        self._primer: Any = None  # the decoder whose plugin they import when started that way
        self.decoded = 0
        """Frames decoded so far (joined and cancelled requests not counted)."""
        atexit.register(self.shutdown)

    # ---------------------------------------------------------------- API

    def submit(self, key: Hashable, decoder, data: FrameData, *, priority: float = 0.0, factor: int = 1,
               index: int | None = None) -> "Future[DecodedFrame]":
        """Queue a decode, or join the one already queued or running for `key`.

        Parameters
        ----------
        key : hashable
            What is decoded, e.g. ``(frame_index, factor)``; equal keys must
            mean equal results.
        decoder : FrameDecoder
            The document's decoder.
        data : bytes or callable
            The frame's bytes (see :meth:`FrameDecoder.decode`), or a
            function that returns them, called on the pool's thread (its
            :class:`~viewer.model.errors.DicomError` goes to the future).
        priority : float, optional
            Smaller runs first (for example the time the frame is due);
            equal priorities run in submission order.
        factor : int, optional
            1 for a full-resolution decode (equal to pydicom's), more for
            :meth:`FrameDecoder.decode_reduced` (display only).
        index : int, optional
            The frame's number, for error messages.

        Returns
        -------
        concurrent.futures.Future
            Resolves to a :class:`DecodedFrame`, or raises a
            :class:`~viewer.model.errors.DicomError`; cancelled by
            :meth:`cancel` while queued. Joined requests share one future.

        Raises
        ------
        PoolClosedError
            After :meth:`shutdown`.
        """
        with self._lock:
            if self._closed:
                raise PoolClosedError("the decode pool is shut down")
            job = self._jobs.get(key)
            if job is not None:
                if not job.taken and priority < job.priority:
                    job.priority = priority
                    heapq.heappush(self._queue, (priority, next(self._order), job))
                return job.future
            job = _Job(key, decoder, data, int(factor), index, priority)
            self._jobs[key] = job
            heapq.heappush(self._queue, (priority, next(self._order), job))
            self._start_threads()
            self._wake.notify()
            return job.future

    def raise_priority(self, key: Hashable, priority: float) -> bool:
        """Move the queued decode of `key` up to `priority` if that is more urgent; never queues one.

        Unlike :meth:`submit` this cannot start a second decode of a key whose
        first has just finished (its result not yet handed over).
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.taken or priority >= job.priority:
                return False
            job.priority = priority
            heapq.heappush(self._queue, (priority, next(self._order), job))
            return True

    def cancel(self, key: Hashable) -> bool:
        """Cancel the queued decode of `key`; False if it is running, done or unknown.

        The future is cancelled outside the pool's lock: its callbacks may submit again.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.taken or job.future.done():
                return False
            del self._jobs[key]  # a worker skips a job no longer in _jobs
        return job.future.cancel()

    def cancel_where(self, predicate: Callable[[Hashable], bool]) -> int:
        """Cancel every queued decode whose key satisfies `predicate`; returns how many."""
        with self._lock:
            keys = [key for key, job in self._jobs.items() if not job.taken and predicate(key)]
        return sum(self.cancel(key) for key in keys)

    def retain(self, keys: Iterable[Hashable]) -> int:
        """Cancel every queued decode not in `keys` (after a jump: keep only what is still wanted)."""
        wanted = set(keys)
        return self.cancel_where(lambda key: key not in wanted)

    def busy(self, key: Hashable) -> bool:
        """True if `key` is queued or being decoded."""
        with self._lock:
            return key in self._jobs

    @property
    def queued(self) -> int:
        """Decodes waiting for a thread."""
        with self._lock:
            return sum(not job.taken for job in self._jobs.values())

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    @property
    def process_ids(self) -> list[int]:
        """Ids of the decoder processes running now (diagnostics, tests)."""
        return [pid for pid in (process.pid for process in self._processes) if pid is not None]

    def start_processes(self, wait: bool = True, decoder=None) -> None:
        """Start the decoder processes now rather than on the first job that needs one.

        Parameters
        ----------
        wait : bool, optional
            Start them in the calling thread and return when they are started;
            otherwise each pool thread starts its own (spawning takes a few
            hundred milliseconds the UI thread should not wait for).
        decoder : FrameDecoder, optional
            Have each process import this decoder's plugin too (only with ``wait=False``).
        """
        if wait:
            for process in self._processes:
                process.start()
            return
        with self._lock:
            if self._closed:
                return
            self._warm = True
            self._primer = decoder
            self._start_threads()
            self._wake.notify_all()

    def shutdown(self, wait: bool = True) -> None:
        """Cancel queued decodes, stop the threads and the decoder processes.

        Parameters
        ----------
        wait : bool, optional
            Wait for the decodes under way to finish (they are not
            interrupted) and for the processes to exit; otherwise return at
            once and let the threads stop the processes when done.
        """
        with self._lock:
            self._closed = True
            queued = [job for job in self._jobs.values() if not job.taken]
            for job in queued:
                del self._jobs[job.key]
            self._queue.clear()
            self._wake.notify_all()
        for job in queued:  # outside the lock, as in cancel()
            job.future.cancel()
        atexit.unregister(self.shutdown)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()
            for process in self._processes:
                process.close()

    def __enter__(self) -> "DecodePool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # ----------------------------------------------------------- internals

    def _start_threads(self) -> None:
        while len(self._threads) < self.workers:
            slot = len(self._threads)
            thread = threading.Thread(target=self._run, args=(self._processes[slot],),
                                      name=f"cinemap-decode-{slot}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _next_job(self, process: DecoderProcess) -> _Job | DecoderProcess | None:
        """The next job; or `process` when it is to be started first; None once closed."""
        with self._lock:
            while True:
                while self._queue:
                    _, _, job = heapq.heappop(self._queue)
                    if job.taken or job.future.cancelled() or self._jobs.get(job.key) is not job:
                        continue  # a stale entry: re-prioritized, cancelled or done
                    job.taken = True
                    return job
                if self._closed:
                    return None
                if self._warm and id(process) not in self._warmed:
                    self._warmed.add(id(process))
                    return process
                self._wake.wait()

    def _run(self, process: DecoderProcess) -> None:
        try:
            while (job := self._next_job(process)) is not None:
                if job is process:
                    self._start_quietly(process, self._primer)
                else:
                    self._decode(job, process)  # type: ignore[arg-type]
        finally:
            process.close()

    @staticmethod
    def _start_quietly(process: DecoderProcess, decoder) -> None:
        """Start `process` ahead of need; if it cannot start, the first job that needs it says why."""
        try:
            process.prime(decoder) if decoder is not None else process.start()
        except (OSError, RuntimeError):
            pass

    def _decode(self, job: _Job, process: DecoderProcess) -> None:
        if not job.future.set_running_or_notify_cancel():
            self._forget(job)
            return
        try:
            self._read(job)
        except BaseException as exc:  # noqa: BLE001 -- handed to the future's owner
            self._forget(job)
            job.future.set_exception(exc if isinstance(exc, DicomError) else job.decoder.error(job.index, exc))
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        started = time.perf_counter()
        try:
            data = job.data
            assert not callable(data)  # read by _read above
            array, factor = self._decode_here(job) if job.decoder.releases_gil else process.decode(
                job.decoder, data, job.factor, job.index)
        except BaseException as exc:  # noqa: BLE001 -- handed to the future's owner
            self._forget(job)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                job.future.set_exception(exc)
                raise
            job.future.set_exception(exc if isinstance(exc, DicomError) else job.decoder.error(job.index, exc))
            return
        self._forget(job, decoded=True)
        job.future.set_result(DecodedFrame(array, factor, time.perf_counter() - started))

    @staticmethod
    def _decode_here(job: _Job) -> tuple[np.ndarray, int]:
        if job.factor > 1:
            return job.decoder.decode_reduced(job.data, job.factor, job.index)
        return job.decoder.decode(job.data, job.index), 1

    @staticmethod
    def _read(job: _Job) -> None:
        """Call the job's reading function, on this thread, once."""
        if callable(job.data):
            job.data = job.data()

    def _forget(self, job: _Job, decoded: bool = False) -> None:
        """Free the key before the future resolves, so a callback can submit it again."""
        with self._lock:
            self.decoded += decoded
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]
