"""A decoded-frame cache on disk, so a compressed loop plays at native speed
from its second pass with flat memory.

One scratch file per source file (named by a hash of its path, size and
modification time) in the user's cache folder, read and written with
positional I/O (:mod:`viewer.model.platform.positional`):

    header (4 KiB): magic, version, clean flag, frame geometry, slot count
    tags:  int64[slots]   frame index held by each slot, -1 if empty
    slots: slots x frame_nbytes of decoded pixels

The cache is direct-mapped (frame k lives in slot ``k % slots``), so it
needs no index beyond the tags (read once at open, a few KB) and survives
restarts. Decoded frames live in the page cache, not in the process: a
cached frame costs the process nothing until it is read.

Why positional reads and writes, not a mapping: a page of a mapped file that
cannot be written (the disk filled up under a sparse file) or read (an I/O
error) kills the process with SIGBUS, and preallocating the file
(``posix_fallocate``) exists only on Linux. A failing ``pread``/``pwrite`` is an
``OSError``, after which the cache switches itself off. Measured here for a
1024 x 1024 16-bit frame (2 MiB, page cache warm): a read costs 0.21 ms
against 0.20 ms for a copy out of a mapping (the cache returns copies anyway),
a write 0.34 ms against 0.13 ms -- once per decoded frame, whose decode takes
4-40 ms.

A frame's tag is written after its pixels; the header's clean flag is cleared
while the file is open for writing and set again on close, so a crash leaves
an unclean file whose tags are all reset on the next open. A lock
(:func:`viewer.model.platform.locking.acquire`) keeps two processes from
sharing one scratch file (the second simply runs without a disk cache).
Total size across files is bounded: older scratch files are deleted first.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

from viewer.model.platform import OPEN_FLAGS, durable, locking, positional

MAGIC = b"CINEMAP-FRAMES\x00\x01"
HEADER_BYTES = 4096
_HEADER = struct.Struct("<16sIII8sQQ")  # magic, clean, ndim, reserved, dtype, frame_nbytes, slots
_SHAPE = struct.Struct("<4Q")


SCRATCH_SUFFIXES = (".frames", ".levels")
"""Kinds of scratch file sharing the folder and its budget: decoded frames, overview levels
(:mod:`viewer.model.storage.tilestore`)."""


def scratch_name(path: str, size: int, mtime_ns: int, suffix: str = ".frames") -> str:
    """Scratch file name for a source file's identity."""
    key = f"{os.path.realpath(path)}\0{size}\0{mtime_ns}".encode()
    return hashlib.sha256(key).hexdigest()[:32] + suffix


def _disk_bytes(status: os.stat_result) -> int:
    """Bytes a file takes on disk: a sparse overview file counts what it holds, not its length."""
    blocks = getattr(status, "st_blocks", None)
    return min(status.st_size, blocks * 512) if blocks is not None else status.st_size


def trim_folder(folder: Path, keep_bytes: int, exclude: Path | None = None) -> None:
    """Delete the least recently used scratch files until the folder fits `keep_bytes`."""
    files = []
    for entry in (entry for suffix in SCRATCH_SUFFIXES for entry in folder.glob("*" + suffix)):
        if exclude is not None and entry == exclude:
            continue
        try:
            status = entry.stat()
        except OSError:
            continue
        files.append((status.st_atime, _disk_bytes(status), entry))
    total = sum(size for _, size, _ in files)
    for _, size, entry in sorted(files):
        if total <= keep_bytes:
            break
        try:
            entry.unlink()
            total -= size
        except OSError:
            pass


def open_scratch(target: Path) -> tuple[int, locking.HeldLock] | None:
    """Open (or create, mode 0600) the scratch file `target` for reading and writing, with its lock.

    None if it cannot be opened, or another process holds it (that viewer
    keeps using it; this one goes without).
    """
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT | OPEN_FLAGS, 0o600)
    except OSError:
        return None
    try:
        held = locking.acquire(fd, f"{target}.lock", describe=False)
    except (locking.Busy, OSError):
        os.close(fd)
        return None
    return fd, held


