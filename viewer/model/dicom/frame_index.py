"""Where each compressed frame is, found with positional reads and only as far as needed.

:class:`FrameIndex` locates the frames of encapsulated (compressed) Pixel
Data through a ``read(offset, length)`` callable, never a mapping (a file
truncated under us must give an error, not SIGBUS):

* **Extended Offset Table or a non-empty Basic Offset Table:** nothing but
  the Basic Offset Table item is read at open. Each frame's entry is checked
  when the frame is first wanted, in O(1) (:mod:`viewer.model.dicom.offset_tables`),
  and the item header must be where the table says when the frame is read.
* **No table:** Number of Frames gives the count at once; reading frame k
  walks the item headers only as far as frame k
  (:mod:`viewer.model.dicom.frame_walk`), and :meth:`FrameIndex.complete_index`,
  meant for a background thread, walks the rest. Fragments are grouped into
  frames by pydicom's ``get_frame`` rules, so frame bytes equal pydicom's.

Until the walk ends, frames are grouped tentatively (at end-of-image markers
for the JPEG family, one fragment per frame otherwise); when it ends,
pydicom's exact rules apply, and the rare file where they differ from the
tentative grouping is reported as ``regrouped`` (see :class:`IndexStatus`).
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Callable

import pydicom.uid

from viewer.model.dicom.fragment_scan import DELIMITER, ITEM, FragmentScan, Reader
from viewer.model.dicom.frame_walk import FrameWalk
from viewer.model.dicom.offset_tables import BasicTable, ExtendedTable, FrameRun, decode_table, frame_label
from viewer.model.errors import DicomError, TruncatedFileError

EMPTY_BOT = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
_ITEM_LE = b"\xfe\xff\x00\xe0"
EXTENDED, BASIC, NO_TABLE = "extended", "basic", "none"


def has_end_markers(transfer_syntax: str) -> bool:
    """True for syntaxes whose frames end with an EOI/EOC marker (JPEG, JPEG-LS, JPEG 2000, HTJ2K)."""
    return transfer_syntax in (
        pydicom.uid.JPEGTransferSyntaxes + pydicom.uid.JPEGLSTransferSyntaxes + pydicom.uid.JPEG2000TransferSyntaxes
    )


@dataclass(frozen=True)
class IndexStatus:
    """What is known about the frames.

    Attributes
    ----------
    num_frames : int
        Frames that can be shown (final once `complete`).
    complete : bool
        True once the count is final (at open with a table).
    warnings : tuple of str
        Problems found, for a user to read (file cut short, fewer frames than declared).
    truncated : bool
        The Pixel Data is cut short by the end of the file.
    regrouped : bool
        The final grouping of fragments differs from the tentative one for
        frames located before the walk ended: forget frames decoded so far.
    """

    num_frames: int
    complete: bool
    warnings: tuple[str, ...] = ()
    truncated: bool = False
    regrouped: bool = False


class FrameIndex:
    """Frame locations of one encapsulated Pixel Data value. Thread-safe.

    Parameters
    ----------
    path : str
        The file, for messages.
    read : callable
        ``read(offset, length) -> bytes``: a positional read of exactly
        `length` bytes of the file, raising
        :class:`~viewer.model.errors.TruncatedFileError` when it is shorter
        (see :func:`positional_reader`). Called from several threads at once.
    value_offset : int
        File offset of the Pixel Data value (its Basic Offset Table item).
    file_size : int
        Size of the file.
    number_of_frames : int
        Number of Frames from the header (at least 1).
    little_endian : bool, optional
        Byte order of the transfer syntax.
    extended : (offsets, lengths), optional
        Extended Offset Table and its lengths (raw ``OV`` bytes or numbers), if present.
    frame_markers : bool, optional
        Frames end with a JPEG EOI / JPEG 2000 EOC marker (:func:`has_end_markers`):
        how fragments are grouped before the walk ends, without a table.
    scan_advice : callable, optional
        ``scan_advice(True)`` before the first item header is walked,
        ``scan_advice(False)`` when the walk ends: the document turns the
        descriptor's read-ahead off and on (:func:`viewer.model.platform.advice.set_random_access`).

    Raises
    ------
    DicomError
        If the value does not start with a valid Basic Offset Table item, or
        a table leaves no complete frame in the file.
    """

    def __init__(
        self, path: str, read: Reader, value_offset: int, file_size: int, number_of_frames: int, *,
        little_endian: bool = True, extended: tuple | None = None, frame_markers: bool = True,
        scan_advice: Callable[[bool], None] | None = None,
    ) -> None:
        self.path = path
        self._read = read
        self.value_offset = value_offset
        self.file_size = file_size
        self.number_of_frames = max(1, int(number_of_frames))
        self.little_endian = little_endian
        self._frame_markers = frame_markers
        self._header = struct.Struct(("<" if little_endian else ">") + "HHI")
        self._warnings: list[str] = []
        self._callbacks: list[Callable[[IndexStatus], None]] | None = []  # None once called
        self._callbacks_lock = threading.Lock()
        self._last_lock = threading.Lock()
        self._last_run: FrameRun | None = None
        self._last_items = 0
        offsets = self._read_basic_offsets()
        self.base = value_offset + 8 + 4 * len(offsets)
        """File offset of the first item after the Basic Offset Table (where table offsets count from)."""
        self._table: ExtendedTable | BasicTable | None = self._choose_table(offsets, extended)
        self._walk: FrameWalk | None = None
        self._table_frames = 0
        if self._table is None:
            scan = FragmentScan(path, read, self.base, file_size, little_endian)
            self._walk = FrameWalk(scan, self.number_of_frames, frame_markers, scan_advice, self._walk_ended)
        else:
            self._table_frames = self._count_table_frames(self._table)

    # ------------------------------------------------------------------ open
    def _read_basic_offsets(self) -> list[int]:
        if self.value_offset + 8 > self.file_size:
            raise TruncatedFileError(self.path, "the file ends inside the encapsulated Pixel Data")
        group, element, length = self._header.unpack(bytes(self._read(self.value_offset, 8)))
        if group << 16 | element != ITEM:
            raise DicomError(self.path, "encapsulated Pixel Data does not start with a Basic Offset Table item")
        if length % 4 or self.value_offset + 8 + length > self.file_size:
            raise DicomError(self.path, f"the Basic Offset Table declares {length} bytes, which the file cannot hold")
        if not length:
            return []
        raw = bytes(self._read(self.value_offset + 8, length))
        return list(struct.unpack(f"{'<' if self.little_endian else '>'}{length // 4}I", raw))

    def _choose_table(self, offsets: list[int], extended: tuple | None) -> ExtendedTable | BasicTable | None:
        """pydicom's preference: the Extended Offset Table, else the Basic one, else none."""
        if extended is not None:
            table, lengths = (decode_table(values, self.little_endian) for values in extended)
            if len(table) and len(table) == len(lengths):
                return ExtendedTable(self.path, table, lengths, self.base, self.file_size)
            if len(table):
                self._warnings.append(
                    f"the Extended Offset Table lists {len(table)} frames but its lengths {len(lengths)}: "
                    "it was ignored, as pydicom does"
                )
        if offsets:
            return BasicTable(self.path, offsets, self.base, self.file_size)
        return None

    def _count_table_frames(self, table: ExtendedTable | BasicTable) -> int:
        listed = min(table.count, self.number_of_frames)
        inside = min(table.frames_in_file(), listed)
        if table.count < self.number_of_frames:
            self._warnings.append(
                f"Number of Frames is {self.number_of_frames} but the {table.name} lists {table.count} frame(s)"
            )
        if inside == 0:
            raise TruncatedFileError(self.path, "the compressed Pixel Data holds no complete frame")
        if inside < listed:
            self._warnings.append(
                f"the compressed Pixel Data is cut short by the end of the file: showing the {inside} complete "
                f"frame(s) of {listed}"
            )
        return inside

    # ------------------------------------------------------------ properties
    @property
    def layout(self) -> str:
        """``"extended"``, ``"basic"`` or ``"none"``: the table frames are located with."""
        if self._table is None:
            return NO_TABLE
        return EXTENDED if isinstance(self._table, ExtendedTable) else BASIC

    @property
    def num_frames(self) -> int:
        """Frames that can be shown: Number of Frames until a walk without a table ends, then the frames found."""
        walk = self._walk
        return self._table_frames if walk is None else walk.num_frames

    @property
    def complete(self) -> bool:
        """True once :attr:`num_frames` is final (at open with a table)."""
        return self._walk is None or self._walk.complete

    @property
    def warnings(self) -> list[str]:
        """Problems found so far, for a user to read."""
        return self._warnings + (self._walk.warnings if self._walk is not None else [])

    @property
    def items_read(self) -> int:
        """Fragment item headers walked so far (the Basic Offset Table item not counted)."""
        walked = self._walk.scan.items_read if self._walk is not None else 0
        return walked + self._last_items

    @property
    def status(self) -> IndexStatus:
        """The count, whether it is final, and the warnings."""
        walk = self._walk
        if walk is None:
            return IndexStatus(self._table_frames, True, tuple(self._warnings))
        return IndexStatus(walk.num_frames, walk.complete, tuple(self.warnings), walk.truncated, walk.regrouped)

    def is_located(self, index: int) -> bool:
        """True if frame `index`'s position is known (reading it walks no item header). Never blocks."""
        if self._walk is not None:
            return self._walk.is_located(index)
        return 0 <= index < self._table_frames

    def add_done_callback(self, callback: Callable[[IndexStatus], None]) -> None:
        """Call ``callback(status)`` once the count is final (now, in this thread, if it already is).

        Otherwise it runs in the thread whose walk reached the end (the
        background indexer or a reader), after the index is updated.
        """
        with self._callbacks_lock:
            if self._callbacks is not None and not self.complete:
                self._callbacks.append(callback)
                return
        callback(self.status)

    def _walk_ended(self) -> None:
        with self._callbacks_lock:
            callbacks, self._callbacks = self._callbacks or [], None
        status = self.status
        for callback in callbacks:
            callback(status)

    def complete_index(self, stop: threading.Event | None = None) -> IndexStatus:
        """Walk every remaining item header; meant for a background thread.

        Does nothing with a table. Steps aside for readers waiting for a frame
        after each batch of items; returns when the count is final, or early
        when `stop` is set or :meth:`cancel` was called.
        """
        if self._walk is not None:
            self._walk.complete_index(stop)
        return self.status

    def cancel(self) -> None:
        """Make a running :meth:`complete_index` return soon (the document is closing)."""
        if self._walk is not None:
            self._walk.cancel()

    # ---------------------------------------------------------------- frames
    def frame_bytes(self, index: int) -> bytes | bytearray:
        """Frame `index` as pydicom's decoders take it: an empty Basic Offset Table, then its item(s).

        Decode with ``decoder.as_array(data, index=0, number_of_frames=1, ...)``.

        Raises
        ------
        DicomError
            If the table or the items are wrong for this frame, or the frame
            is not in the file (messages name the frame, 1-based).
        """
        run, chunk, fragments = self._read_frame(index)
        if run.raw_length is None and self.little_endian:
            return EMPTY_BOT + chunk  # the frame's items as they are in the file
        length = sum(len(fragment) for fragment in fragments)
        padded = length + length % 2
        data = bytearray(16 + padded)  # one copy of the frame: a header, then the fragments joined
        data[:16] = EMPTY_BOT + _ITEM_LE + struct.pack("<I", padded)
        position = 16
        for fragment in fragments:
            data[position : position + len(fragment)] = fragment
            position += len(fragment)
        return data

    def codestream(self, index: int) -> bytes:
        """Frame `index`'s compressed bytes, as ``pydicom.encaps.get_frame`` returns them."""
        _, _, fragments = self._read_frame(index)
        return b"".join(fragments)

    def location(self, index: int) -> FrameRun:
        """Where frame `index`'s bytes are in the file (walking items up to it if needed)."""
        return self._run(index)

    def _read_frame(self, index: int) -> tuple[FrameRun, memoryview, list[memoryview]]:
        run = self._run(index)
        chunk = memoryview(self._read(run.start, run.stop - run.start))
        label = frame_label(index, self.num_frames)
        if run.raw_length is not None:
            return run, chunk, [self._extended_fragment(chunk, run.start, run.raw_length, label)]
        return run, chunk, self._split_items(chunk, run, label)

    def _extended_fragment(self, chunk: memoryview, start: int, raw_length: int, label: str) -> memoryview:
        group, element, length = self._header.unpack(chunk[:8])
        if group << 16 | element != ITEM:
            raise DicomError(
                self.path, f"{label}: no item header at file offset {start}, where the Extended Offset Table "
                f"puts it (found ({group:04X},{element:04X}))",
            )
        if length not in (raw_length, raw_length + 1):
            raise DicomError(
                self.path, f"{label}: the Extended Offset Table gives it {raw_length} bytes but its item at "
                f"file offset {start} holds {length}",
            )
        return chunk[8:]

    def _split_items(self, chunk: memoryview, run: FrameRun, label: str) -> list[memoryview]:
        """The fragments of the whole items that fill `chunk` exactly."""
        fragments = []
        position = 0
        while position < len(chunk):
            if position + 8 > len(chunk):
                raise DicomError(self.path, f"{label}: its items do not end where the next frame starts")
            group, element, length = self._header.unpack(chunk[position : position + 8])
            if group << 16 | element != ITEM or position + 8 + length > len(chunk):
                where = "where the offset table puts it" if position == 0 else "inside the frame"
                raise DicomError(
                    self.path,
                    f"{label}: no valid item header at file offset {run.start + position}, {where} "
                    f"(found ({group:04X},{element:04X}) with length {length})",
                )
            fragments.append(chunk[position + 8 : position + 8 + length])
            position += 8 + length
        if not fragments:
            raise DicomError(self.path, f"{label}: it has no fragment")
        return fragments

    def _run(self, index: int) -> FrameRun:
        table = self._table
        limit = self._table_frames if self._walk is None else self.number_of_frames
        if not 0 <= index < limit:
            raise IndexError(f"frame {index} is outside 0..{limit - 1}")
        if isinstance(table, ExtendedTable):
            return table.locate(index)
        if isinstance(table, BasicTable):
            return table.locate(index) or self._basic_last_run()
        assert self._walk is not None
        return self._walk.run(index)

    def _basic_last_run(self) -> FrameRun:
        """The Basic Offset Table's last frame: its items run to the sequence delimiter."""
        with self._last_lock:
            if self._last_run is None:
                assert isinstance(self._table, BasicTable)
                start = self._table.last_start
                scan = FragmentScan(self.path, self._read, start, self.file_size, self.little_endian)
                while scan.step():
                    pass
                self._last_items += scan.items_read
                label = frame_label(self._table.count - 1, self._table.count)
                if scan.ended_by != "delimiter":
                    raise TruncatedFileError(self.path, f"{label}: it is cut short by the end of the file")
                if not len(scan):
                    raise DicomError(self.path, f"{label}: the Basic Offset Table points at the sequence delimiter")
                self._last_run = FrameRun(start, scan.item_end(len(scan) - 1))
            return self._last_run

    # ------------------------------------------------------------------ end
    def locate_end(self) -> int:
        """File offset just past the sequence delimiter (or the last complete item), walking what is needed.

        With a table this reads the item after the last frame; without one
        it completes the walk.
        """
        walk = self._walk
        if walk is not None:
            walk.walk_until(lambda: walk.complete)
            assert walk.scan.end is not None
            return walk.scan.end
        table = self._table
        assert table is not None
        if table.frames_in_file() < table.count:
            return self.file_size  # the file ends first
        if isinstance(table, ExtendedTable):
            start = table.locate(table.count - 1).start
            position = start + 8 + self._header.unpack(bytes(self._read(start, 8)))[2]
        else:
            position = (table.locate(table.count - 1) or self._basic_last_run()).stop
        if position + 8 <= self.file_size:
            group, element, _ = self._header.unpack(bytes(self._read(position, 8)))
            if group << 16 | element == DELIMITER:
                return position + 8
        return position

def positional_reader(path: str, fd: int) -> Reader:
    """A :data:`Reader` over an open descriptor with :func:`viewer.model.platform.positional.pread_exact`."""
    from viewer.model.platform.positional import pread_exact

    def read(offset: int, length: int) -> bytearray:
        try:
            return pread_exact(fd, length, offset)
        except EOFError as exc:
            raise TruncatedFileError(
                path, f"the file ends before byte {offset + length} ({length} bytes were expected at {offset})"
            ) from exc

    return read
