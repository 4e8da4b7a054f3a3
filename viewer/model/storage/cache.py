"""A thread-safe LRU cache of decoded frames, bounded in bytes.

Compressed frames are decoded one at a time; the cache keeps the most
recently used ones up to a byte budget (the "frame cache" setting) so that
scrubbing back and forth does not decode again, while memory stays bounded
however long the file is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

import numpy as np


class FrameCache:
    """LRU mapping of frame index (or ``(index, factor)`` for reduced decodes) to array, bounded in bytes."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = max(0, int(capacity_bytes))
        self._frames: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, index: Hashable) -> bool:
        return index in self._frames

    def get(self, index: Hashable) -> np.ndarray | None:
        """The cached frame, or None; counts a hit or a miss."""
        with self._lock:
            frame = self._frames.get(index)
            if frame is None:
                self.misses += 1
                return None
            self._frames.move_to_end(index)
            self.hits += 1
            return frame

    def put(self, index: Hashable, frame: np.ndarray) -> None:
        """Store `frame` (read-only from now on), evicting least recently used ones."""
        if frame.nbytes > self.capacity_bytes:
            return
        frame.flags.writeable = False
        with self._lock:
            old = self._frames.pop(index, None)
            if old is not None:
                self._nbytes -= old.nbytes
            self._frames[index] = frame
            self._nbytes += frame.nbytes
            while self._nbytes > self.capacity_bytes:
                _, evicted = self._frames.popitem(last=False)
                self._nbytes -= evicted.nbytes

    def discard(self, index: Hashable) -> None:
        """Forget one frame (after it was edited)."""
        with self._lock:
            old = self._frames.pop(index, None)
            if old is not None:
                self._nbytes -= old.nbytes

    def clear(self) -> None:
        """Forget every frame."""
        with self._lock:
            self._frames.clear()
            self._nbytes = 0
