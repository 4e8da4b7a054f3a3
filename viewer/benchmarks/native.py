"""Uncompressed frames, one method per worker process.

Every method implements the same four steps -- open, copy frame k into a
preallocated buffer, drop its own mappings, close -- so that a frame counts
as read only once its values have been copied, for every method alike (a
lazy view is not a read frame). The methods:

``cinemap``
    ``open_document(path)`` and ``Document.frame(k)``.
``pydicom_index``
    ``pydicom.pixels.pixel_array(path, index=k)``: pydicom's per-frame API.
``pydicom_dcmread``
    ``pydicom.dcmread(path).pixel_array``: reads and converts the whole file.
``memmap``
    A bare ``numpy.memmap`` at the known pixel offset: the floor.
``pread``
    ``os.preadv`` of the frame's bytes into the buffer: the cold-read floor.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from viewer.benchmarks import probe
from viewer.model.platform.advice import advise
from viewer.model.platform.positional import pread_into

OPEN_REPEAT_SECONDS = 3.0


class Method:
    """One way of reading frames of a native file (see the module docstring).

    Parameters
    ----------
    spec : dict
        ``path``, ``pixel_offset``, ``frames``, ``rows``, ``columns``, ``dtype``.
    """

    cold_na: str | None = None
    """Why the cold row does not apply, or None."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.path = spec["path"]
        self.pixel_offset = int(spec["pixel_offset"])
        self.frames = int(spec["frames"])
        self.shape = (int(spec["rows"]), int(spec["columns"]))
        self.dtype = np.dtype(spec["dtype"])
        self.frame_nbytes = self.shape[0] * self.shape[1] * self.dtype.itemsize

    def prepare(self) -> None:
        """Import what the method needs (untimed: imports are not file access)."""

    def open(self) -> None:
        """Open the file (whatever the method needs before reading frames)."""

    def read(self, index: int, out: np.ndarray) -> None:
        """Copy frame `index` into `out`."""
        raise NotImplementedError

    def unmap(self) -> None:
        """Drop this process's mapped pages so the file can be evicted."""

    def close(self) -> None:
        """Release everything :meth:`open` took."""


class Cinemap(Method):
    def prepare(self) -> None:
        import viewer.model  # noqa: F401

    def open(self) -> None:
        from viewer.model import open_document

        self.document = open_document(self.path)

    def read(self, index: int, out: np.ndarray) -> None:
        np.copyto(out, self.document.frame(index))

    def unmap(self) -> None:
        self.document.file.advise(0, self.document.file_size, "dontneed")

    def close(self) -> None:
        self.document.close()


class PydicomIndex(Method):
    def prepare(self) -> None:
        import pydicom.pixels  # noqa: F401

    def read(self, index: int, out: np.ndarray) -> None:
        import pydicom.pixels

        np.copyto(out, pydicom.pixels.pixel_array(self.path, index=index))


class PydicomDcmread(Method):
    cold_na = "n/a (every frame is in memory after open)"

    def open(self) -> None:
        import pydicom

        self.pixels = pydicom.dcmread(self.path).pixel_array

    def read(self, index: int, out: np.ndarray) -> None:
        np.copyto(out, self.pixels[index])

    def close(self) -> None:
        del self.pixels


class Memmap(Method):
    def open(self) -> None:
        self.stack = np.memmap(self.path, dtype=self.dtype.newbyteorder("<"), mode="r",
                               offset=self.pixel_offset, shape=(self.frames, *self.shape))

    def read(self, index: int, out: np.ndarray) -> None:
        np.copyto(out, self.stack[index])

    def unmap(self) -> None:
        raw = getattr(self.stack, "_mmap", None)
        if raw is not None:
            advise(raw, 0, len(raw), "dontneed")

    def close(self) -> None:
        del self.stack


class Pread(Method):
    def open(self) -> None:
        self.fd = os.open(self.path, os.O_RDONLY)

    def read(self, index: int, out: np.ndarray) -> None:
        offset = self.pixel_offset + index * self.frame_nbytes
        if pread_into(self.fd, out, offset) != self.frame_nbytes:  # preadv on Linux: the floor
            raise OSError(f"short read of frame {index}")

    def close(self) -> None:
        os.close(self.fd)


