"""Overviews that do not lie: area-averaged pyramid levels of a document's frames.

When a screen pixel covers many image pixels a viewer must show their mean
(:mod:`viewer.model.display.pyramid`), not every k-th pixel: an 8-pixel
bright line every 1,000 pixels of a 30,000 pixel frame is then a faint line
at fit-to-window instead of a line that appears every 5,000 pixels.

:class:`Overview` builds the levels of a frame on first need (the caller
runs :meth:`Overview.refresh` on a worker; until then it shows a strided
view), from :meth:`Document.region` reads in blocks of rows, and keeps them
in a :class:`~viewer.model.storage.tilestore.TileStore`: a scratch file in
the disk cache folder, keyed by the file's identity, or memory for small
pyramids when there is no disk cache.

Edits
-----
The levels follow the document's pixels, pending edits included. The
overview remembers, per frame, which pending mask operations its levels
reflect; when the document's frames change (an edit, undo, redo, revert or
save: ``frames_changed``), the boxes of the operations that came or went
(``MaskOp.top/left/bottom/right``) become stale and the next refresh
recomputes just those blocks, in time proportional to the boxes. A save by
Cinemap therefore keeps the pyramid: its tiles already hold the saved
pixels, so the store is only renamed to the file's new identity. Slots
holding unsaved edits are marked dirty in the store, and a later run
rebuilds them rather than trusting them.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

import numpy as np

from viewer.model.display import pyramid
from viewer.model.storage.tilestore import DIRTY, EMPTY, READY, LevelGeometry, TileStore

IN_MEMORY_BYTES = 128 << 20
"""Largest pyramid kept in memory when there is no disk cache (a 12,000 pixel square frame's)."""

_BLOCK_BYTES = 16 << 20  # frame bytes read per block while building: whole rows up to about 16,000 16-bit pixels
_MIN_BLOCK_COLUMNS = 4096
_BLOCK_ROWS = 2 * pyramid.TILE  # so that level 1 fills whole tile rows

Box = tuple[int, int, int, int]  # top, bottom, left, right in frame pixels
Progress = Callable[[int, int], None]


class Overview:
    """Pyramid levels 1..:attr:`levels` of a document's frames, built on first need.

    Parameters
    ----------
    document : Document
        Read through ``region``; its ``frames_changed`` and ``history_changed``
        are followed, and its file's identity names the scratch file.
    folder, capacity_bytes : optional
        The disk cache folder and its budget; without them small pyramids are
        kept in memory (:data:`IN_MEMORY_BYTES`) and large ones are not kept.
    """

    def __init__(self, document, folder: str | os.PathLike[str] | None = None, capacity_bytes: int = 0,
                 memory_bytes: int = IN_MEMORY_BYTES) -> None:
        self._document = document
        shape = document.frame_shape
        self.levels = pyramid.top_level(shape)
        samples = shape[2] if len(shape) > 2 else 1
        dtype = np.dtype(document.dtype).newbyteorder("=")
        self.geometry = LevelGeometry(int(shape[0]), int(shape[1]), samples, dtype, max(1, self.levels), pyramid.TILE)
        self._folder, self._capacity, self._memory_bytes = folder, int(capacity_bytes), int(memory_bytes)
        self._store: TileStore | None = None
        self._store_tried = False
        self._identity = _identity(document)
        self._lock = threading.RLock()  # guards _seen and _stale
        self._refresh_lock = threading.Lock()  # one build or update at a time
        self._seen: dict[int, frozenset] = {}  # frame -> mask ops its levels reflect (or will, once stale is done)
        self._stale: dict[int, list[Box]] = {}
        self.builds = 0  # frames built (for tests and the benchmark)
        document.frames_changed.connect(self._on_frames_changed)
        document.history_changed.connect(self._check_identity)

    @classmethod
    def for_document(cls, document) -> "Overview":
        """The overview of an open document, kept in its disk cache folder if it has one."""
        if document.closed:
            raise ValueError("the document is closed")
        folder, capacity = document.disk_cache_settings or (None, 0)
        return cls(document, folder, capacity)

    # ------------------------------------------------------------ the store
    @property
    def store(self) -> TileStore | None:
        """Where the levels are kept (opened on first use), or None if nowhere."""
        with self._lock:
            if not self._store_tried and self.levels > 0:
                self._store_tried = True
                self._store = self._open_store()
            store = self._store
        return store if store is not None and store.failed is None else None

    def _open_store(self) -> TileStore | None:
        frames = self._document.num_frames
        if self._folder is not None and self._capacity > 0:
            store = TileStore.open(self._folder, self._identity, self.geometry, frames, self._capacity)
            if store is not None:
                return store
        return TileStore.in_memory(self.geometry, frames, self._memory_bytes)

    @property
    def available(self) -> bool:
        """True if levels can be kept (else callers show strided views)."""
        return self.store is not None

    # ------------------------------------------------------------- state
    def _current_ops(self, frame: int) -> frozenset:
        edits = self._document.edits
        return frozenset(edits.mask_ops(frame)) if edits is not None else frozenset()

    def _sync(self, frame: int, store: TileStore) -> None:
        """Bring `frame`'s bookkeeping up to date with the pending edits (lock held).

        Operations that came, or went without a save, make their boxes stale.
        Operations that went because Cinemap saved them are in the levels
        already: the file now holds what the levels show.
        """
        seen = self._seen.get(frame)
        if seen is None:
            if store.state(frame) != READY:
                return
            seen = self._seen[frame] = frozenset()  # built by an earlier run: the file's pixels
            self._stale[frame] = []
        current = self._current_ops(frame)
        added, removed = current - seen, seen - current
        if not added and not removed:
            return
        saved = removed and not added and self._file_written()
        changed = added if saved else added | removed
        self._stale[frame].extend((op.top, op.bottom, op.left, op.right) for op in changed)
        self._seen[frame] = current
        self._mark(frame, store)

    def _mark(self, frame: int, store: TileStore) -> None:
        """Record in the store whether `frame`'s levels are exactly the file's (lock held)."""
        clean = not self._seen[frame] and not self._stale[frame] and self._identity == _identity(self._document)
        store.set_state(frame, READY if clean else DIRTY)

    def _file_written(self) -> bool:
        """True if the file on disk is no longer the one the store is named after (Cinemap saved into it)."""
        try:
            status = os.stat(self._document.path)
        except OSError:
            return False
        return (status.st_size, status.st_mtime_ns) != tuple(self._identity[1:])

    def is_built(self, frame: int) -> bool:
        """True if `frame`'s levels exist (maybe with stale boxes being recomputed)."""
        store = self.store
        if store is None:
            return False
        with self._lock:
            self._sync(frame, store)
            return frame in self._seen

    def is_ready(self, frame: int) -> bool:
        """True if `frame`'s levels exist and show every pending edit."""
        return self.is_built(frame) and not self._stale.get(frame)

    def _on_frames_changed(self, frames=None) -> None:
        store = self.store
        if store is None:
            return
        with self._lock:
            known = list(self._seen) if frames is None else [f for f in frames if f in self._seen]
            for frame in known:
                self._sync(frame, store)
        self._check_identity()

    def _check_identity(self, *_args) -> None:
        """After Cinemap saved into the file: rename the store to the file's new identity."""
        identity = _identity(self._document)
        if identity == self._identity:
            return
        with self._lock:
            store = self._store if self._store is not None and self._store.failed is None else None
            if store is None:
                self._identity = identity  # nothing kept yet: a store opened later takes the new name
                return
            for frame in self._seen:
                self._sync(frame, store)
            self._identity = identity
            store.rename(identity)
            for frame in self._seen:
                self._mark(frame, store)

    # ------------------------------------------------------------ building
    def refresh(self, frame: int, progress: Progress | None = None) -> bool:
        """Build `frame`'s levels, or recompute their stale boxes; for a worker thread.

        Returns False if there is nowhere to keep them. `progress(done, total)`
        may raise to cancel (the slot is then left empty or dirty, never wrong).
        """
        with self._refresh_lock:
            store = self.store
            if store is None:
                return False
            if not self.is_built(frame):
                self._build(frame, store, progress)
            while True:
                with self._lock:
                    boxes, self._stale[frame] = self._stale.get(frame, []), []
                if not boxes:
                    break
                try:
                    for box in _merge(boxes):
                        self._compute(frame, store, box, progress)
                except BaseException:
                    with self._lock:  # cancelled or failed: the boxes are still to do
                        self._stale.setdefault(frame, []).extend(boxes)
                    raise
                with self._lock:
                    self._sync(frame, store)
                    self._mark(frame, store)
            return True

    def _build(self, frame: int, store: TileStore, progress: Progress | None) -> None:
        slot = store.slot_of(frame)
        with self._lock:
            for other in [f for f in self._seen if store.slot_of(f) == slot]:
                del self._seen[other]
                self._stale.pop(other, None)
            snapshot = self._current_ops(frame)
        store.set_state(frame, EMPTY)  # a crash or a cancel leaves the slot empty
        try:
            self._compute(frame, store, (0, self.geometry.rows, 0, self.geometry.cols), progress)
        finally:
            # The whole frame went through the mapping: its pages leave this process (they stay
            # in the page cache), so the resident size shows what the viewer holds, not the file.
            release = getattr(self._document, "release", None)
            if release is not None and not self._document.closed:
                release([frame])
        with self._lock:
            self._seen[frame], self._stale[frame] = snapshot, []
            self._sync(frame, store)  # edits made while building become stale boxes
            self._mark(frame, store)
        self.builds += 1

    def _compute(self, frame: int, store: TileStore, box: Box, progress: Progress | None) -> None:
        """Recompute every level over `box`, widened to the coarsest level's blocks."""
        block = 1 << self.levels
        rows, cols = self.geometry.rows, self.geometry.cols
        top, left = box[0] // block * block, box[2] // block * block
        bottom, right = min(rows, -(-box[1] // block) * block), min(cols, -(-box[3] // block) * block)
        step_rows = max(block, _BLOCK_ROWS)
        pixel_bytes = self.geometry.dtype.itemsize * self.geometry.samples
        step_cols = max(block, _MIN_BLOCK_COLUMNS, _BLOCK_BYTES // (step_rows * pixel_bytes) // block * block)
        starts = [(r, c) for r in range(top, bottom, step_rows) for c in range(left, right, step_cols)]
        for done, (r0, c0) in enumerate(starts):
            if progress is not None:
                progress(done, len(starts))
            pixels = self._document.region(frame, slice(r0, min(bottom, r0 + step_rows)),
                                           slice(c0, min(right, c0 + step_cols)))
            for level, values in enumerate(pyramid.band_levels(pixels, self.levels), start=1):
                store.write_level(frame, level, r0 >> level, c0 >> level, values)
        if progress is not None:
            progress(len(starts), len(starts))

    # ------------------------------------------------------------- reading
    def read(self, frame: int, level: int, rows: slice = slice(None), cols: slice = slice(None),
             step: int = 1) -> np.ndarray | None:
        """Level `level`'s pixels in a region (level pixels; every `step`-th), or None if not built yet."""
        if not 1 <= level <= self.levels:
            raise ValueError(f"level {level} is outside 1..{self.levels}")
        store = self.store
        if store is None or not self.is_built(frame):
            return None
        level_rows, level_cols = pyramid.level_shape((self.geometry.rows, self.geometry.cols), level)
        r0, r1, _ = rows.indices(level_rows)
        c0, c1, _ = cols.indices(level_cols)
        try:
            pixels = store.read_level(frame, level, (r0, max(r0, r1)), (c0, max(c0, c1)))
        except OSError:
            return None
        return np.ascontiguousarray(pixels[::step, ::step]) if step > 1 else pixels

    def region(self, frame: int, level: int, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Level `level`'s pixels in a region, building the frame's levels first if needed (for scripts).

        Level 0 is the frame itself. Levels no store can hold (coarser than
        :attr:`levels`, or no room anywhere) are computed from the frame.
        """
        if level < 0:
            raise ValueError(f"level must not be negative, not {level}")
        if level == 0:
            return self._document.region(frame, rows, cols)
        if level <= self.levels and self.refresh(frame):
            pixels = self.read(frame, level, rows, cols)
            if pixels is not None:
                return pixels
        return pyramid.level_region(lambda r, c: self._document.region(frame, r, c), self._document.frame_shape,
                                    level, rows, cols, self.geometry.dtype.itemsize * self.geometry.samples)

    def close(self) -> None:
        """Stop following the document and release the store (idempotent)."""
        try:
            self._document.frames_changed.disconnect(self._on_frames_changed)
            self._document.history_changed.disconnect(self._check_identity)
        except (ValueError, KeyError):
            pass
        with self._lock:
            store, self._store, self._store_tried = self._store, None, True
        if store is not None:
            store.close()


def _identity(document) -> tuple[str, int, int]:
    """(path, size, modification time in ns) as the document last saw them (they change when Cinemap saves)."""
    return document.path, document.file.size, document.file.mtime_ns


def _merge(boxes: list[Box]) -> list[Box]:
    """Boxes to recompute: the union's bounding box when they overlap a lot, else each (deduplicated)."""
    unique = list(dict.fromkeys(boxes))
    union = (min(b[0] for b in unique), max(b[1] for b in unique), min(b[2] for b in unique),
             max(b[3] for b in unique))
    area = sum((b[1] - b[0]) * (b[3] - b[2]) for b in unique)
    return [union] if (union[1] - union[0]) * (union[3] - union[2]) <= 2 * area else unique
