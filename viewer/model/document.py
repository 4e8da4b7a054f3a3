"""The document: one DICOM file, opened in constant time and memory.

Design
------
* Opening reads only the header (:mod:`viewer.model.document_open`: a
  ``struct`` walk for plain files, pydicom's parse for the others). The file is
  mapped once, read-only, with ``numpy.memmap``; every binary value above
  ``memmap_threshold`` and the pixel data are views into that mapping, never
  read up front. Every declared length is checked against the file size
  first, because touching a mapping past the end of a file kills the process
  with SIGBUS.
* Native pixel data is exposed as :attr:`Document.frames`, a zero-copy array
  ``(frames, rows, cols[, samples])`` over the mapping. :meth:`Document.frame`
  returns a view of it when pydicom would return the stored values as they
  are (little endian, no colour conversion, not 1-bit); otherwise it hands the
  mapped bytes to pydicom's own decoder for that one frame, so the result
  always equals ``pydicom.pixels.pixel_array(path, index=k)``.
* Encapsulated pixel data is indexed once (:mod:`viewer.model.dicom.encapsulated`);
  a frame is decoded on demand by pydicom's decoder from just its own bytes,
  and kept in a :class:`~viewer.model.storage.cache.FrameCache` bounded in bytes.
* Before each frame fetch the file's size is checked with ``fstat`` so that a
  file truncated by another process gives :class:`FileChangedError`, not
  SIGBUS.
* Edits (read/write mode) live in :class:`viewer.model.editing.edits.EditSession`:
  pending in memory, written only by a journaled save.
"""

from __future__ import annotations

import mmap
import os
import threading
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from viewer.model.storage import diskcache
from viewer.model.display import metadata as display
from viewer.model.display import voi
from viewer.model.dicom import encapsulated
from viewer.model.storage import fileaccess
from viewer.model.dicom import functional_groups
from viewer.model.dicom import header
from viewer.model.storage import lease
from viewer.model.storage.cache import FrameCache
from viewer.model.document_edit import EditingMixin
from viewer.model.document_guard import FileGuardMixin
from viewer.model.document_open import OpeningMixin, _syntax_flags
from viewer.model.errors import DicomError, UnsupportedError
from viewer.model.events import Signal
from viewer.model.dicom.geometry import PixelGeometry
from viewer.model.dicom.mapped import MappedElement, MappedValue

DEFAULT_MEMMAP_THRESHOLD = 1 << 20
DEFAULT_CACHE_BYTES = 256 << 20
SEQUENTIAL_READ_AHEAD_BYTES = 4 << 20
_COLOUR_CONVERTED = ("YBR_FULL", "YBR_FULL_422")


def open_document(
    path: str | os.PathLike[str],
    *,
    memmap_threshold: int = DEFAULT_MEMMAP_THRESHOLD,
    writable: bool = False,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    file_access: str = fileaccess.AUTOMATIC,
    disk_cache_dir: str | os.PathLike[str] | None = None,
    disk_cache_bytes: int = 0,
) -> "Document":
    """Open a DICOM file, parsing its header and mapping its large values.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    memmap_threshold : int
        Binary values longer than this many bytes are memory-mapped instead of
        read (default 1 MiB).
    writable : bool
        Open in read/write mode (takes the edit lock); see
        :meth:`Document.set_writable`.
    cache_bytes : int
        Budget of the decoded-frame cache (compressed files).
    file_access : {"automatic", "memory-map", "read"}
        "automatic" maps the file except on network and FUSE file systems,
        where a failing page would be SIGBUS; there it reads with ``preadv``.
    disk_cache_dir, disk_cache_bytes : optional
        Keep decoded frames of compressed files in a scratch file there
        (:mod:`viewer.model.storage.diskcache`), at most this many bytes in total.

    Returns
    -------
    Document
        Usable as a context manager; :meth:`Document.close` releases every
        mapping and handle.

    Raises
    ------
    DicomError
        (or a subclass) for anything wrong with the file, naming the file.
    """
    document = Document(
        os.fspath(path), memmap_threshold=memmap_threshold, cache_bytes=cache_bytes, file_access=file_access
    )
    if disk_cache_dir is not None and disk_cache_bytes > 0:
        document.disk_cache_settings = (os.fspath(disk_cache_dir), int(disk_cache_bytes))
    try:
        document._open()
        if writable:
            document.set_writable(True)
    except BaseException:
        document.close()
        raise
    return document


