"""A decoded-frame cache on disk, so a compressed loop plays at native speed
from its second pass with flat memory.

One scratch file per source file (named by a hash of its path, size and
modification time) in the user's cache folder, memory-mapped read/write:

    header (4 KiB): magic, version, clean flag, frame geometry, slot count
    tags:  int64[slots]   frame index held by each slot, -1 if empty
    slots: slots x frame_nbytes of decoded pixels

The cache is direct-mapped (frame k lives in slot ``k % slots``), so it
needs no index in memory and survives restarts. Decoded frames live in the
page cache as file-backed pages, not anonymous memory, so the process stays
small however many frames are cached. A frame's tag is written after its
pixels; the header's clean flag is cleared while the file is open for
writing and set again on close, so a crash leaves an unclean file whose tags
are all reset on the next open. An ``flock`` keeps two processes from
sharing one scratch file (the second simply runs without a disk cache).
Total size across files is bounded: older scratch files are deleted first.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import threading
from pathlib import Path

import numpy as np

MAGIC = b"CINEMAP-FRAMES\x00\x01"
HEADER_BYTES = 4096
_HEADER = struct.Struct("<16sIII8sQQ")  # magic, clean, ndim, reserved, dtype, frame_nbytes, slots
_SHAPE = struct.Struct("<4Q")


def scratch_name(path: str, size: int, mtime_ns: int) -> str:
    """Scratch file name for a source file's identity."""
    key = f"{os.path.realpath(path)}\0{size}\0{mtime_ns}".encode()
    return hashlib.sha256(key).hexdigest()[:32] + ".frames"


def trim_folder(folder: Path, keep_bytes: int, exclude: Path | None = None) -> None:
    """Delete the least recently used scratch files until the folder fits `keep_bytes`."""
    files = []
    for entry in folder.glob("*.frames"):
        if exclude is not None and entry == exclude:
            continue
        try:
            status = entry.stat()
        except OSError:
            continue
        files.append((status.st_atime, status.st_size, entry))
    total = sum(size for _, size, _ in files)
    for _, size, entry in sorted(files):
        if total <= keep_bytes:
            break
        try:
            entry.unlink()
            total -= size
        except OSError:
            pass


class DiskFrameCache:
    """Direct-mapped, memory-mapped store of decoded frames for one source file.

    Use :meth:`open`, which returns None when a cache cannot be had (no
    space, folder not writable, already in use by another process).
    """

    def __init__(self, path: Path, handle, mapping: np.memmap, frame_shape, dtype, slots: int) -> None:
        self.path = path
        self._handle = handle
        self._mapping = mapping
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.slots = slots
        self.frame_nbytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
        tags_end = HEADER_BYTES + 8 * slots
        self._tags = mapping[HEADER_BYTES:tags_end].view(np.int64)
        self._data = mapping[tags_end : tags_end + slots * self.frame_nbytes]
        self._lock = threading.Lock()
        self.hits = 0
        self.stores = 0

    @classmethod
    def open(
        cls, folder: str | os.PathLike[str], source: str, size: int, mtime_ns: int, num_frames: int,
        frame_shape: tuple[int, ...], dtype: np.dtype, capacity_bytes: int,
    ) -> "DiskFrameCache | None":
        """Open or create the scratch file for `source`; None if no cache can be had."""
        dtype = np.dtype(dtype)
        frame_nbytes = int(np.prod(frame_shape)) * dtype.itemsize
        if frame_nbytes <= 0:
            return None
        slots = min(num_frames, (capacity_bytes - HEADER_BYTES) // (frame_nbytes + 8))
        if slots <= 0:
            return None
        folder = Path(folder)
        target = folder / scratch_name(source, size, mtime_ns)
        total = HEADER_BYTES + 8 * slots + slots * frame_nbytes
        try:
            folder.mkdir(parents=True, exist_ok=True)
            trim_folder(folder, max(0, capacity_bytes - total), exclude=target)
            handle = open(target, "a+b")
        except OSError:
            return None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fresh = os.fstat(handle.fileno()).st_size != total
            if fresh:
                os.ftruncate(handle.fileno(), 0)
                os.posix_fallocate(handle.fileno(), 0, total)  # fail now, not with SIGBUS later
            mapping = np.memmap(handle, dtype=np.uint8, mode="r+", shape=(total,))
        except (OSError, ValueError):
            handle.close()
            return None
        cache = cls(target, handle, mapping, frame_shape, dtype, slots)
        if fresh or not cache._header_matches():
            cache._reset()
        cache._set_clean(False)
        return cache

    def _header_matches(self) -> bool:
        magic, clean, ndim, _, dtype, frame_nbytes, slots = _HEADER.unpack_from(self._mapping, 0)
        shape = _SHAPE.unpack_from(self._mapping, _HEADER.size)[:ndim]
        return (
            magic == MAGIC and clean == 1 and tuple(shape) == self.frame_shape and frame_nbytes == self.frame_nbytes
            and slots == self.slots and dtype.rstrip(b"\0").decode() == self.dtype.str
        )

    def _reset(self) -> None:
        self._tags[:] = -1
        header = _HEADER.pack(MAGIC, 0, len(self.frame_shape), 0, self.dtype.str.encode(), self.frame_nbytes, self.slots)
        self._mapping[: len(header)] = np.frombuffer(header, dtype=np.uint8)
        shape = _SHAPE.pack(*(list(self.frame_shape) + [0] * (4 - len(self.frame_shape))))
        self._mapping[_HEADER.size : _HEADER.size + len(shape)] = np.frombuffer(shape, dtype=np.uint8)

    def _set_clean(self, clean: bool) -> None:
        self._mapping[16:20] = np.frombuffer(struct.pack("<I", 1 if clean else 0), dtype=np.uint8)

    def _slot_view(self, slot: int) -> np.ndarray:
        start = slot * self.frame_nbytes
        return self._data[start : start + self.frame_nbytes].view(self.dtype).reshape(self.frame_shape)

    def get(self, index: int) -> np.ndarray | None:
        """A copy of the cached frame, or None.

        A copy, not a view: the slot may be reused for another frame while
        the caller still shows this one.
        """
        if self._mapping is None:
            return None
        slot = index % self.slots
        with self._lock:
            if self._tags[slot] != index:
                return None
            frame = self._slot_view(slot).copy()
        self.hits += 1
        return frame

    def put(self, index: int, frame: np.ndarray) -> None:
        """Store a decoded frame (pixels first, then the tag)."""
        if self._mapping is None or frame.shape != self.frame_shape or frame.dtype != self.dtype:
            return
        slot = index % self.slots
        with self._lock:
            self._tags[slot] = -1
            np.copyto(self._slot_view(slot), frame)
            self._tags[slot] = index
        self.stores += 1

    def discard(self, index: int) -> None:
        """Forget frame `index` if it is held (its bytes changed)."""
        if self._mapping is None:
            return
        slot = index % self.slots
        with self._lock:
            if self._tags[slot] == index:
                self._tags[slot] = -1

    def clear(self) -> None:
        """Forget every frame."""
        if self._mapping is None:
            return
        with self._lock:
            self._tags[:] = -1

    def close(self) -> None:
        """Mark the file clean and release it (idempotent)."""
        if self._mapping is None:
            return
        try:
            self._mapping.flush()
            self._set_clean(True)
            self._mapping.flush()
        except (OSError, ValueError):
            pass
        self._mapping = None
        self._tags = self._data = None  # type: ignore[assignment]
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._handle.close()
