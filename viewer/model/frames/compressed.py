"""Frame sources whose frames must be decoded: encapsulated pixel data, and deflated files in memory.

:class:`Encapsulated` locates each compressed frame's items once
(:mod:`viewer.model.dicom.encapsulated`), reads just that frame's bytes (a
view while the file is mapped under a lease, a positional read otherwise),
decodes them with pydicom's decoder and keeps the result in a memory LRU
cache bounded in bytes and, optionally, in a scratch file on disk
(:mod:`viewer.model.storage.diskcache`), so a loop plays at full speed from
its second pass. The file is checked before a cached frame is served, so no
cache outlives a change on disk that the check can see.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import pydicom

from viewer.model.dicom import encapsulated
from viewer.model.frames.base import FrameSource
from viewer.model.frames.decoding import decode_errors
from viewer.model.storage import diskcache
from viewer.model.storage.cache import FrameCache


class DiskCacheSlot:
    """The disk cache of one document, opened on first use (shaped like the first decoded frame)."""

    def __init__(self, settings: tuple[str, int] | None, path: str, size: int, mtime_ns: int, num_frames: int) -> None:
        self.settings = settings
        self._key = (path, size, mtime_ns, num_frames)
        self.cache: diskcache.DiskFrameCache | None = None
        self._tried = False
        self._lock = threading.Lock()

    def get(self, index: int) -> np.ndarray | None:
        cache = self.cache
        return cache.get(index) if cache is not None else None

    def put(self, index: int, frame: np.ndarray) -> None:
        cache = self._open(frame)
        if cache is not None:
            cache.put(index, frame)

    def _open(self, decoded: np.ndarray) -> diskcache.DiskFrameCache | None:
        with self._lock:
            if self._tried or self.settings is None:
                return self.cache
            self._tried = True
            folder, capacity = self.settings
            path, size, mtime_ns, num_frames = self._key
            self.cache = diskcache.DiskFrameCache.open(
                folder, path, size, mtime_ns, num_frames, decoded.shape, decoded.dtype, capacity
            )
            return self.cache

    def close(self) -> None:
        with self._lock:
            cache, self.cache = self.cache, None
        if cache is not None:
            cache.close()


class Encapsulated(FrameSource):
    """Compressed frames, decoded on demand and cached in memory and on disk.

    Parameters
    ----------
    path : str
    data : FileWindow
        The encapsulated value, from its first item to the end of the file.
    spans : list of encapsulated.FrameSpan
        Where each frame's items are (relative to `data`).
    decode : callable
        ``decode(frame_bytes, index) -> ndarray``.
    check : callable
        Raises if the file changed on disk (called before serving any frame).
    """

    description = "decoded"

    def __init__(
        self, path: str, data: Any, spans: list[encapsulated.FrameSpan], frame_shape: tuple[int, ...],
        dtype: np.dtype, decode: Callable[[bytes, int], np.ndarray], check: Callable[[], None],
        memory: FrameCache, disk: DiskCacheSlot,
    ) -> None:
        super().__init__(len(spans), frame_shape, dtype)
        self.path = path
        self._data = data
        self._spans = spans
        self._decode = decode
        self._check = check
        self.memory = memory
        self.disk = disk

    def frame(self, index: int) -> np.ndarray:
        self._check()
        cached = self.memory.get(index)
        if cached is not None:
            return cached
        frame = self.disk.get(index)
        if frame is None:
            source = encapsulated.frame_bytes(self._data, self._spans[index])
            with decode_errors(self.path, index):
                frame = self._decode(source, index)
            self.disk.put(index, frame)
        self.memory.put(index, frame)
        return frame

    def prefetch(self, indices) -> None:
        """Decode frames into the caches (call from a worker thread: decoding takes time)."""
        for index in indices:
            if index not in self.memory:
                self.frame(index)

    def invalidate(self, indices=None) -> None:
        if indices is None:
            self.memory.clear()
        else:
            for index in indices:
                self.memory.discard(index)

    def close(self) -> None:
        self.memory.clear()
        self.disk.close()


class InMemory(FrameSource):
    """Deflated files, inflated whole at open: frames through pydicom's ``pixel_array``."""

    description = "inflated into memory"

    def __init__(self, path: str, dataset: Any, num_frames: int, frame_shape: tuple[int, ...], dtype: np.dtype,
                 memory: FrameCache) -> None:
        super().__init__(num_frames, frame_shape, dtype)
        self.path = path
        self._dataset = dataset
        self.memory = memory

    def frame(self, index: int) -> np.ndarray:
        cached = self.memory.get(index)
        if cached is not None:
            return cached
        with decode_errors(self.path, index):
            frame = pydicom.pixels.pixel_array(self._dataset, index=index, number_of_frames=self.num_frames)
        self.memory.put(index, frame)
        return frame

    def close(self) -> None:
        self.memory.clear()
