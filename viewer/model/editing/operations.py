"""Edit operations: what an edit is, independent of how it is held or saved.

A :class:`MaskOp` sets the pixels under a mask, cropped to its bounding box,
to one value on a :class:`FrameSelection`; a :class:`HeaderPatch` is a
same-length write outside the pixel data. :mod:`viewer.model.editing.edits`
keeps them with undo/redo; :mod:`viewer.model.editing.save_layout` turns them
into the file's byte ranges.
"""

from __future__ import annotations

import numbers
import operator
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

__all__ = ["FrameSelection", "HeaderPatch", "MaskOp", "bounding_box", "fill_value", "union_box"]


_NO_FRAMES = np.zeros(0, dtype=np.int64)


class FrameSelection:
    """An immutable, sorted set of frame indices, held as a ``range`` when possible.

    Build it with :meth:`parse`; it supports ``in``, ``len`` and iteration.
    """

    __slots__ = ("_range", "_array")

    def __init__(self, indices: range | np.ndarray) -> None:
        self._range: range | None = None  # when set, _array is unused
        self._array: np.ndarray = _NO_FRAMES
        if isinstance(indices, range):
            self._range = indices
            return
        array = np.asarray(indices, dtype=np.int64)
        steps = np.diff(array)
        if array.size == 0:
            self._range = range(0)
        elif array.size == 1 or (steps[0] > 0 and np.all(steps == steps[0])):
            step = int(steps[0]) if array.size > 1 else 1
            self._range = range(int(array[0]), int(array[-1]) + 1, step)
        else:
            array.setflags(write=False)
            self._array = array

    @classmethod
    def parse(cls, frames: Any, frame_count: int) -> FrameSelection:
        """Turn an int, range, slice, iterable of ints or None (all) into a selection.

        Raises
        ------
        ValueError
            If an index is outside ``range(frame_count)`` or not an integer.
        """
        if frames is None:
            return cls(range(frame_count))
        if isinstance(frames, slice):
            return cls(_ascending(range(*frames.indices(frame_count))))
        if isinstance(frames, numbers.Integral):
            frames = range(int(frames), int(frames) + 1)
        if isinstance(frames, range):
            selection = _ascending(frames)
            if selection and (selection[0] < 0 or selection[-1] >= frame_count):
                raise ValueError(f"frames {frames} are outside 0..{frame_count - 1}")
            return cls(selection)
        array = np.asarray(list(frames) if not isinstance(frames, np.ndarray) else frames)
        if array.size == 0:
            return cls(range(0))
        if array.dtype.kind not in "iu":
            raise ValueError(f"frame indices must be integers, not {array.dtype}")
        array = np.unique(array.astype(np.int64).ravel())
        if array[0] < 0 or array[-1] >= frame_count:
            raise ValueError(f"frame index {array[0] if array[0] < 0 else array[-1]} is outside 0..{frame_count - 1}")
        return cls(array)

    @classmethod
    def union(cls, selections: Iterable[FrameSelection]) -> FrameSelection:
        """The frames in any of `selections`."""
        selections = [selection for selection in selections if len(selection)]
        if len(selections) == 1:
            return selections[0]
        if not selections:
            return cls(range(0))
        return cls(np.unique(np.concatenate([selection.as_array() for selection in selections])))

    def __contains__(self, index: Any) -> bool:
        try:
            index = operator.index(index)  # range's fast path needs a real int (numpy ints scan it)
        except TypeError:
            return False
        if self._range is not None:
            return index in self._range
        position = int(np.searchsorted(self._array, index))
        return position < self._array.size and self._array[position] == index

    def __len__(self) -> int:
        return len(self._range) if self._range is not None else int(self._array.size)

    def __iter__(self) -> Iterator[int]:
        return iter(self._range) if self._range is not None else iter(self._array.tolist())

    def __repr__(self) -> str:
        return f"FrameSelection({self.as_sequence()!r})"

    def contains_array(self, indices: np.ndarray) -> np.ndarray:
        """Element-wise membership of the int array `indices` (vectorized ``in``)."""
        if self._range is not None:
            r = self._range
            if not r:
                return np.zeros(indices.shape, bool)
            return (indices >= r.start) & (indices < r.stop) & ((indices - r.start) % r.step == 0)
        positions = np.minimum(np.searchsorted(self._array, indices), self._array.size - 1)
        return self._array[positions] == indices

    def as_array(self) -> np.ndarray:
        """The indices as a sorted int64 array."""
        if self._range is not None:
            return np.arange(self._range.start, self._range.stop, self._range.step, dtype=np.int64)
        return self._array

    def as_sequence(self) -> Sequence[int]:
        """The indices as a ``range`` or a tuple of ints (what :attr:`EditSession.changed` emits)."""
        return self._range if self._range is not None else tuple(self._array.tolist())

    @property
    def nbytes(self) -> int:
        return 0 if self._range is not None else int(self._array.nbytes)


def _ascending(indices: range) -> range:
    return indices[::-1] if indices.step < 0 else indices