METHODS: dict[str, type[Method]] = {
    "cinemap": Cinemap,
    "pydicom_index": PydicomIndex,
    "pydicom_dcmread": PydicomDcmread,
    "memmap": Memmap,
    "pread": Pread,
}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every native measurement for ``spec["method"]`` in this process.

    Parameters
    ----------
    spec : dict
        The file fields of :class:`Method` plus ``method``, ``seed``,
        ``warm_samples``, ``cold_samples``, ``sequential_frames``,
        ``sequential_seconds`` and ``open_repeats``.

    Returns
    -------
    dict
        ``open_first_fresh_ms``, ``open_first`` (repeats), ``random_warm``,
        ``random_cold`` (or ``random_cold_na``), ``sequential``, ``memory``.
    """
    probe.warm_up_pydicom()
    method = METHODS[spec["method"]](spec)
    method.prepare()
    memory = probe.MemoryTracker()
    out = np.empty(method.shape, dtype=method.dtype)
    rng = np.random.default_rng(int(spec["seed"]))
    indices = rng.integers(0, method.frames, int(spec["warm_samples"])).tolist()
    result: dict[str, Any] = {"method": spec["method"], "file": method.path, "frames": method.frames}

    probe.warm_ranges(method.path, [(0, method.pixel_offset + method.frame_nbytes)])
    result["open_first_fresh_ms"] = round(_open_first(method, out) * 1000, 4)
    memory.sample("after first open")
    result["open_first"] = probe.summarize_ms(_repeat_open_first(
        method, out, int(spec["open_repeats"]), float(spec.get("open_seconds", OPEN_REPEAT_SECONDS))))
    memory.sample("after repeated opens")

    method.open()
    try:
        result["random_warm"] = _random_warm(method, out, indices)
        memory.sample("after warm random")
        if method.cold_na:
            result["random_cold_na"] = method.cold_na
        else:
            result["random_cold"] = _random_cold(method, out, indices[: int(spec["cold_samples"])])
        memory.sample("after cold random")
        result["sequential"] = _sequential(method, out, int(spec["sequential_frames"]),
                                           float(spec["sequential_seconds"]))
        memory.sample("after sequential")
    finally:
        method.close()
    memory.watch("open and read, sampled every ms", lambda: _open_and_read(method, out, indices[:20]))
    result["memory"] = memory.as_json()
    result["checksum"] = int(out.sum())
    return result


def _open_first(method: Method, out: np.ndarray) -> float:
    started = time.perf_counter()
    method.open()
    method.read(0, out)
    elapsed = time.perf_counter() - started
    method.close()
    return elapsed


def _open_and_read(method: Method, out: np.ndarray, indices: list[int]) -> None:
    method.open()
    try:
        for index in indices:
            method.read(index, out)
    finally:
        method.close()


def _repeat_open_first(method: Method, out: np.ndarray, repeats: int,
                       seconds: float = OPEN_REPEAT_SECONDS) -> list[float]:
    """Open + first frame `repeats` times (for at most `seconds`): the steady state.

    200 repeats, not 20: the median of 20 taken right after the first open
    moved by +-15% between runs (interpreter and caches still warming up),
    which is what the fresh-process row reports on its own.
    """
    durations: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(durations) < repeats and (not durations or time.perf_counter() < deadline):
        durations.append(_open_first(method, out))
    return durations


def _frame_range(method: Method, index: int) -> tuple[int, int]:
    return method.pixel_offset + index * method.frame_nbytes, method.frame_nbytes


def _random_warm(method: Method, out: np.ndarray, indices: list[int]) -> dict[str, Any]:
    # pread puts the frames in the page cache without mapping them here: the
    # timed reads then see what a viewer sees for a file another run read.
    method.unmap()
    probe.warm_ranges(method.path, [_frame_range(method, index) for index in indices])
    return probe.summarize_ms(probe.time_each(indices, lambda index: method.read(index, out)))


def _evict(method: Method) -> None:
    method.unmap()
    probe.evict_file(method.path)


def _random_cold(method: Method, out: np.ndarray, indices: list[int]) -> dict[str, Any]:
    durations = probe.time_each(indices, lambda index: method.read(index, out),
                                before=lambda index: _evict(method))
    return probe.summarize_ms(durations)


def _sequential(method: Method, out: np.ndarray, max_frames: int, max_seconds: float) -> dict[str, Any]:
    _evict(method)
    count = 0
    started = time.perf_counter()
    elapsed = 0.0
    while count < min(max_frames, method.frames) and elapsed < max_seconds:
        method.read(count, out)
        count += 1
        elapsed = time.perf_counter() - started
    return {
        "frames": count,
        "seconds": round(elapsed, 4),
        "frames_per_second": round(count / elapsed, 2) if elapsed else None,
        "mb_per_second": round(count * method.frame_nbytes / 1e6 / elapsed, 2) if elapsed else None,
        "file_evicted_first": True,
    }
