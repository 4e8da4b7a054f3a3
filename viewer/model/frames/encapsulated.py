"""Compressed frames: located by a :class:`~viewer.model.dicom.frame_index.FrameIndex`, decoded on demand.

The index says where each frame's items are (offset tables checked lazily,
item headers walked only as far as needed, the rest on a background
thread); :class:`~viewer.model.frames.requests.FrameRequests` (``source.requests``)
decodes them -- waiting, for :meth:`EncapsulatedFrames.frame`, or off the
calling thread on a shared pool, for the viewer -- and keeps them in the
memory and disk caches, one decode per frame and resolution at a time. The
file guard's ``check()`` runs before any frame is served or read, so a
frame of a file changed on disk is never served from a cache either.

The decoder is a callable ``decode(frame_bytes) -> ndarray`` taking what
:meth:`FrameIndex.frame_bytes` returns (an empty Basic Offset Table and the
frame's items, as pydicom's decoders take one frame): :func:`pydicom_decode`,
or a :class:`~viewer.model.codecs.decoder.FrameDecoder`'s ``decode``
(given as `decoder` too, it decodes in the pool's processes and at reduced sizes).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterable

import numpy as np

from viewer.model.dicom.frame_index import FrameIndex, IndexStatus
from viewer.model.errors import DicomError
from viewer.model.frames.base import FrameSource
from viewer.model.frames.requests import FrameRequests
from viewer.model.storage.cache import FrameCache
from viewer.model.storage.diskcache import DiskFrameCache

Decode = Callable[[bytes], np.ndarray]
DiskCacheOpener = Callable[[np.ndarray], "DiskFrameCache | None"]


def pydicom_decode(decoder: Any, options: dict[str, Any]) -> Decode:
    """A :data:`Decode` with a pydicom decoder (``pydicom.pixels.get_decoder(syntax)``).

    Parameters
    ----------
    decoder : pydicom.pixels.decoders.base.Decoder
        The transfer syntax's decoder, checked to be available.
    options : dict
        Its pixel options (rows, columns, samples per pixel, bits, photometric
        interpretation, transfer syntax ...); ``number_of_frames`` is set to 1.
    """
    frame_options = dict(options, number_of_frames=1)
    frame_options.pop("extended_offsets", None)

    def decode(frame_bytes: bytes) -> np.ndarray:
        array, _ = decoder.as_array(frame_bytes, index=0, **frame_options)
        return array

    return decode


def disk_cache_opener(folder: str, capacity_bytes: int, path: str, size: int, mtime_ns: int,
                      num_frames: int) -> DiskCacheOpener:
    """A :data:`DiskCacheOpener` for :class:`EncapsulatedFrames`: the scratch file shaped like the first frame."""

    def open_cache(first: np.ndarray) -> DiskFrameCache | None:
        return DiskFrameCache.open(folder, path, size, mtime_ns, num_frames, first.shape, first.dtype, capacity_bytes)

    return open_cache


class EncapsulatedFrames(FrameSource):
    """Frames of encapsulated Pixel Data, decoded on demand and cached. Thread-safe.

    Parameters
    ----------
    index : FrameIndex
        Where the frames are; owned by the source from now on (closed with it).
    frame_shape, dtype
        What :meth:`frame` returns (as pydicom's ``pixel_array`` for one frame).
    decode : callable
        ``decode(frame_bytes) -> ndarray`` (see :func:`pydicom_decode`).
    check : callable
        The file guard: raises :class:`~viewer.model.errors.FileChangedError`
        if the file changed on disk; called before every frame is served.
    cache : FrameCache
        Memory cache of decoded frames (shared with the document's settings).
    open_disk_cache : callable, optional
        ``open_disk_cache(first_decoded_frame) -> DiskFrameCache or None``,
        called once (:func:`disk_cache_opener`); None: no disk cache.
    decoder : FrameDecoder, optional
        The decoder `decode` belongs to: decodes off the calling thread
        (:attr:`requests`) then run in processes where its plugin holds the
        GIL, and reduced decodes are possible.

    Notes
    -----
    :attr:`num_frames` is the index's count: Number of Frames until a file
    without an offset table is fully indexed, then the frames found (see
    :meth:`add_index_callback`).
    """

    description = "compressed, decoded on demand"

    def __init__(self, index: FrameIndex, frame_shape: tuple[int, ...], dtype: np.dtype, decode: Decode, *,
                 check: Callable[[], None], cache: FrameCache,
                 open_disk_cache: DiskCacheOpener | None = None, decoder: Any = None) -> None:
        super().__init__(index.num_frames, frame_shape, dtype)
        self.index = index
        self._check = check
        self._cache = cache
        self.requests = FrameRequests(index.path, self._frame_bytes, decode, cache, decoder=decoder,
                                      open_disk_cache=open_disk_cache, count=lambda: self.num_frames)
        """Decodes of this document's frames, waiting or not (see :mod:`viewer.model.frames.requests`)."""
        index.add_done_callback(self._index_complete)

    @property
    def warnings(self) -> list[str]:
        """What the index found odd but usable (a file cut short, fewer frames than declared)."""
        return list(self.index.warnings)

    @property
    def disk_cache(self) -> DiskFrameCache | None:
        """The decoded-frame scratch file, once a frame was decoded (or None)."""
        return self.requests.disk_cache

    def add_index_callback(self, callback: Callable[[IndexStatus], None]) -> None:
        """Call ``callback(status)`` when the frame count is final (at once if it is).

        It runs after this source took the final count (and dropped its
        caches if the index regrouped fragments), in the thread that
        completed the index: the document re-emits it to the UI thread.
        """
        self.index.add_done_callback(callback)

    def index_in_background(self, callback: Callable[[IndexStatus], None]) -> None:
        """Call ``callback(status)`` once the count is final, completing the index on a daemon thread if needed.

        The walk's errors are what reading those frames will say, and a
        document closed meanwhile (:meth:`close` cancels the walk) just ends it.
        """
        self.add_index_callback(callback)
        if not self.index.complete:
            threading.Thread(target=self._complete_index, name="cinemap-index", daemon=True).start()

    def _complete_index(self) -> None:
        with contextlib.suppress(DicomError, OSError, ValueError):
            self.index.complete_index()

    def _index_complete(self, status: IndexStatus) -> None:
        self.num_frames = status.num_frames
        if status.regrouped:
            self.invalidate(None)

    def is_located(self, index: int) -> bool:
        """True if frame `index` can be read without walking the file first (never blocks)."""
        return self.index.is_located(index)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index`, decoded as pydicom decodes it (a read-only array, possibly shared)."""
        self._check()
        return self.requests.frame(index)

    def _frame_bytes(self, index: int) -> bytes | bytearray:
        """The frame's items, read after checking the file (on whichever thread decodes it)."""
        self._check()
        return self.index.frame_bytes(index)

    def prefetch(self, indices) -> None:
        """Decode `indices` into the caches, skipping frames already there, in the calling thread.

        The viewer's read-ahead uses :attr:`requests` instead (decoded on the shared pool, cancellable).
        """
        for index in indices:
            if index not in self._cache:
                self.frame(index)

    def invalidate(self, indices: Iterable[int] | None = None) -> None:
        """Forget decoded frames (None: all) in both caches."""
        self.requests.invalidate(indices)

    def close(self) -> None:
        """Stop the background indexing, cancel queued decodes, close the disk cache, empty the memory cache."""
        self.index.cancel()
        self.requests.close()
