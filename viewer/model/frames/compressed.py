"""Deflated files, inflated whole at open: frames decoded from memory by pydicom.

(Encapsulated pixel data has its own source: :mod:`viewer.model.frames.encapsulated`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom

from viewer.model.frames.base import FrameSource
from viewer.model.frames.decoding import decode_errors
from viewer.model.storage.cache import FrameCache


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
        with decode_errors(self.path, f"frame {index + 1}"):
            frame = pydicom.pixels.pixel_array(self._dataset, index=index, number_of_frames=self.num_frames)
        self.memory.put(index, frame)
        return frame

    def close(self) -> None:
        self.memory.clear()
