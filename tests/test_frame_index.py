"""The encapsulated frame index: tables trusted lazily, files without one walked only as far as needed."""

from __future__ import annotations

import os
import random
import struct
import threading
import warnings

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.encaps import get_frame
from pydicom.pixels import get_decoder, pixel_array

from reference_files import reference_files
from viewer.model.dicom.frame_index import FrameIndex, has_end_markers, positional_reader
from viewer.model.errors import DicomError, TruncatedFileError
from viewer.synthetic.encapsulated import write_encapsulated_cine

PREFIX = 132  # bytes before the value in the raw test files: any offset works
ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


class CountingReader:
    """A positional reader that records every (offset, length) it reads."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)
        self._read = positional_reader(str(path), self.fd)
        self.calls: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, offset, length):
        with self._lock:
            self.calls.append((offset, length))
        return self._read(offset, length)

    def close(self):
        os.close(self.fd)


@pytest.fixture
def readers():
    opened = []

    def make(path):
        reader = CountingReader(path)
        opened.append(reader)
        return reader

    yield make
    for reader in opened:
        reader.close()


def item(data: bytes) -> bytes:
    return ITEM + struct.pack("<I", len(data)) + data


def jpeg_like(index: int, length: int = 40, marker: bool = True) -> bytes:
    """Fake frame bytes: distinct per frame, ending with EOI (or not)."""
    body = bytes((index * 7 + i) % 251 for i in range(length - 2))
    return body + (b"\xff\xd9" if marker else b"\x00\x00")


def raw_file(tmp_path, frames: list[list[bytes]], table: str = "none", name: str = "v.bin"):
    """A file holding junk then an encapsulated value; returns (path, value bytes, extended offsets or None)."""
    items = [b"".join(item(fragment) for fragment in fragments) for fragments in frames]
    starts = np.cumsum([0] + [len(block) for block in items])[:-1].tolist()
    bot = struct.pack(f"<{len(frames)}I", *starts) if table == "basic" else b""
    value = item(bot) + b"".join(items) + DELIMITER
    path = tmp_path / name
    path.write_bytes(b"\x01" * PREFIX + value)
    extended = None
    if table == "extended":
        extended = (starts, [len(fragments[0]) for fragments in frames])
    return path, value, extended


def index_for(path, reader, frames, extended=None, markers=True, **kwargs):
    return FrameIndex(str(path), reader, PREFIX, os.path.getsize(path), frames, extended=extended,
                      frame_markers=markers, **kwargs)


def reads_past_table(reader, index):
    return [call for call in reader.calls if call[0] >= index.base]


# ------------------------------------------------------------------ layouts
@pytest.mark.parametrize("table, per_frame", [("extended", 1), ("basic", 1), ("basic", 3), ("none", 1), ("none", 3)])
def test_every_layout_gives_pydicoms_frames(tmp_path, readers, table, per_frame):
    frames = [[jpeg_like(k * 10 + f, 30 + 2 * f, marker=f == per_frame - 1) for f in range(per_frame)]
              for k in range(9)]
    path, value, extended = raw_file(tmp_path, frames, table)
    reader = readers(path)
    index = index_for(path, reader, 9, extended)
    assert index.layout == table
    assert reads_past_table(reader, index) == [], "no item header may be read at open"
    assert index.items_read == 0 and index.num_frames == 9
    for k in [4, 0, 8, 3]:
        assert index.codestream(k) == get_frame(value, k, extended_offsets=extended, number_of_frames=9)
    if table == "none":
        assert index.items_read == 9 * per_frame
    assert index.complete_index().complete and index.num_frames == 9 and not index.warnings


def test_walk_reads_only_as_far_as_the_frame_asked_for(tmp_path, readers):
    frames = [[jpeg_like(k, 60 + 2 * k)] for k in range(50)]
    path, value, _ = raw_file(tmp_path, frames)
    reader = readers(path)
    index = index_for(path, reader, 50)
    index.codestream(6)
    assert index.items_read == 7 and not index.complete and not index.is_located(7)
    assert all(offset < index.base + 7 * 80 + 8 * 7 + 200 for offset, _ in reader.calls)
    assert max(length for _, length in reader.calls if length < 60) <= 18, "one small read per item header"
    assert index.codestream(20) == get_frame(value, 20, number_of_frames=50)
    assert index.items_read == 21


def test_one_frame_takes_every_fragment(tmp_path, readers):
    path, value, _ = raw_file(tmp_path, [[jpeg_like(1, 20, False), jpeg_like(2, 20, False), jpeg_like(3)]])
    index = index_for(path, readers(path), 1)
    assert not index.is_located(0)
    assert index.codestream(0) == get_frame(value, 0, number_of_frames=1)


def test_background_walk_completes_and_reports_once(tmp_path, readers):
    frames = [[jpeg_like(k)] for k in range(300)]
    path, _, _ = raw_file(tmp_path, frames)
    advice = []
    index = index_for(path, readers(path), 300, scan_advice=advice.append)
    statuses = []
    index.add_done_callback(statuses.append)
    thread = threading.Thread(target=index.complete_index)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert [status.num_frames for status in statuses] == [300] and statuses[0].complete
    assert advice == [True, False], "random-access advice on for the walk, off after it"
    late = []
    index.add_done_callback(late.append)
    assert late and late[0].complete


def test_frames_read_while_the_background_walk_runs(tmp_path, readers):
    frames = [[jpeg_like(k, 24 + 2 * (k % 5), marker=f == 1) for f in range(2)] for k in range(400)]
    path, value, _ = raw_file(tmp_path, frames)
    index = index_for(path, readers(path), 400)
    errors = []

    def reader(seed):
        rng = random.Random(seed)
        for k in [rng.randrange(400) for _ in range(40)]:
            try:
                if index.codestream(k) != get_frame(value, k, number_of_frames=400):
                    errors.append(f"frame {k} differs")
            except Exception as exc:  # collected: the assertion below names it
                errors.append(repr(exc))

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(3)]
    threads.append(threading.Thread(target=index.complete_index))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == [] and index.complete and index.num_frames == 400


# ---------------------------------------------------------- counts, endings
def test_walk_finds_fewer_frames_than_declared(tmp_path, readers):
    path, _, _ = raw_file(tmp_path, [[jpeg_like(k)] for k in range(5)])
    index = index_for(path, readers(path), 8)
    assert index.num_frames == 8 and not index.complete
    statuses = []
    index.add_done_callback(statuses.append)
    with pytest.raises(TruncatedFileError, match="frame 7 of 8"):
        index.codestream(6)
    assert index.complete and index.num_frames == 5 and statuses[0].num_frames == 5
    assert any("only 5 frame(s)" in text for text in statuses[0].warnings)


@pytest.mark.parametrize("table", ["extended", "basic", "none"])
def test_file_cut_short_shows_the_complete_frames(tmp_path, readers, table):
    path, value, extended = raw_file(tmp_path, [[jpeg_like(k, 100)] for k in range(6)], table)
    size = PREFIX + len(value) - 8 - 108 - 50  # drops the delimiter, frame 6 and half of frame 5
    os.truncate(path, size)
    index = index_for(path, readers(path), 6, extended)
    index.complete_index()
    assert index.num_frames == 4 and index.status.complete
    assert any("cut short" in text for text in index.warnings)
    assert index.codestream(3) == get_frame(value, 3, extended_offsets=extended, number_of_frames=6)


def test_regrouping_is_reported_when_pydicoms_rule_differs(tmp_path, readers):
    # One fragment per frame, one without an end marker: grouped at markers
    # tentatively, one fragment per frame once the count is known.
    frames = [[jpeg_like(0)], [jpeg_like(1, marker=False)], [jpeg_like(2)], [jpeg_like(3)]]
    path, value, _ = raw_file(tmp_path, frames)
    index = index_for(path, readers(path), 4)
    assert index.codestream(1) == jpeg_like(1, marker=False) + jpeg_like(2), "tentatively split at markers"
    status = index.complete_index()
    assert status.regrouped
    for k in range(4):
        assert index.codestream(k) == get_frame(value, k, number_of_frames=4)


def test_rle_like_frames_without_markers_are_one_fragment_each(tmp_path, readers):
    path, value, _ = raw_file(tmp_path, [[jpeg_like(k, 30, marker=False)] for k in range(6)])
    index = index_for(path, readers(path), 6, markers=False)
    assert index.codestream(2) == get_frame(value, 2, number_of_frames=6)
    assert index.items_read == 3
    assert not index.complete_index().regrouped


# ------------------------------------------------------------ wrong tables
def _extended_file(tmp_path, count=6):
    return raw_file(tmp_path, [[jpeg_like(k, 40 + 2 * k)] for k in range(count)], "extended")


@pytest.mark.parametrize("change, match", [
    (lambda offsets, lengths: offsets.__setitem__(3, offsets[3] + 2), "frame 4 of 6"),
    (lambda offsets, lengths: offsets.__setitem__(3, offsets[1]), "frame 4 of 6"),
    (lambda offsets, lengths: lengths.__setitem__(3, lengths[3] + 6), "frame 4 of 6"),
    (lambda offsets, lengths: lengths.__setitem__(3, 0), "frame 4 of 6"),
    (lambda offsets, lengths: offsets.__setitem__(3, 1 << 40), "frame 4 of 6"),
])
def test_wrong_extended_table_names_the_frame(tmp_path, readers, change, match):
    path, value, (offsets, lengths) = _extended_file(tmp_path)
    good = (list(offsets), list(lengths))
    change(offsets, lengths)
    index = index_for(path, readers(path), 6, (offsets, lengths))
    for k in (0, 1, 5):  # frames whose entries and neighbours are right
        assert index.codestream(k) == get_frame(value, k, extended_offsets=good)
    with pytest.raises(DicomError, match=match):
        index.codestream(3)


def test_extended_table_of_unequal_sizes_is_ignored_as_pydicom_does(tmp_path, readers):
    path, value, (offsets, lengths) = _extended_file(tmp_path)
    index = index_for(path, readers(path), 6, (offsets, lengths[:-1]))
    assert index.layout == "none" and any("ignored" in text for text in index.warnings)
    assert index.codestream(4) == get_frame(value, 4, number_of_frames=6)


def test_extended_table_as_raw_bytes_past_4_gib_offsets_checked(tmp_path, readers):
    path, _, (offsets, lengths) = _extended_file(tmp_path)
    raw = (struct.pack("<6Q", *offsets[:5], 5 << 32), struct.pack("<6Q", *lengths))
    index = index_for(path, readers(path), 6, raw)
    assert index.num_frames == 5, "a frame the table puts past the end of the file is not shown"
    assert any("cut short" in text for text in index.warnings)


@pytest.mark.parametrize("entry, offset, frame, match", [
    (2, 20, 2, "frame 3 of 5: the Basic Offset Table is not in increasing order"),
    (2, 100, 2, "frame 3 of 5: no valid item header at file offset"),
    (2, 100, 1, "frame 2 of 5: its items do not end where the next frame starts"),
])
def test_wrong_basic_table_names_the_frame(tmp_path, readers, entry, offset, frame, match):
    path, _, _ = raw_file(tmp_path, [[jpeg_like(k, 40)] for k in range(5)], "basic")  # items of 48 bytes
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, PREFIX + 8 + 4 * entry, offset)
    path.write_bytes(bytes(data))
    index = index_for(path, readers(path), 5)
    assert index.codestream(0) == jpeg_like(0, 40)
    with pytest.raises(DicomError, match=match):
        index.codestream(frame)


def test_basic_table_past_the_file_shows_the_frames_before(tmp_path, readers):
    path, _, _ = raw_file(tmp_path, [[jpeg_like(k, 40)] for k in range(5)], "basic")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, PREFIX + 8 + 4 * 4, 1 << 20)
    path.write_bytes(bytes(data))
    index = index_for(path, readers(path), 5)
    assert index.num_frames == 3 and any("cut short" in text for text in index.warnings)
    assert index.codestream(2) == jpeg_like(2, 40)


def test_value_that_is_not_encapsulated_is_refused(tmp_path, readers):
    path = tmp_path / "junk.bin"
    path.write_bytes(b"\x00" * 400)
    with pytest.raises(DicomError, match="Basic Offset Table item"):
        index_for(path, readers(path), 3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1 << 34), st.booleans()), min_size=1, max_size=4),
       st.integers(0, 5))
def test_fuzzed_extended_tables_give_frames_or_dicom_errors(tmp_path, changes, wanted):
    path, value, (offsets, lengths) = raw_file(tmp_path, [[jpeg_like(k, 40 + 2 * k)] for k in range(6)],
                                               "extended", name="fuzz.bin")
    good = (list(offsets), list(lengths))
    for entry, number, is_offset in changes:
        (offsets if is_offset else lengths)[entry] = number
    reader = CountingReader(path)
    try:
        index = index_for(path, reader, 6, (offsets, lengths))
        if wanted >= index.num_frames:  # cut short at a damaged entry: the frame is not offered at all
            assert index.warnings
            with pytest.raises(IndexError):
                index.codestream(wanted)
            return
        data = index.codestream(wanted)
    except DicomError:
        return  # refused cleanly
    finally:
        reader.close()
    # Served only where an item header of that length is where the table says:
    # the bytes pydicom reads with the same table.
    assert data == get_frame(value, wanted, extended_offsets=(offsets, lengths))
    if (offsets[wanted], lengths[wanted]) == (good[0][wanted], good[1][wanted]):
        assert data == jpeg_like(wanted, 40 + 2 * wanted)


# ------------------------------------------------------- real and synthetic
def _encapsulated_reference_files():
    found = []
    for path in reference_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
            syntax = dataset.file_meta.TransferSyntaxUID
        except Exception:
            continue
        if syntax.is_encapsulated and "Rows" in dataset:
            found.append(path)
    return found


def _pixel_value(path):
    """(value offset, extended offsets, syntax, Number of Frames), as pydicom finds them."""
    with open(path, "rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(handle, stop_before_pixels=True)
        start = handle.tell()
        element = handle.read(12)
    offset = start + (12 if element[4:6] in (b"OB", b"OW") else 8)
    extended = None
    if "ExtendedOffsetTable" in dataset and "ExtendedOffsetTableLengths" in dataset:
        extended = (dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths)
    return offset, extended, dataset.file_meta.TransferSyntaxUID, int(dataset.get("NumberOfFrames") or 1)


@pytest.mark.parametrize("path", _encapsulated_reference_files(), ids=lambda path: path.name)
def test_reference_files_give_pydicoms_frame_bytes(path, readers):
    offset, extended, syntax, frames = _pixel_value(path)
    reader = readers(path)
    index = FrameIndex(str(path), reader, offset, os.path.getsize(path), frames, extended=extended,
                       frame_markers=has_end_markers(syntax))
    index.complete_index()
    assert index.num_frames >= 1
    with open(path, "rb") as handle:
        for k in range(index.num_frames):
            handle.seek(offset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = get_frame(handle, k, extended_offsets=extended, number_of_frames=frames)
            assert index.codestream(k) == expected, f"frame {k}"


@pytest.mark.parametrize("kwargs", [
    dict(table="extended"), dict(table="basic"), dict(table="empty"), dict(table="empty", fragments_per_frame=3),
    dict(table="basic", fragments_per_frame=2), dict(syntax="rle", table="empty"),
    dict(samples_per_pixel=3, table="extended"),
])
def test_synthetic_files_decode_as_pydicom_decodes_them(tmp_path, readers, kwargs):
    cine = write_encapsulated_cine(tmp_path / "c.dcm", frames=12, rows=48, columns=64, distinct_frames=5, **kwargs)
    dataset = pydicom.dcmread(cine.path, stop_before_pixels=True)
    extended = None
    if "ExtendedOffsetTable" in dataset:
        extended = (dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths)
    reader = readers(cine.path)
    index = FrameIndex(str(cine.path), reader, cine.pixel_offset, os.path.getsize(cine.path), 12,
                       extended=extended, frame_markers=has_end_markers(cine.transfer_syntax))
    assert reads_past_table(reader, index) == []
    decoder = get_decoder(cine.transfer_syntax)
    from pydicom.pixels.utils import as_pixel_options

    options = dict(as_pixel_options(dataset), number_of_frames=1)
    options.pop("extended_offsets", None)
    for k in (11, 0, 6):
        array, _ = decoder.as_array(index.frame_bytes(k), index=0, **options)
        np.testing.assert_array_equal(array, pixel_array(cine.path, index=k))
        assert index.location(k).start == cine.frame_offsets[k]