@dataclass(frozen=True, eq=False)
class MaskOp:
    """Set the pixels under a cropped mask to one value on a selection of frames.

    Attributes
    ----------
    frames : FrameSelection
        The frames the operation touches.
    top, left : int
        Row and column of the mask's bounding box in the frame.
    mask : numpy.ndarray
        The mask cropped to its bounding box (bool, read-only).
    value : numpy.ndarray
        The fill value in the frames' dtype: shape ``()`` or ``(samples,)``.
    """

    frames: FrameSelection
    top: int
    left: int
    mask: np.ndarray
    value: np.ndarray

    @property
    def bottom(self) -> int:
        return self.top + self.mask.shape[0]

    @property
    def right(self) -> int:
        return self.left + self.mask.shape[1]

    @property
    def nbytes(self) -> int:
        return int(self.mask.nbytes + self.value.nbytes + self.frames.nbytes)

    def paint(self, pixels: np.ndarray, top: int, left: int) -> None:
        """Apply to `pixels`, a ``(..., rows, cols[, samples])`` box whose corner is (`top`, `left`).

        The leading axes (frames) are optional: a batch of frames is painted at once.
        """
        rows = slice(self.top - top, self.bottom - top)
        cols = slice(self.left - left, self.right - left)
        box = pixels[..., rows, cols, :] if self.value.ndim else pixels[..., rows, cols]
        _fill(box, self.mask, self.value)

    def paint_sampled(self, pixels: np.ndarray, top: int, left: int, step: int = 1) -> None:
        """Apply to `pixels`, whose element ``[i, j]`` is frame pixel ``(top + i*step, left + j*step)``.

        For a region read at a decimation (:meth:`EditSession.render_region`):
        the work is bounded by the overlap of the box with the region.
        """
        first_row, stop_row, mask_row = _sampled_span(self.top, self.bottom, top, step, pixels.shape[0])
        first_col, stop_col, mask_col = _sampled_span(self.left, self.right, left, step, pixels.shape[1])
        if first_row >= stop_row or first_col >= stop_col:
            return
        mask = self.mask[mask_row::step, mask_col::step][: stop_row - first_row, : stop_col - first_col]
        _fill(pixels[first_row:stop_row, first_col:stop_col], mask, self.value)


def _fill(box: np.ndarray, mask: np.ndarray, value: np.ndarray) -> None:
    if mask.all():  # a rectangle: a slice assignment is much faster than a masked one
        box[...] = value
    elif value.ndim:  # colour: the trailing axis holds the samples
        box[..., mask, :] = value
    else:
        box[..., mask] = value


def _sampled_span(low: int, high: int, origin: int, step: int, count: int) -> tuple[int, int, int]:
    """Indices ``[first, stop)`` of samples ``origin + i*step`` (``i < count``) inside ``[low, high)``,
    and the offset of the first one from `low`."""
    first = max(0, -(-(low - origin) // step))
    stop = min(count, -(-(high - origin) // step))
    return first, stop, origin + first * step - low


@dataclass(frozen=True, eq=False)
class HeaderPatch:
    """A same-length write of `data` at byte `offset` of the file, outside the pixel data."""

    offset: int
    data: bytes

    @property
    def nbytes(self) -> int:
        return len(self.data)


def union_box(ops: list[MaskOp]) -> tuple[int, int, int, int]:
    return (min(op.top for op in ops), max(op.bottom for op in ops),
            min(op.left for op in ops), max(op.right for op in ops))


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def fill_value(value: Any, dtype: np.dtype, samples: int | None) -> np.ndarray:
    """`value` as an array of `dtype`: shape ``()`` (monochrome) or ``(samples,)``."""
    values = np.asarray(value, dtype=object)
    if values.ndim > 1 or (values.ndim == 1 and samples is None):
        raise ValueError(f"the value must be a single number for monochrome pixels, not {value!r}")
    if samples is not None:
        if values.ndim == 1 and values.size != samples:
            raise ValueError(f"the value needs {samples} samples (one per channel), not {values.size}")
        values = np.broadcast_to(values, (samples,))
    for item in values.ravel().tolist():
        _check_fits(item, dtype)
    fill = np.array(values.tolist(), dtype=dtype)
    fill.setflags(write=False)
    return fill


def _check_fits(item: Any, dtype: np.dtype) -> None:
    if not isinstance(item, numbers.Real):
        raise ValueError(f"the value {item!r} is not a number")
    if dtype.kind in "iu":
        if not float(item).is_integer():
            raise ValueError(f"the value {item!r} is not a whole number, as {dtype.name} pixels need")
        limits = np.iinfo(dtype)
        whole = int(item) if isinstance(item, numbers.Integral) else int(float(item))  # exact for big ints
        if not limits.min <= whole <= limits.max:
            raise ValueError(f"the value {item!r} does not fit {dtype.name} pixels ({limits.min}..{limits.max})")
    elif dtype.kind == "f" and not np.isfinite(float(item)):
        raise ValueError(f"the value {item!r} is not a finite number")
