"""Pyramid levels of a file's frames in tiles, in a scratch file read and written with positional I/O.

One scratch file per source file, in the disk cache folder and under its
budget (:mod:`viewer.model.storage.diskcache`: named by a hash of the
source's path, size and modification time, least recently used files
trimmed first), with the suffix ``.levels``::

    header (4 KiB): magic, clean flag, frame geometry, tile size, levels, slots
    slot table: slots x (frame index or -1, state)
    slots: slots x the levels 1..K of one frame, each in square tiles, row by row

Slots are direct-mapped (frame k lives in slot ``k % slots``). A tile is
``TILE x TILE`` pixels (the last row and column of tiles padded), so a
region of a level is one positional read per tile it touches.

Unlike the decoded-frame cache, nothing is mapped: every access is a
positional read or write, so a full disk is an ``OSError`` from a write
(the store then switches itself off and callers fall back to a strided
view), never SIGBUS. The file is created sparse; the folder's budget counts
the blocks it really holds.

Crash safety: a slot's tag is written only after its tiles, and the header's
clean flag is cleared while the file is open and set on close; an unclean
file (a crash), or a slot marked :data:`DIRTY` (it held unsaved edits when
the program stopped), is rebuilt, never trusted. A lock
(:func:`viewer.model.platform.locking.acquire`, as for the decoded-frame
cache) keeps two processes apart: the second runs without the file.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from viewer.model.platform import durable, locking, positional
from viewer.model.storage import diskcache

MAGIC = b"CINEMAP-LEVELS\x00\x01"
HEADER_BYTES = 4096
SUFFIX = ".levels"
_HEADER = struct.Struct("<16sI8sIIIIIQ")  # magic, clean, dtype, rows, cols, samples, tile, levels, slots
_SLOT = struct.Struct("<qq")  # frame index (-1: empty), state

TILE = 256
"""Side of the square tiles (the pyramid's coarsest level fits one: :data:`viewer.model.display.pyramid.TILE`)."""

EMPTY, READY, DIRTY = 0, 1, 2
"""Slot states: nothing usable; the levels of the file's pixels; levels that include unsaved edits."""


@dataclass(frozen=True)
class LevelGeometry:
    """Where each tile of each level of one frame lives inside a slot."""

    rows: int
    cols: int
    samples: int
    dtype: np.dtype
    levels: int
    tile: int = TILE

    @property
    def tile_bytes(self) -> int:
        return self.tile * self.tile * self.samples * self.dtype.itemsize

    def tiles(self, level: int) -> tuple[int, int]:
        """Tile rows and columns of `level` (``ceil(size / 2**level)`` pixels a side)."""
        factor = 1 << level
        rows, cols = -(-self.rows // factor), -(-self.cols // factor)
        return -(-rows // self.tile), -(-cols // self.tile)

    def level_offset(self, level: int) -> int:
        """Byte offset of `level`'s first tile inside a slot (``levels + 1``: the slot's size)."""
        if not 1 <= level <= self.levels + 1:
            raise ValueError(f"level {level} is outside 1..{self.levels + 1}")
        return self._level_offsets[level - 1]

    @cached_property
    def _level_offsets(self) -> tuple[int, ...]:
        """:meth:`level_offset` of levels 1..levels + 1, computed once (it is asked for every tile written)."""
        offsets, total = [], 0
        for level in range(1, self.levels + 2):
            offsets.append(total * self.tile_bytes)
            rows, cols = self.tiles(level)
            total += rows * cols
        return tuple(offsets)

    @property
    def slot_bytes(self) -> int:
        return int(self.level_offset(self.levels + 1))

    def tile_shape(self) -> tuple[int, ...]:
        return (self.tile, self.tile) + ((self.samples,) if self.samples > 1 else ())


class TileStore:
    """Levels 1..K of some frames, in slots; in a scratch file or (small pyramids) in memory.

    Thread-safe: every read and write holds a lock, so :meth:`close` never
    lets a write reach a descriptor number the system has reused.
    """

    def __init__(self, geometry: LevelGeometry, slots: int, fd: int | None, path: Path | None,
                 held: locking.HeldLock | None = None) -> None:
        self.geometry = geometry
        self.slots = slots
        self.path = path
        self._fd = fd
        self._held = held
        self._memory = bytearray(self._data_start + slots * geometry.slot_bytes) if fd is None else None
        self._lock = threading.Lock()
        self.failed: OSError | None = None

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, folder: str | os.PathLike[str], identity: tuple[str, int, int], geometry: LevelGeometry,
             num_frames: int, capacity_bytes: int) -> "TileStore | None":
        """Open or create the scratch file of a source file's identity ``(path, size, mtime_ns)``.

        None when no file can be had (budget too small for one frame's levels,
        folder not writable, the file locked by another process, no locks here).
        """
        slots = min(num_frames, max(0, capacity_bytes - HEADER_BYTES) // max(1, geometry.slot_bytes + _SLOT.size))
        if slots <= 0:
            return None
        folder = Path(folder)
        target = folder / diskcache.scratch_name(*identity, suffix=SUFFIX)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        opened = diskcache.open_scratch(target)
        if opened is None:
            return None
        fd, held = opened
        store = cls(geometry, slots, fd, target, held)
        try:
            total = store._data_start + slots * geometry.slot_bytes
            diskcache.trim_folder(folder, max(0, capacity_bytes - total), exclude=target)
            if os.fstat(fd).st_size != total or not store._header_matches():
                store._reset(fd, total)
            else:
                store.discard_dirty()
            store._set_clean(False)
        except OSError:
            store.close()
            return None
        return store

    @classmethod
    def in_memory(cls, geometry: LevelGeometry, num_frames: int, capacity_bytes: int) -> "TileStore | None":
        """A store in this process's memory, for as many frames as fit `capacity_bytes` (None if not one)."""
        slots = min(num_frames, capacity_bytes // max(1, geometry.slot_bytes))
        if slots <= 0:
            return None
        store = cls(geometry, slots, None, None)
        store._write_table(b"".join(_SLOT.pack(-1, EMPTY) for _ in range(slots)))
        return store

    @property
    def _data_start(self) -> int:
        return HEADER_BYTES + self.slots * _SLOT.size

    def _header_values(self, clean: int) -> bytes:
        g = self.geometry
        return _HEADER.pack(MAGIC, clean, g.dtype.str.encode(), g.rows, g.cols, g.samples, g.tile, g.levels,
                            self.slots)

    def _header_matches(self) -> bool:
        stored = self._read(0, _HEADER.size)
        return stored[:16] == MAGIC and stored == self._header_values(1)

    def _reset(self, fd: int, total: int) -> None:
        os.ftruncate(fd, 0)
        os.ftruncate(fd, total)  # sparse: blocks are taken as tiles are written
        self._write(0, self._header_values(0))
        self._write_table(b"".join(_SLOT.pack(-1, EMPTY) for _ in range(self.slots)))

    def _write_table(self, table: bytes) -> None:
        self._write(HEADER_BYTES, table)

    def _set_clean(self, clean: bool) -> None:
        self._write(0, self._header_values(1 if clean else 0))

    # -------------------------------------------------------------- slots
    def slot_of(self, frame: int) -> int:
        return frame % self.slots

    def state(self, frame: int) -> int:
        """:data:`READY` or :data:`DIRTY` if `frame`'s levels are here, else :data:`EMPTY`."""
        tag, state = _SLOT.unpack(self._read(HEADER_BYTES + self.slot_of(frame) * _SLOT.size, _SLOT.size))
        return state if tag == frame else EMPTY

    def set_state(self, frame: int, state: int) -> None:
        """Record that `frame`'s slot holds its levels in `state` (-1 tag for :data:`EMPTY`)."""
        tag = frame if state != EMPTY else -1
        self._write(HEADER_BYTES + self.slot_of(frame) * _SLOT.size, _SLOT.pack(tag, state))

    def discard_dirty(self) -> None:
        """Forget slots that held unsaved edits (at open, from an earlier run)."""
        for slot in range(self.slots):
            tag, state = _SLOT.unpack(self._read(HEADER_BYTES + slot * _SLOT.size, _SLOT.size))
            if state == DIRTY or (tag >= 0 and state not in (READY, DIRTY)):
                self._write(HEADER_BYTES + slot * _SLOT.size, _SLOT.pack(-1, EMPTY))

    # -------------------------------------------------------------- tiles
    def _tile_offset(self, frame: int, level: int, tile_row: int, tile_col: int) -> int:
        g = self.geometry
        _, across = g.tiles(level)
        slot_start = self._data_start + self.slot_of(frame) * g.slot_bytes
        return slot_start + g.level_offset(level) + (tile_row * across + tile_col) * g.tile_bytes

    def write_level(self, frame: int, level: int, top: int, left: int, pixels: np.ndarray) -> None:
        """Store `pixels` as `level`'s pixels from (`top`, `left`); partly covered tiles are read and patched."""
        g, tile = self.geometry, self.geometry.tile
        pixels = pixels.reshape((*pixels.shape[:2], *g.tile_shape()[2:]))
        bottom, right = top + pixels.shape[0], left + pixels.shape[1]
        for tile_row in range(top // tile, -(-bottom // tile)):
            for tile_col in range(left // tile, -(-right // tile)):
                r0, c0 = tile_row * tile, tile_col * tile
                inside = (slice(max(top, r0) - r0, min(bottom, r0 + tile) - r0),
                          slice(max(left, c0) - c0, min(right, c0 + tile) - c0))
                whole = inside[0].stop - inside[0].start == tile and inside[1].stop - inside[1].start == tile
                offset = self._tile_offset(frame, level, tile_row, tile_col)
                block = np.zeros(g.tile_shape(), g.dtype) if whole else self._read_tile(offset)
                block[inside] = pixels[r0 + inside[0].start - top:r0 + inside[0].stop - top,
                                       c0 + inside[1].start - left:c0 + inside[1].stop - left]
                self._write(offset, block)

    def _read_tile(self, offset: int, rows: tuple[int, int] | None = None) -> np.ndarray:
        g = self.geometry
        first, stop = rows or (0, g.tile)
        row_bytes = g.tile_bytes // g.tile
        data = self._read(offset + first * row_bytes, (stop - first) * row_bytes)
        return np.frombuffer(data, g.dtype).reshape((stop - first,) + g.tile_shape()[1:]).copy()

    def read_level(self, frame: int, level: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """`level`'s pixels in rows ``[r0, r1)`` and columns ``[c0, c1)`` (one read per tile touched)."""
        g, tile = self.geometry, self.geometry.tile
        (top, bottom), (left, right) = rows, cols
        out = np.empty((bottom - top, right - left) + g.tile_shape()[2:], g.dtype)
        for tile_row in range(top // tile, -(-bottom // tile)):
            r0 = tile_row * tile
            first, stop = max(top, r0) - r0, min(bottom, r0 + tile) - r0
            for tile_col in range(left // tile, -(-right // tile)):
                c0 = tile_col * tile
                block = self._read_tile(self._tile_offset(frame, level, tile_row, tile_col), (first, stop))
                c_first, c_stop = max(left, c0) - c0, min(right, c0 + tile) - c0
                out[r0 + first - top:r0 + stop - top, c0 + c_first - left:c0 + c_stop - left] = \
                    block[:, c_first:c_stop]
        return out

    # ---------------------------------------------------------------- I/O
    def _read(self, offset: int, length: int) -> bytes:
        with self._lock:
            if self._memory is not None:
                return bytes(self._memory[offset:offset + length])
            if self._fd is None:
                raise OSError("the overview store is closed")
            return bytes(positional.pread_exact(self._fd, length, offset))

    def _write(self, offset: int, data) -> None:
        view = np.ascontiguousarray(data).data.cast("B") if isinstance(data, np.ndarray) else data
        with self._lock:
            if self._memory is not None:
                self._memory[offset:offset + len(view)] = view
                return
            if self._fd is None:
                raise OSError("the overview store is closed")
            try:
                positional.pwrite_all(self._fd, view, offset)
            except OSError as exc:  # a full disk: stop using the file
                self.failed = exc
                raise

    def rename(self, identity: tuple[str, int, int]) -> None:
        """Give the file the name of the source's new identity (after Cinemap saved into it)."""
        if self.path is None:
            return
        target = self.path.with_name(diskcache.scratch_name(*identity, suffix=SUFFIX))
        try:
            os.replace(self.path, target)
        except OSError:
            return  # the next run rebuilds under the new name
        self.path = target

    def close(self) -> None:
        """Mark the file clean and release it (idempotent)."""
        with self._lock:
            fd, self._fd = self._fd, None
            self._memory = None
        if fd is None:
            return
        try:
            durable.flush_file(fd)  # the tiles reach the disk before the flag that vouches for them
            positional.pwrite_all(fd, self._header_values(1), 0)
        except OSError:
            pass
        if self._held is not None:
            self._held.release()
        positional.forget(fd)
        os.close(fd)
