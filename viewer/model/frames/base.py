"""The frame-source interface every kind of pixel data implements.

A :class:`FrameSource` is chosen once when a document opens:

======================  ====================================================
source                  pixel data
======================  ====================================================
``MappedNative``        native, mapped under a read lease: zero-copy views
``ReadNative``          native, read with positional reads (no lease, read
                        mode, read/write mode, network or removable media)
``ConvertedNative``     native values pydicom changes (1-bit, YBR, OW big
                        endian 8-bit): each frame's bytes through pydicom
``Encapsulated``        compressed frames decoded on demand, with caches
``InMemory``            deflated files, inflated whole
``Video``, ``Tiled``    (video streams, whole-slide tiles)
======================  ====================================================

Contract
--------
* ``frame(k)`` returns frame ``k`` exactly as
  ``pydicom.pixels.pixel_array(path, index=k)`` does (shape ``frame_shape``,
  dtype ``dtype``); the index is already checked by the document.
* ``region(k, rows, cols, step)`` returns ``frame(k)[rows, cols][::step, ::step]``
  as a new array, in memory proportional to the output, not the frame.
* A source never touches a mapping that no lease protects (a truncated file
  must give :class:`~viewer.model.errors.DicomError`, never SIGBUS).
* Sources are thread-safe for reads: the view, read-ahead and the
  auto-window read from different threads.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import numpy.typing as npt


class FrameSource:
    """Frames of one document. Subclasses implement :meth:`frame` at least."""

    #: Frames are views into a leased mapping (no copy), not new arrays.
    zero_copy = False
    #: How the pixels are reached, for a user to read ("memory-mapped", ...).
    description = ""

    def __init__(self, num_frames: int, frame_shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        self.num_frames = num_frames
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as pydicom returns it."""
        raise NotImplementedError

    def region(self, index: int, rows: slice, cols: slice, step: int = 1) -> np.ndarray:
        """``frame(index)[rows, cols][::step, ::step]`` as a new array.

        The default reads the whole frame; sources of large frames override it
        to read only the rows and columns asked for.
        """
        return np.array(self.frame(index)[rows, cols][::step, ::step])

    def prefetch(self, indices: Iterable[int]) -> None:
        """Hint: these frames will be asked for soon (read-ahead). Never blocks for long."""

    def release(self, indices: Iterable[int]) -> None:
        """Hint: these frames will not be needed again soon (pages may be dropped)."""

    def invalidate(self, indices: Iterable[int] | None = None) -> None:
        """Forget cached frames (None: all), after their bytes changed on disk."""

    def close(self) -> None:
        """Release what the source holds (caches, helper threads)."""