class Document(OpeningMixin, FileGuardMixin, EditingMixin):
    """One open DICOM file. Create it with :func:`open_document`.

    Opening lives in :mod:`viewer.model.document_open`, the file-change
    defences in :mod:`viewer.model.document_guard` and the read/write mode
    and edits in :mod:`viewer.model.document_edit`.
    """

    def __init__(
        self, path: str, *, memmap_threshold: int, cache_bytes: int, file_access: str = fileaccess.AUTOMATIC
    ) -> None:
        self.path = path
        self.file_access = file_access  # as requested; resolved when opening
        self.file_access_reason = ""
        self.memmap_threshold = int(memmap_threshold)
        self._dataset: Dataset | None = None  # parsed on first use for plain files, else at open
        self._image_values: dict[str, int | str] | None = None  # the quick scan's Image Pixel values
        self._pixel_value: MappedValue | None = None  # until the dataset is parsed
        self.mapped_elements: list[MappedElement] = []
        self.warnings: list[str] = []
        self.recovery: Any = None
        self.file_size = 0
        self.open_seconds = 0.0
        self.transfer_syntax = pydicom.uid.ExplicitVRLittleEndian
        self.geometry: PixelGeometry | None = None
        self.pixel_element: header.PixelElement | None = None
        self.frames: np.ndarray | None = None
        self.frames_changed = Signal()  # emits a set of frame indices (or None: all)
        self.mode_changed = Signal()  # emits the new writable flag
        self.history_changed = Signal()  # undo/redo/dirty state changed
        self._fd: int | None = None
        self._mapping: np.memmap | None = None
        self._reader: fileaccess.PreadArray | None = None
        self._lease: lease.ReadLease | None = None
        self._changed_reason: str | None = None
        self._mtime_ns = 0
        self._pixel_bytes: np.ndarray | None = None
        self._spans: list[encapsulated.FrameSpan] = []
        self._num_frames = 0
        self._decoder = None
        self._decode_options: dict[str, Any] = {}
        self._cache = FrameCache(cache_bytes)
        self._required_size = 0
        self._identity: tuple[int, int] | None = None
        self._in_memory = False
        self._edits = None
        self._lock = None
        self._write_fd: int | None = None
        self._per_frame: functional_groups.PerFrameGroups | None = None
        self.disk_cache_settings: tuple[str, int] | None = None
        self._disk_cache: diskcache.DiskFrameCache | None = None
        self._disk_cache_tried = False
        self._last_index = -2
        self._converted: bool | None = None  # see _needs_pydicom
        self._state_lock = threading.RLock()

    # -------------------------------------------------------------- properties
    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def num_frames(self) -> int:
        """Number of frames that can be shown (complete frames only)."""
        return self._num_frames

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame: (rows, cols) or (rows, cols, samples)."""
        return self.geometry.frame_shape if self.geometry else ()

    @property
    def dtype(self) -> np.dtype | None:
        """dtype of :meth:`frame` results (big endian for big endian files, as pydicom)."""
        if self.geometry is None:
            return None
        little_endian = _syntax_flags(self.transfer_syntax).little_endian
        if little_endian or self.is_encapsulated or self.geometry.bits_allocated <= 8:
            return self.geometry.dtype
        return self.geometry.dtype.newbyteorder(">")

    @property
    def is_encapsulated(self) -> bool:
        return bool(self.pixel_element and self.pixel_element.length is None)

    @property
    def is_memmapped(self) -> bool:
        """True if the pixel data is mapped rather than read into memory."""
        return self._mapping is not None and self._pixel_bytes is not None

    @property
    def photometric_interpretation(self) -> str:
        return self.geometry.photometric_interpretation if self.geometry else ""

    @property
    def pixel_offset(self) -> int | None:
        """Offset of the first pixel data value byte in the file."""
        return self.pixel_element.value_offset if self.pixel_element else None

    @property
    def mapped_bytes(self) -> int:
        """Total length of the memory-mapped values."""
        return sum(element.length for element in self.mapped_elements)

    @property
    def frame_time_ms(self) -> float | None:
        """Milliseconds per frame from the file, or None."""
        return display.frame_time_ms(self.dataset)

    @property
    def _lazy_groups(self):
        return self._per_frame.item if self._per_frame is not None else None

    def display_dataset(self, index: int = 0) -> Dataset:
        """Frame `index`'s grey transforms as one Dataset pydicom's LUT functions read
        (:func:`viewer.model.display.voi.frame_display_dataset`)."""
        return voi.frame_display_dataset(self.dataset, self.geometry, index, self._lazy_groups)

    @property
    def window_presets(self) -> list[display.WindowPreset]:
        """The file's VOIs for the first frame: VOI LUTs, then windows."""
        return voi.file_presets(self.display_dataset(0))

    @property
    def rescale_unit(self) -> str:
        return voi.rescale_unit(self.display_dataset(0), str(self.dataset.get("Modality", "") or ""))

    def rescale(self, index: int = 0) -> tuple[float, float]:
        """(slope, intercept) for frame `index` (per-frame functional groups aware)."""
        return voi.rescale_of(self.display_dataset(index))

    def per_frame_groups(self, index: int) -> Dataset | None:
        """Frame `index`'s Per-frame Functional Groups item (parsed on demand), or None."""
        if self._per_frame is not None:
            return self._per_frame.item(index)
        groups = self.dataset.get("PerFrameFunctionalGroupsSequence")
        if groups and 0 <= index < len(groups):
            return groups[index]
        return None

    @property
    def cache(self) -> FrameCache:
        return self._cache

    # ------------------------------------------------------------------ frames
    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as pydicom's ``pixel_array(path, index=index)`` returns it.

        For native little-endian data needing no conversion the result is a
        read-only view into the mapping (pending edits, if any, are applied
        to a copy).

        Raises
        ------
        IndexError
            If `index` is outside ``range(num_frames)``.
        DicomError
            If the frame cannot be decoded, or the file changed on disk.
        """
        index = self._check_index(index)
        edits = self._edits
        if edits is not None and edits.is_edited(index):
            stored = self._stored_frame(index)
            return self._from_stored(edits.render(index, stored))
        if self.frames is not None and not self._needs_pydicom():
            self._check_file()
            stored = self.frames[index]
            self._advise(index)
            return self._from_stored(stored)
        if self._reader is not None and self.pixel_element is not None and not self.is_encapsulated \
                and not self._needs_pydicom():
            return self._from_stored(self._read_native_frame(index))
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        self._check_file()
        disk = self._disk_cache
        frame = disk.get(index) if disk is not None else None
        if frame is None:
            frame = self._decode(index)
            disk = self._open_disk_cache(frame)
            if disk is not None:
                disk.put(index, frame)
        if self.is_encapsulated:
            self._cache.put(index, frame)
        return frame

    @property
    def disk_cache(self) -> diskcache.DiskFrameCache | None:
        """The decoded-frame scratch file, once a compressed frame was decoded (or None)."""
        return self._disk_cache

    def _open_disk_cache(self, decoded: np.ndarray) -> diskcache.DiskFrameCache | None:
        """Open the scratch file once, shaped like the first decoded frame."""
        with self._state_lock:
            if self._disk_cache_tried or not self.is_encapsulated or self.disk_cache_settings is None:
                return self._disk_cache
            self._disk_cache_tried = True
            folder, capacity = self.disk_cache_settings
            self._disk_cache = diskcache.DiskFrameCache.open(
                folder, self.path, self.file_size, self._mtime_ns, self._num_frames, decoded.shape, decoded.dtype,
                capacity,
            )
            return self._disk_cache

    def _check_index(self, index: int) -> int:
        if self.closed:
            raise ValueError("the document is closed")
        if self._num_frames == 0:
            raise UnsupportedError(self.path, "the file has no pixel data")
        index = int(index)
        if index < 0:
            index += self._num_frames
        if not 0 <= index < self._num_frames:
            raise IndexError(f"frame {index} is outside 0..{self._num_frames - 1}")
        return index

    def _needs_pydicom(self) -> bool:
        """True if pydicom would change stored values (1-bit, YBR, odd OW swap); fixed once opened."""
        needs = self._converted
        if needs is None:
            geometry = self.geometry
            assert geometry is not None
            needs = self._converted = (
                geometry.bits_allocated == 1
                or geometry.photometric_interpretation in _COLOUR_CONVERTED
                or (
                    geometry.bits_allocated == 8
                    and self.pixel_element is not None
                    and self.pixel_element.vr == "OW"
                    and not _syntax_flags(self.transfer_syntax).little_endian
                )
            )
        return needs

    def _stored_frame(self, index: int) -> np.ndarray:
        assert self.frames is not None
        self._check_file()
        return self.frames[index]

    def _read_native_frame(self, index: int) -> np.ndarray:
        """Read mode: one frame with ``preadv``, shaped like a row of :attr:`frames`."""
        geometry = self.geometry
        assert geometry is not None and self.pixel_element is not None
        start = self.pixel_element.value_offset + index * geometry.frame_nbytes
        data = fileaccess.read_exact(self.path, self._fd, start, geometry.frame_nbytes)
        dtype = geometry.dtype.newbyteorder("<" if _syntax_flags(self.transfer_syntax).little_endian else ">")
        flat = np.frombuffer(data, dtype=dtype)
        rows, cols, samples = geometry.rows, geometry.columns, geometry.samples_per_pixel
        if samples == 1:
            return flat.reshape(rows, cols)
        if geometry.planar_configuration == 0:
            return flat.reshape(rows, cols, samples)
        return flat.reshape(samples, rows, cols).transpose(1, 2, 0)

    def _from_stored(self, stored: np.ndarray) -> np.ndarray:
        """Stored values as pydicom returns them: a view unless unused high bits
        must be masked (unsigned) or sign-extended (signed), as pydicom does."""
        assert self.geometry is not None
        shift = self.geometry.unused_high_bits
        if not shift:
            return stored
        corrected = np.array(stored, copy=True)
        np.left_shift(corrected, shift, out=corrected)
        np.right_shift(corrected, shift, out=corrected)
        return corrected

    def _advise(self, index: int) -> None:
        """Ask the kernel to read frame `index` ahead (one request, not a fault per page).

        When frames are fetched in order, the next ~4 MiB are requested too,
        so sequential reads from a cold disk stream instead of stalling.
        """
        if self._mapping is None or self.geometry is None or self.pixel_element is None:
            return
        frame_nbytes = self.geometry.frame_nbytes
        start = self.pixel_element.value_offset + index * frame_nbytes
        length = frame_nbytes
        if index == self._last_index + 1:
            length += max(frame_nbytes, SEQUENTIAL_READ_AHEAD_BYTES)
        self._last_index = index
        self.advise_range(start, length, mmap.MADV_WILLNEED)

    def advise_range(self, start: int, length: int, advice: int) -> None:
        """``madvise`` a byte range of the file mapping (no-op where unsupported)."""
        raw = getattr(self._mapping, "_mmap", None)
        if raw is None or not hasattr(raw, "madvise"):
            return
        base = self._mapping.offset if self._mapping is not None else 0
        start -= base
        aligned = start - start % mmap.PAGESIZE
        try:
            raw.madvise(advice, aligned, min(length + start - aligned, len(raw) - aligned))
        except (OSError, ValueError):
            pass

    def _decode(self, index: int) -> np.ndarray:
        try:
            if self._in_memory:
                return pydicom.pixels.pixel_array(self.dataset, index=index, number_of_frames=self._num_frames)
            assert self._pixel_bytes is not None and self._decoder is not None
            if self.is_encapsulated:
                source = encapsulated.frame_bytes(self._pixel_bytes, self._spans[index])
                array, _ = self._decoder.as_array(source, index=0, **self._decode_options)
            elif self._mapping is None:
                array = self._decode_native_read_mode(index)
            else:
                array, _ = self._decoder.as_array(self._pixel_bytes, index=index, **self._decode_options)
            return array
        except DicomError:
            raise
        except MemoryError as exc:
            raise UnsupportedError(self.path, f"frame {index} is too large to decode in memory") from exc
        except Exception as exc:
            raise UnsupportedError(self.path, f"cannot decode frame {index}: {exc}") from exc
        except BaseException as exc:
            # Rust decoders (pylibjpeg-rle) report bad input as a PanicException,
            # which derives from BaseException, not Exception.
            if type(exc).__module__ != "pyo3_runtime":
                raise
            raise UnsupportedError(self.path, f"the decoder failed on frame {index}: {exc}") from exc

    def _decode_native_read_mode(self, index: int) -> np.ndarray:
        """Read mode, values pydicom converts: decode just this frame's bytes."""
        geometry = self.geometry
        assert geometry is not None and self.pixel_element is not None and self._decoder is not None
        if geometry.bits_allocated == 1 or geometry.frame_bits % 16:
            # Bit-packed or odd-length frames are not byte/word aligned: 1-bit data
            # is small, read it whole once.
            if not isinstance(self._pixel_bytes, np.ndarray):
                self._pixel_bytes = self._pixel_bytes[:]
            array, _ = self._decoder.as_array(self._pixel_bytes, index=index, **self._decode_options)
            return array
        start = self.pixel_element.value_offset + index * geometry.frame_nbytes
        data = fileaccess.read_exact(self.path, self._fd, start, geometry.frame_nbytes)
        options = dict(self._decode_options, number_of_frames=1)
        array, _ = self._decoder.as_array(bytes(data), index=0, **options)
        return array

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Release the mappings, the lock and the file handles (idempotent)."""
        self._leave_write_mode()
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._disk_cache is not None:
            self._disk_cache.close()
            self._disk_cache = None
        self._cache.clear()
        for element in self.mapped_elements:
            if element.value is not None:
                element.value.close()
        # Drop our references and let the mapping go with the last view: an
        # explicit mmap.close() unmaps the memory even while numpy views of it
        # (a frame a widget still paints) exist, and touching them is SIGSEGV.
        self.frames = None
        self._pixel_bytes = None
        self._per_frame = None
        self._reader = None
        self._mapping = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Document":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.num_frames} frame(s) {self.frame_shape}"
        return f"<Document {os.path.basename(self.path)!r} {state}>"
