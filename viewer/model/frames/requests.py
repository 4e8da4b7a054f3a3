"""Decoding one compressed document's frames, in the calling thread or a shared pool, each once.

:class:`FrameRequests` is how :class:`~viewer.model.frames.encapsulated.EncapsulatedFrames`
turns a frame index into pixels. A frame is served, in order of cost, from
the memory cache (:class:`~viewer.model.storage.cache.FrameCache`), the
disk cache of decoded frames
(:class:`~viewer.model.storage.diskcache.DiskFrameCache`), or read and
decoded, in one of two ways:

* :meth:`FrameRequests.frame` waits for the frame: the pydicom-equal frame
  the readout, export and scripts use. It decodes in the calling thread,
  or, once the decoder processes run and the plugin holds the GIL, in one
  of them (the caller still waits, but other threads -- the UI -- run on).
* :meth:`FrameRequests.request` returns a future at once: what the viewer
  uses while it plays and scrubs. The decode runs on the application's
  shared pool (:mod:`viewer.model.codecs.shared`: threads for plugins
  that release the GIL, processes otherwise), and so does reading the
  frame's bytes, so the caller waits neither for the file nor for a lazy
  frame index to find a far frame. :meth:`FrameRequests.retain` cancels
  queued decodes that are no longer wanted (frames playback will skip,
  frames scrubbing passed).

Both ways share one registry of decodes in flight keyed ``(frame, factor)``,
so a frame is never decoded twice at once at one resolution (the view and
the read-ahead racing for it): the second asker joins the first decode.

A factor above 1 is a reduced decode for display only
(:meth:`FrameDecoder.decode_reduced
<viewer.model.codecs.decoder.FrameDecoder.decode_reduced>`): kept in the
same memory cache under the key ``(frame, factor)``, apart from the
full-resolution frame (keyed by its index), never on disk, and never what
:meth:`FrameRequests.frame` returns.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import CancelledError, Future, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Hashable, Iterable

import numpy as np

from viewer.model.codecs import shared
from viewer.model.codecs.pool import DecodedFrame, PoolClosedError
from viewer.model.codecs.schedule import DecodeTimer
from viewer.model.errors import DicomError, UnsupportedError
from viewer.model.frames.decoding import decode_errors
from viewer.model.storage.cache import FrameCache
from viewer.model.storage.diskcache import DiskFrameCache

__all__ = ["URGENT", "FrameRequests", "cache_key"]

URGENT = float("-inf")
"""The priority of the frame on screen (pool priorities run smallest first)."""

Key = tuple[int, int]  # (frame index, factor)
DiskCacheOpener = Callable[[np.ndarray], "DiskFrameCache | None"]
_REDUCED_FACTORS = (2, 4, 8, 16, 32, 64)


def cache_key(index: int, factor: int) -> Hashable:
    """The memory cache's key: the index for a full-resolution frame, ``(index, factor)`` for a reduced one."""
    return index if factor == 1 else (index, factor)


@dataclass(eq=False)
class _Pending:
    """A decode in flight: its future, and the pool that runs it (None: a thread decodes it itself)."""

    future: Future
    pool: Any = None
    priority: float = 0.0
    held: bool = False  # someone waits for it in frame(): never cancelled by retain()
    started: float | None = None  # perf_counter() when a pool thread took it


class _CallableDecoder:
    """A plain ``decode(frame_bytes)`` function as the pool takes decoders: run on its threads."""

    releases_gil = True

    def __init__(self, decode: Callable[[bytes], np.ndarray], path: str | None) -> None:
        self._decode, self.path = decode, path

    def decode(self, data: bytes, index: int | None = None) -> np.ndarray:
        return self._decode(data)

    def decode_reduced(self, data: bytes, factor: int, index: int | None = None) -> tuple[np.ndarray, int]:
        return self._decode(data), 1

    def reduced_factor(self, factor: int, data: bytes | None = None) -> int:
        return 1

    def error(self, index: int | None, exc: BaseException | None) -> DicomError:
        return UnsupportedError(self.path, f"cannot decode frame {index}: {exc}")


