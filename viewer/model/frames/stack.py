"""``doc.frames``: every frame as one lazy array-like, in every mode.

Under a read lease a native file's ``doc.frames`` is a zero-copy ``ndarray``
view of the mapping. Everywhere else (read mode, read/write mode, compressed
data, a worker thread of a script) it is a :class:`FrameStack`: the same
shape, dtype and indexing, each access read (or decoded) on demand, so that
``stack = doc.frames; stack[1234]`` works whatever the file and the mode.
Like the mapping view, it shows the frames as stored in the file, without
pending edits (``doc.frame(k)`` applies those).
"""

from __future__ import annotations

import numbers
from typing import Any, Iterator

import numpy as np

from viewer.model.frames.base import FrameSource


class FrameStack:
    """A lazy ``(frames, rows, cols[, samples])`` array over a frame source.

    Indexing: ``stack[k]`` (one frame), ``stack[a:b]`` or ``stack[[i, j]]``
    (a new array of those frames), ``stack[k, rows, cols]`` (a region of frame
    ``k``, read alone where the source can), ``np.asarray(stack)`` (every frame:
    only for small files).
    """

    def __init__(self, source: FrameSource, check: Any = None) -> None:
        self._source = source
        self._check = check
        self.shape = (source.num_frames, *source.frame_shape)
        self.dtype = source.dtype
        self.ndim = len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self._frame(index)

    def _index(self, index: int) -> int:
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"frame {index} is outside 0..{count - 1}")
        if self._check is not None:
            self._check()
        return index

    def _frame(self, index: int) -> np.ndarray:
        return self._source.frame(self._index(int(index)))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            first, rest = key[0], key[1:]
            if isinstance(first, numbers.Integral):
                if len(rest) == 2 and all(isinstance(part, slice) and part.step in (None, 1) for part in rest):
                    index = self._index(int(first))
                    return self._source.region(index, rest[0], rest[1], 1)
                return self._frame(int(first))[rest]
            return self[first][(slice(None),) + tuple(rest)]
        if isinstance(key, numbers.Integral):
            return self._frame(int(key))
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
        else:
            indices = np.asarray(key).ravel().tolist()
        frames = [self._frame(index) for index in indices]
        if not frames:
            return np.empty((0, *self.shape[1:]), self.dtype)
        return np.stack(frames)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self[:]
        return array if dtype is None else array.astype(dtype)

    def __repr__(self) -> str:
        return f"<FrameStack shape={self.shape} dtype={self.dtype} ({self._source.description})>"
