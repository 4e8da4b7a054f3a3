"""A pyramid level computed naively from the whole frame: the reference the tests compare against."""

from __future__ import annotations

import numpy as np


def reference_level(frame: np.ndarray, level: int) -> np.ndarray:
    """Means of the clipped ``2**level`` blocks of `frame`, rounded half to even, in its dtype.

    Pads the frame with NaN to whole blocks and takes ``nanmean``: nothing
    shared with the code under test.
    """
    factor = 1 << level
    rows, cols = frame.shape[:2]
    out_rows, out_cols = -(-rows // factor), -(-cols // factor)
    padded = np.full((out_rows * factor, out_cols * factor) + frame.shape[2:], np.nan)
    padded[:rows, :cols] = frame
    blocks = padded.reshape((out_rows, factor, out_cols, factor) + frame.shape[2:])
    means = np.nanmean(blocks, axis=(1, 3))
    dtype = frame.dtype.newbyteorder("=")
    return (np.rint(means) if dtype.kind in "iu" else means).astype(dtype)