class FrameRequests:
    """The decodes of one compressed document's frames. Thread-safe.

    Parameters
    ----------
    path : str
        The file, named in errors.
    read : callable
        ``read(index) -> bytes``: checks the file and returns the frame's
        items (:meth:`FrameIndex.frame_bytes
        <viewer.model.dicom.frame_index.FrameIndex.frame_bytes>`).
    decode : callable
        ``decode(frame_bytes) -> ndarray``, the full-resolution decode.
    cache : FrameCache
        Memory cache of decoded frames.
    decoder : FrameDecoder, optional
        The decoder behind `decode`, for the pool (picklable for its
        processes) and for reduced decodes; without one, requests decode
        `decode` on the pool's threads at full resolution only.
    open_disk_cache : callable, optional
        ``open_disk_cache(first_decoded_frame) -> DiskFrameCache or None``, called once.
    count : callable, optional
        ``count() -> int``, the frame count named in error messages.

    Attributes
    ----------
    decodes : collections.Counter
        Decodes done so far, by ``(frame, factor)`` (cache hits not counted):
        for tests and the benchmark.
    """

    def __init__(self, path: str, read: Callable[[int], bytes | bytearray], decode: Callable[[Any], np.ndarray],
                 cache: FrameCache, *, decoder: Any = None, open_disk_cache: DiskCacheOpener | None = None,
                 count: Callable[[], int] = lambda: 0) -> None:
        self.path = path
        self._read = read
        self._decode = decode
        self._decoder = decoder if decoder is not None else _CallableDecoder(decode, path)
        self._cache = cache
        self._open_disk_cache = open_disk_cache
        self._disk: DiskFrameCache | None = None
        self._count = count
        self._lock = threading.Lock()
        self._pending: dict[Key, _Pending] = {}
        self._reduced_limit: int | None = None  # learnt when a reduced decode gave less than the header promised
        self.timers: dict[int, DecodeTimer] = {}
        """Pool decode times by factor (:class:`DecodeTimer`), for the playback plan and the benchmark."""
        self._closed = False
        self.decodes: Counter[Key] = Counter()

    # ------------------------------------------------------------- queries
    @property
    def disk_cache(self) -> DiskFrameCache | None:
        """The decoded-frame scratch file, once a frame was decoded (or None)."""
        return self._disk

    @property
    def decoder(self) -> Any:
        """The decoder (a :class:`~viewer.model.codecs.decoder.FrameDecoder` for documents, or a wrapped function)."""
        return self._decoder

    @property
    def releases_gil(self) -> bool:
        """True if the plugin decodes on threads; False: in worker processes."""
        return bool(self._decoder.releases_gil)

    @property
    def workers(self) -> int:
        """Decodes the shared pool runs at once for this document (for the playback plan)."""
        return shared.pool_for(self.releases_gil).workers

    def factor_for(self, factor: int) -> int:
        """The factor a reduced decode asked for `factor` gives here (1: a full decode; see ``reduced_factor``)."""
        if factor <= 1:
            return 1
        actual = int(self._decoder.reduced_factor(int(factor)))
        limit = self._reduced_limit
        return max(1, min(actual, limit)) if limit is not None else max(1, actual)

    def is_ready(self, index: int, factor: int = 1) -> bool:
        """True if the frame (at `factor`) needs no decode: in the memory cache, or on disk at full resolution."""
        factor = self.factor_for(factor)
        if cache_key(index, factor) in self._cache:
            return True
        disk = self._disk
        return factor == 1 and disk is not None and index in disk

    def decode_seconds(self, factor: int = 1) -> float:
        """A pool decode's wall time at `factor` that few exceed (:attr:`DecodeTimer.estimate`).

        Until one was timed at `factor`, the time at another factor scaled
        by the pixels decoded (a cine that starts playing reduced after full
        frames were read ahead); 0 until any was timed.
        """
        factor = self.factor_for(factor)
        timer = self.timers.get(factor)
        if timer is not None:
            return timer.estimate
        for known, other in list(self.timers.items())[:1]:  # (a copy: pool threads add timers)
            return other.estimate * (known / factor) ** 2
        return 0.0

    def is_running(self, index: int, factor: int = 1) -> bool:
        """True if a pool thread is decoding the frame (at `factor`) now."""
        pending = self._pending.get((index, self.factor_for(factor)))
        return pending is not None and pending.started is not None

    def busy_for(self, factor: int = 1) -> list[float]:
        """Seconds until each pool decode under way should end (at least 0), for the playback plan."""
        seconds, now = self.decode_seconds(factor), time.perf_counter()
        with self._lock:
            started = [pending.started for pending in self._pending.values() if pending.started is not None]
        return [max(0.0, start + seconds - now) for start in started]

    def joinable(self, index: int, factor: int = 1) -> "Future[DecodedFrame] | None":
        """The decode of the frame (at `factor`) in flight, or a done future if it is cached; None: neither.

        Unlike :meth:`request`, never starts a decode (a playing cine shows
        what the read-ahead planned, rather than decode a frame already late).
        """
        factor = self.factor_for(factor)
        cached = self._cached(index, factor)
        if cached is not None:
            return _done(DecodedFrame(cached, factor))
        pending = self._pending.get((index, factor))
        return pending.future if pending is not None else None

    def warm_up(self) -> None:
        """Start what decoding off the calling thread needs (the decoder processes) in the background."""
        if not self.releases_gil and not self._closed:
            shared.start_processes_in_background(self._decoder)

    # ------------------------------------------------------- full, waiting
    def frame(self, index: int) -> np.ndarray:
        """Frame `index` at full resolution, as pydicom decodes it (a read-only array, possibly shared).

        Joins a decode of the frame already under way; a queued one is
        decoded here instead (or in a decoder process, see the module docstring).
        """
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if not self.releases_gil and shared.processes_running():
            return self._wait_in_pool(index)
        key = (index, 1)
        while True:
            with self._lock:
                pending = self._pending.get(key)
                if pending is None:
                    mine = self._pending[key] = _Pending(Future())
                    break
            if pending.pool is not None and pending.pool.cancel(self._pool_key(key)):
                continue  # it was only queued: decode it here rather than wait behind other frames
            try:
                return pending.future.result().array
            except CancelledError:
                continue
        try:
            frame = self._load(index)
        except BaseException as exc:
            self._settle(key, mine, error=exc)
            raise
        self._settle(key, mine, DecodedFrame(frame, 1))
        return frame

    def _wait_in_pool(self, index: int) -> np.ndarray:
        while True:
            try:
                return self.request(index, 1, URGENT, held=True).result().array
            except CancelledError:  # the pool was shut down under us: decode here
                if self._closed or not shared.processes_running():
                    return self._load(index)

    def _load(self, index: int) -> np.ndarray:
        """Disk cache or decode, into the caches (calling thread)."""
        disk = self._disk
        frame = disk.get(index) if disk is not None else None
        if frame is None:
            frame = self._decoded(index)
            self.decodes[(index, 1)] += 1
            disk = self._disk_cache_for(frame)
            if disk is not None:
                disk.put(index, frame)
        self._cache.put(index, frame)
        return frame

    def _decoded(self, index: int) -> np.ndarray:
        data = self._read(index)
        with decode_errors(self.path, f"frame {index + 1} of {self._count()}"):
            frame = self._decode(data)
        return frame

    def _disk_cache_for(self, first: np.ndarray) -> DiskFrameCache | None:
        """Open the scratch file once, shaped like the first decoded frame."""
        with self._lock:
            opener, self._open_disk_cache = self._open_disk_cache, None
            if opener is not None and not self._closed:
                self._disk = opener(first)
            return self._disk

    # ------------------------------------------------------ asynchronous
    def request(self, index: int, factor: int = 1, priority: float = 0.0, *,
                held: bool = False) -> "Future[DecodedFrame]":
        """Frame `index` decoded off the calling thread: a future of a :class:`DecodedFrame`.

        Parameters
        ----------
        index : int
            The frame (checked by the caller).
        factor : int, optional
            1: full resolution; more: a reduced decode for display only
            (the future's ``factor`` says what it gave).
        priority : float, optional
            Smaller is decoded first: the time the frame is due, or
            :data:`URGENT` for the frame on screen. Asking again for a
            frame already queued can only make it more urgent.
        held : bool, optional
            Someone will wait for it: :meth:`retain` does not cancel it.

        Returns
        -------
        concurrent.futures.Future
            Done at once for a cached frame. It raises the decode's
            :class:`~viewer.model.errors.DicomError`, or ``CancelledError``
            after :meth:`retain` dropped it. Its callbacks run on a pool thread.
        """
        factor = self.factor_for(factor)
        key = (index, factor)
        cached = self._cached(index, factor)
        if cached is not None:
            return _done(DecodedFrame(cached, factor))
        inner = None
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                pool = shared.pool_for(self.releases_gil)
                pending = self._pending[key] = _Pending(Future(), pool, priority, held)
                try:  # under the lock: the job exists before another asker can see the entry
                    inner = pool.submit(self._pool_key(key), self._decoder, partial(self._started, pending, index),
                                        priority=priority, factor=factor, index=index + 1)
                except PoolClosedError as exc:
                    del self._pending[key]
                    return _failed(UnsupportedError(self.path, f"frame {index + 1} was not decoded: {exc}"))
            else:
                pending.held = pending.held or held
                more_urgent = pending.pool is not None and priority < pending.priority
                if more_urgent:
                    pending.priority = priority
        if inner is not None:
            inner.add_done_callback(partial(self._finished, key, pending))
        elif more_urgent:
            pending.pool.raise_priority(self._pool_key(key), priority)
        return pending.future

    def _started(self, pending: _Pending, index: int) -> bytes | bytearray:
        """A pool thread took the decode: note when (for :meth:`busy_until`), then read the frame."""
        pending.started = time.perf_counter()
        return self._read(index)

    def _cached(self, index: int, factor: int) -> np.ndarray | None:
        cached = self._cache.get(cache_key(index, factor))
        if cached is None and factor == 1 and self._disk is not None and index in self._disk:
            cached = self._disk.get(index)  # one positional read of the scratch file
            if cached is not None:
                self._cache.put(index, cached)
        return cached

    def _pool_key(self, key: Key) -> tuple:
        return (id(self), *key)  # the pool is shared: keys start with their owner

    def _finished(self, key: Key, pending: _Pending, inner: Future) -> None:
        """A pool decode ended (on the pool's thread, or where it was cancelled)."""
        if inner.cancelled():
            self._settle(key, pending, cancelled=True)
            return
        error = inner.exception()
        if error is not None:
            self._settle(key, pending, error=error)
            return
        decoded: DecodedFrame = inner.result()
        self.decodes[(key[0], decoded.factor)] += 1
        self.timers.setdefault(decoded.factor, DecodeTimer()).add(decoded.seconds)
        if decoded.factor < key[1]:
            self._reduced_limit = decoded.factor  # the codestream has fewer levels than asked for
        self._store(key[0], decoded)
        self._settle(key, pending, decoded)

    def _store(self, index: int, decoded: DecodedFrame) -> None:
        if self._closed:
            return
        self._cache.put(cache_key(index, decoded.factor), decoded.array)
        if decoded.factor == 1:
            disk = self._disk_cache_for(decoded.array)
            if disk is not None:
                disk.put(index, decoded.array)

    def _settle(self, key: Key, pending: _Pending, result: DecodedFrame | None = None, *,
                error: BaseException | None = None, cancelled: bool = False) -> None:
        """Forget the decode in flight, then hand its outcome to whoever waits (the caches are filled first)."""
        with self._lock:
            if self._pending.get(key) is pending:
                del self._pending[key]
        if cancelled:
            pending.future.cancel()
            pending.future.set_running_or_notify_cancel()  # else concurrent.futures.wait() never counts it done
        elif error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(result)

    def retain(self, keys: Iterable[tuple[int, int]]) -> int:
        """Cancel queued pool decodes not in `keys` (``(frame, factor)`` pairs); returns how many.

        Decodes under way finish (and are cached); a frame someone waits for is kept.
        """
        wanted = {(index, self.factor_for(factor)) for index, factor in keys}
        with self._lock:
            victims = [(key, pending.pool) for key, pending in self._pending.items()
                       if pending.pool is not None and not pending.held and key not in wanted]
        return sum(pool.cancel(self._pool_key(key)) for key, pool in victims)

    # ------------------------------------------------------------ changes
    def invalidate(self, indices: Iterable[int] | None = None) -> None:
        """Forget decoded frames (None: all), at every resolution, in both caches."""
        disk = self._disk
        if indices is None:
            self._cache.clear()
            if disk is not None:
                disk.clear()
            return
        for index in indices:
            self._cache.discard(index)
            for factor in _REDUCED_FACTORS:
                self._cache.discard((index, factor))
            if disk is not None:
                disk.discard(index)

    def close(self) -> None:
        """Cancel queued decodes, wait for those under way, close the disk cache, empty the memory cache."""
        with self._lock:
            self._closed = True
            self._open_disk_cache = None
        self.retain(())
        with self._lock:
            running = [pending.future for pending in self._pending.values()]
        wait(running)  # a decode under way reads the file: let it end before the descriptor closes
        with self._lock:
            disk, self._disk = self._disk, None
        if disk is not None:
            disk.close()
        self._cache.clear()


def _done(result: DecodedFrame) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _failed(error: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(error)
    return future