class DiskFrameCache:
    """Direct-mapped store of decoded frames for one source file, in a scratch file.

    Use :meth:`open`, which returns None when a cache cannot be had (no
    space, folder not writable, already in use by another process). Any I/O
    error later switches the cache off: :meth:`get` then returns None and
    :meth:`put` does nothing.
    """

    def __init__(self, path: Path, fd: int, held: locking.HeldLock, frame_shape: tuple[int, ...],
                 dtype: np.dtype, slots: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self._held = held
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.slots = slots
        self.frame_nbytes = int(np.prod(self.frame_shape)) * self.dtype.itemsize
        self._data_offset = HEADER_BYTES + 8 * slots
        self._tags = np.full(slots, -1, dtype=np.int64)  # the file's tags, read at open and kept in step
        self._lock = threading.Lock()
        self.hits = 0
        self.stores = 0

    @classmethod
    def open(
        cls, folder: str | os.PathLike[str], source: str, size: int, mtime_ns: int, num_frames: int,
        frame_shape: tuple[int, ...], dtype: npt.DTypeLike, capacity_bytes: int,
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
        except OSError:
            return None
        opened = open_scratch(target)
        if opened is None:
            return None
        fd, held = opened
        cache = cls(target, fd, held, frame_shape, dtype, slots)
        try:
            fresh = os.fstat(fd).st_size != total
            if fresh:
                os.ftruncate(fd, 0)
                os.ftruncate(fd, total)
                durable.reserve_space(fd, total)  # fail now where the OS can tell (Linux)
            if fresh or not cache._header_matches():
                cache._reset()
            else:
                positional.pread_into(fd, cache._tags, HEADER_BYTES)
            cache._set_clean(False)
        except (OSError, ValueError, EOFError):
            cache.close()
            return None
        return cache

    def _header_matches(self) -> bool:
        assert self._fd is not None
        head = positional.pread_exact(self._fd, _HEADER.size + _SHAPE.size, 0)
        magic, clean, ndim, _, dtype, frame_nbytes, slots = _HEADER.unpack_from(head, 0)
        if ndim > 4:
            return False
        shape = _SHAPE.unpack_from(head, _HEADER.size)[:ndim]
        return (
            magic == MAGIC and clean == 1 and tuple(shape) == self.frame_shape and frame_nbytes == self.frame_nbytes
            and slots == self.slots and dtype.rstrip(b"\0").decode(errors="replace") == self.dtype.str
        )

    def _reset(self) -> None:
        assert self._fd is not None
        self._tags[:] = -1
        positional.pwrite_all(self._fd, self._tags, HEADER_BYTES)
        header = _HEADER.pack(MAGIC, 0, len(self.frame_shape), 0, self.dtype.str.encode(), self.frame_nbytes, self.slots)
        shape = _SHAPE.pack(*(list(self.frame_shape) + [0] * (4 - len(self.frame_shape))))
        positional.pwrite_all(self._fd, header + shape, 0)

    def _set_clean(self, clean: bool) -> None:
        assert self._fd is not None
        positional.pwrite_all(self._fd, struct.pack("<I", 1 if clean else 0), 16)

    def __contains__(self, index: int) -> bool:
        """True if frame `index` is held (no I/O: the tags are kept in memory)."""
        return self._fd is not None and self._tags[index % self.slots] == index

    def get(self, index: int) -> np.ndarray | None:
        """A copy of the cached frame, or None.

        A copy, not a view: the slot may be reused for another frame while
        the caller still shows this one.
        """
        slot = index % self.slots
        frame = np.empty(self.frame_shape, dtype=self.dtype)
        with self._lock:
            if self._fd is None or self._tags[slot] != index:
                return None
            try:
                complete = positional.pread_into(self._fd, frame, self._data_offset + slot * self.frame_nbytes)
            except OSError:
                complete = -1
            if complete != self.frame_nbytes:
                self._switch_off()
                return None
        self.hits += 1
        return frame

    def put(self, index: int, frame: np.ndarray) -> None:
        """Store a decoded frame (pixels first, then the tag)."""
        if frame.shape != self.frame_shape or frame.dtype != self.dtype:
            return
        slot = index % self.slots
        pixels = np.ascontiguousarray(frame)
        with self._lock:
            if self._fd is None:
                return
            try:
                self._write_tag(slot, -1)
                positional.pwrite_all(self._fd, pixels, self._data_offset + slot * self.frame_nbytes)
                self._write_tag(slot, index)
            except OSError:  # the disk is full or failing: no cache rather than a wrong one
                self._switch_off()
                return
        self.stores += 1

    def discard(self, index: int) -> None:
        """Forget frame `index` if it is held (its bytes changed)."""
        slot = index % self.slots
        with self._lock:
            if self._fd is None or self._tags[slot] != index:
                return
            try:
                self._write_tag(slot, -1)
            except OSError:
                self._switch_off()

    def clear(self) -> None:
        """Forget every frame."""
        with self._lock:
            if self._fd is None:
                return
            self._tags[:] = -1
            try:
                positional.pwrite_all(self._fd, self._tags, HEADER_BYTES)
            except OSError:
                self._switch_off()

    def _write_tag(self, slot: int, index: int) -> None:
        assert self._fd is not None
        self._tags[slot] = index
        positional.pwrite_all(self._fd, struct.pack("<q", index), HEADER_BYTES + 8 * slot)

    def _switch_off(self) -> None:
        """After an I/O error: stop using the file, and leave it unclean so that the next open resets it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            self._held.release()
            positional.forget(fd)
            os.close(fd)

    def close(self) -> None:
        """Mark the file clean and release it (idempotent)."""
        with self._lock:
            if self._fd is None:
                return
            try:
                durable.flush_file(self._fd)  # the frames reach the disk before the flag that vouches for them
                self._set_clean(True)
            except OSError:
                pass
            self._switch_off()
