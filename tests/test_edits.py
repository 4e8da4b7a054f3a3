"""EditSession: pending edits, rendering, undo/redo, strokes, validation and save (no Qt)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.pixels import pixel_array

from dicom_builders import encode_pixels, write_dicom

from viewer.model.editing.edits import EditSession, FrameSelection
from viewer.model.errors import FileChangedError, ReadOnlyError

# name: (shape (frames, rows, cols[, samples]), dtype, planar configuration, big endian)
KINDS = {
    "mono16": ((20, 64, 48), np.uint16, 0, False),
    "bigendian16": ((20, 64, 48), np.uint16, 0, True),
    "rgb-planar0": ((6, 24, 20, 3), np.uint8, 0, False),
    "rgb-planar1": ((6, 24, 20, 3), np.uint8, 1, False),
}


# ---------------------------------------------------------------- helpers
def map_frames(path, shape, dtype, *, planar: int = 0, big_endian: bool = False) -> tuple[np.ndarray, int]:
    """A read-only (frames, rows, cols[, samples]) view of the file's pixel data, and its offset."""
    offset = pydicom.dcmread(path, defer_size=1024)["PixelData"].file_tell
    dtype = np.dtype(dtype).newbyteorder(">" if big_endian else "<")
    if planar:
        frames, rows, cols, samples = shape
        return np.memmap(path, mode="r", dtype=dtype, offset=offset, shape=(frames, samples, rows, cols)).transpose(0, 2, 3, 1), offset
    return np.memmap(path, mode="r", dtype=dtype, offset=offset, shape=shape), offset


def sha256(path) -> str:
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


class Opened:
    """A test file opened as the document does: memmap view, O_RDWR descriptor, session."""

    def __init__(self, path, kind: str, seed: int = 0) -> None:
        shape, dtype, self.planar, self.big_endian = KINDS[kind]
        limit = 4000 if dtype == np.uint16 else 250
        self.pixels = np.random.default_rng(seed).integers(0, limit, shape, dtype=dtype)
        self.path = str(path)
        write_dicom(self.path, self.pixels, planar=self.planar, big_endian=self.big_endian)
        self.frames, self.offset = map_frames(self.path, shape, dtype, planar=self.planar, big_endian=self.big_endian)
        self.fd = os.open(self.path, os.O_RDWR)
        self.session = EditSession(self.path, self.fd, self.frames, pixel_offset=self.offset)

    def close(self) -> None:
        os.close(self.fd)

    def expected_file(self, pixels: np.ndarray) -> bytes:
        """The file's bytes if its pixel data were `pixels` (everything else unchanged)."""
        with open(self.path, "rb") as stream:
            data = bytearray(stream.read())
        encoded = encode_pixels(pixels, planar=self.planar, big_endian=self.big_endian)
        data[self.offset:self.offset + len(encoded)] = encoded
        return bytes(data)


@pytest.fixture
def opened(tmp_path):
    files = []

    def make(kind: str = "mono16", seed: int = 0) -> Opened:
        files.append(Opened(tmp_path / f"{kind}-{len(files)}.dcm", kind, seed))
        return files[-1]

    yield make
    for item in files:
        item.close()


def value_for(item: Opened, scalar: int):
    return scalar if item.pixels.ndim == 3 else (scalar, scalar // 2, 255 - scalar)


def blob_mask(shape, top=3, left=2, height=9, width=7) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + height, left:left + width] = True
    mask[top + 1, left + width + 2] = True  # a stray pixel widens the box past the rectangle
    mask[top + 2, left + 1] = False  # and a hole inside it
    return mask


# ------------------------------------------------------------- rendering
@pytest.mark.parametrize("kind", KINDS)
def test_render_equals_a_numpy_reference(opened, kind):
    item = opened(kind)
    session, reference = item.session, item.pixels.copy()
    frame_count, rows, cols = item.pixels.shape[:3]
    edits = [
        (blob_mask((rows, cols)), value_for(item, 7), None),
        (blob_mask((rows, cols), top=10, left=5, height=4, width=12), value_for(item, 200), range(1, frame_count, 2)),
        (blob_mask((rows, cols), top=0, left=0, height=2, width=cols - 3), value_for(item, 99), 3),
        (blob_mask((rows, cols), top=12, left=6), value_for(item, 42), slice(-2, None)),
        (blob_mask((rows, cols), top=4, left=9, height=3, width=3), value_for(item, 11), [4, 0, 4, 2]),
    ]
    for mask, value, frames in edits:
        session.apply_mask(mask, value, frames)
        selected = FrameSelection.parse(frames, frame_count).as_array()
        for index in selected:
            reference[index][mask] = value
    for index in range(frame_count):
        rendered = session.render(index, item.frames[index])
        np.testing.assert_array_equal(rendered, reference[index])
        assert rendered.dtype == item.frames.dtype and rendered.shape == item.frames.shape[1:]
    # The file itself is untouched until save().
    np.testing.assert_array_equal(item.frames, item.pixels)


def test_unedited_frames_render_as_the_base_frame_itself(opened):
    item = opened()
    session = item.session
    session.apply_mask(blob_mask((64, 48)), 5, frames=[2, 7])
    base = item.frames[3]
    assert session.render(3, base) is base
    assert not session.is_edited(3)
    assert session.is_edited(2) and session.is_edited(7)
    rendered = session.render(2, item.frames[2])
    assert rendered is not item.frames[2] and not np.shares_memory(rendered, item.frames)


def test_changed_signal_reports_the_frames(opened):
    item = opened()
    seen = []
    item.session.changed.connect(seen.append)
    item.session.apply_mask(blob_mask((64, 48)), 5, frames=range(2, 9, 3))
    item.session.undo()
    item.session.redo()
    item.session.apply_mask(blob_mask((64, 48)), 5, frames=[1, 4, 5])
    assert seen == [range(2, 9, 3), range(2, 9, 3), range(2, 9, 3), (1, 4, 5)]


# ------------------------------------------------------------ undo / redo
def test_undo_redo_and_labels(opened):
    item = opened()
    session = item.session
    assert not session.can_undo and not session.can_redo and not session.dirty
    assert (session.undo_label, session.redo_label) == ("Undo", "Redo")
    mask = blob_mask((64, 48))
    session.apply_mask(mask, 1, None, label="Mask region")
    session.apply_mask(mask, 2, 4, label="Fill frame")
    assert session.undo_label == "Undo Fill frame" and session.dirty
    session.undo()
    assert session.undo_label == "Undo Mask region" and session.redo_label == "Redo Fill frame"
    assert session.render(4, item.frames[4])[mask].tolist() == [1] * int(mask.sum())
    session.undo()
    assert not session.dirty and not session.can_undo and session.can_redo
    base = item.frames[4]
    assert session.render(4, base) is base
    session.redo()
    assert session.undo_label == "Undo Mask region" and session.redo_label == "Redo Fill frame"
    session.apply_mask(mask, 3, 0, label="New")  # a new edit drops the redo branch
    assert not session.can_redo and session.redo_label == "Redo"
    session.undo()
    session.undo()
    session.undo()  # nothing left: harmless
    assert not session.dirty


def test_a_stroke_is_one_undo_step(opened):
    item = opened()
    session = item.session
    session.begin_stroke("Brush")
    for column in range(0, 40, 4):
        dab = np.zeros((64, 48), bool)
        dab[10:14, column:column + 4] = True
        session.apply_mask(dab, 900, 5, label="ignored inside a stroke")
    assert session.dirty and session.undo_label == "Undo Brush"
    assert session.render(5, item.frames[5])[10:14, 0:40].tolist() == [[900] * 40] * 4
    session.commit_stroke()
    assert session.undo_label == "Undo Brush"
    session.undo()
    assert not session.dirty and session.redo_label == "Redo Brush"
    session.redo()
    assert session.render(5, item.frames[5])[12, 39] == 900


def test_abort_stroke_drops_it_and_undo_commits_an_open_stroke(opened):
    item = opened()
    session = item.session
    session.apply_mask(blob_mask((64, 48)), 1, 0, label="Before")
    session.begin_stroke()
    session.apply_mask(blob_mask((64, 48), top=30), 2, 1)
    session.abort_stroke()
    assert not session.is_edited(1) and session.undo_label == "Undo Before"
    session.begin_stroke("Drag")
    session.apply_mask(blob_mask((64, 48), top=30), 2, 1)
    session.undo()  # commits the drag, then undoes it
    assert not session.is_edited(1) and session.redo_label == "Redo Drag"
    with pytest.raises(RuntimeError):
        session.begin_stroke()
        session.begin_stroke()
    session.commit_stroke()  # the empty stroke leaves no step
    session.commit_stroke()  # nothing open: harmless
    assert session.undo_label == "Undo Before"


def test_empty_mask_or_empty_selection_is_a_no_op(opened):
    item = opened()
    seen = []
    item.session.changed.connect(seen.append)
    item.session.apply_mask(np.zeros((64, 48), bool), 5)
    item.session.apply_mask(blob_mask((64, 48)), 5, frames=[])
    assert not item.session.can_undo and not item.session.dirty and seen == []


def test_revert_drops_everything(opened):
    item = opened()
    session = item.session
    session.apply_mask(blob_mask((64, 48)), 5, frames=range(3))
    session.undo()
    session.apply_mask(blob_mask((64, 48)), 6, frames=[4])
    session.revert()
    assert not session.dirty and not session.can_undo and not session.can_redo
    assert session.memory_bytes == 0 and not session.is_edited(4)


# ------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("mask", "value", "frames", "message"),
    [
        (np.ones((64, 47), bool), 1, None, "shape"),
        (np.ones((64, 48), np.uint8), 1, None, "boolean"),
        (np.ones((64, 48), bool), 1, 20, "outside"),
        (np.ones((64, 48), bool), 1, -1, "outside"),
        (np.ones((64, 48), bool), 1, [0, 25], "outside"),
        (np.ones((64, 48), bool), 1, range(15, 25), "outside"),
        (np.ones((64, 48), bool), 1, [0.5], "integers"),
        (np.ones((64, 48), bool), 70000, None, "does not fit"),
        (np.ones((64, 48), bool), -1, None, "does not fit"),
        (np.ones((64, 48), bool), 3.5, None, "whole number"),
        (np.ones((64, 48), bool), "7", None, "not a number"),
        (np.ones((64, 48), bool), (1, 2, 3), None, "single number"),
    ],
)
def test_invalid_edits_raise_a_clear_value_error(opened, mask, value, frames, message):
    item = opened()
    with pytest.raises(ValueError, match=message):
        item.session.apply_mask(mask, value, frames)
    assert not item.session.dirty


@pytest.mark.parametrize(("value", "message"), [((1, 2), "needs 3 samples"), (256, "does not fit"), ((1, 2, -3), "does not fit")])
def test_invalid_colour_values(opened, value, message):
    item = opened("rgb-planar1")
    with pytest.raises(ValueError, match=message):
        item.session.apply_mask(np.ones((24, 20), bool), value)


def test_a_scalar_colour_value_fills_every_sample(opened):
    item = opened("rgb-planar0")
    item.session.apply_mask(np.ones((24, 20), bool), 9, 0)
    assert (item.session.render(0, item.frames[0]) == 9).all()


def test_a_read_only_descriptor_is_refused(opened):
    item = opened()
    read_only = os.open(item.path, os.O_RDONLY)
    try:
        with pytest.raises(ReadOnlyError, match="open read-only"):
            EditSession(item.path, read_only, item.frames, pixel_offset=item.offset)
    finally:
        os.close(read_only)


def test_pixel_offset_is_found_from_the_memmap(opened):
    for kind in KINDS:
        item = opened(kind)
        assert EditSession(item.path, item.fd, item.frames).pixel_offset == item.offset
        assert EditSession(item.path, item.fd, item.frames[2:]).pixel_offset == item.offset + 2 * item.frames.strides[0]
    with pytest.raises(ValueError, match="pixel_offset"):
        EditSession(item.path, item.fd, np.zeros((2, 3, 4), np.uint16))


# ----------------------------------------------------------------- memory
def test_memory_of_a_band_on_2000_frames_is_about_one_mask(tmp_path):
    """2,000 frames of 512 x 512 (a 1 GB sparse file): a 200 x 300 band costs one 60 kB mask."""
    path = tmp_path / "sparse.raw"
    shape = (2000, 512, 512)
    with open(path, "wb") as stream:
        stream.truncate(int(np.prod(shape)) * 2)
    frames = np.memmap(path, mode="r", dtype="<u2", shape=shape)
    fd = os.open(path, os.O_RDWR)
    try:
        session = EditSession(path, fd, frames, pixel_offset=0)
        band = np.zeros((512, 512), bool)
        band[100:300, 50:350] = True
        tracemalloc.start()
        session.apply_mask(band, 1000, None, label="Mask band")
        assert session.is_edited(1999) and session.render(1234, frames[1234])[150, 60] == 1000
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert session.memory_bytes <= 200 * 300 + 64
        assert peak < 4 * 512 * 512 * 2  # a few frames' worth at most, not 2,000
        session.undo()
        session.redo()
        assert session.memory_bytes <= 200 * 300 + 64
    finally:
        os.close(fd)


# ------------------------------------------------------------------- save
@pytest.mark.parametrize("kind", KINDS)
def test_save_writes_the_edits_and_nothing_else(opened, kind):
    item = opened(kind)
    session, reference = item.session, item.pixels.copy()
    frame_count, rows, cols = item.pixels.shape[:3]
    mask_a, mask_b = blob_mask((rows, cols)), blob_mask((rows, cols), top=12, left=4, height=5, width=10)
    session.apply_mask(mask_a, value_for(item, 17), range(0, frame_count, 2), label="Mask region")
    session.begin_stroke()
    session.apply_mask(mask_b, value_for(item, 230), [1, 2])
    session.apply_mask(mask_a, value_for(item, 5), [2])
    session.commit_stroke()
    for index in range(0, frame_count, 2):
        reference[index][mask_a] = value_for(item, 17)
    for index in (1, 2):
        reference[index][mask_b] = value_for(item, 230)
    reference[2][mask_a] = value_for(item, 5)
    expected = hashlib.sha256(item.expected_file(reference)).hexdigest()

    stats = session.save()

    assert sha256(item.path) == expected  # bytes outside the edited ranges are identical
    assert stats.regions > 0 and stats.bytes_written < item.pixels.nbytes
    for index in range(frame_count):
        np.testing.assert_array_equal(pixel_array(item.path, index=index), reference[index])
    assert not session.dirty and not session.can_undo and not session.can_redo
    base = item.frames[2]
    assert session.render(2, base) is base
    assert not os.path.exists(os.path.join(os.path.dirname(item.path), f".{os.path.basename(item.path)}.cinemap-journal"))
    # The session keeps working after a save.
    session.apply_mask(mask_a, value_for(item, 1), 1)
    session.save()
    np.testing.assert_array_equal(pixel_array(item.path, index=1)[mask_a], np.broadcast_to(value_for(item, 1), reference[1][mask_a].shape))


def test_save_reports_progress_in_frames_journaled_then_written(opened, monkeypatch):
    import viewer.model.editing.edits as edits_module

    monkeypatch.setattr(edits_module, "_SAVE_BATCH_BYTES", 1)  # a batch per frame
    item = opened()
    frame_count, rows, cols = item.pixels.shape
    item.session.apply_mask(blob_mask((rows, cols)), 9, range(3, frame_count), label="Mask")
    edited = frame_count - 3
    calls = []
    item.session.save(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 2 * edited) for done in range(1, 2 * edited + 1)]
    assert (pixel_array(item.path, index=frame_count - 1)[blob_mask((rows, cols))] == 9).all()


def test_saving_nothing_writes_nothing(opened):
    item = opened()
    before = os.stat(item.path).st_mtime_ns
    assert item.session.save().regions == 0
    assert os.stat(item.path).st_mtime_ns == before


def burned_in_annotation_offset(path) -> int:
    """File offset of the Burned In Annotation value ("YES ")."""
    with open(path, "rb") as stream:
        data = stream.read()
    tag = b"\x28\x00\x01\x03CS" if data.find(b"\x28\x00\x01\x03CS") >= 0 else b"\x00\x28\x03\x01CS"
    return data.index(tag) + len(tag) + 2


@pytest.mark.parametrize("kind", ["mono16", "bigendian16"])
def test_header_patch_is_undoable_and_saved_with_the_pixels(opened, kind):
    item = opened(kind)
    session = item.session
    offset = burned_in_annotation_offset(item.path)
    session.set_header_patch(offset, b"NO  ", label="Clear Burned In Annotation")
    assert session.undo_label == "Undo Clear Burned In Annotation" and session.dirty
    assert session.header_patches == [(offset, b"NO  ")]
    session.undo()
    assert session.header_patches == [] and not session.dirty
    session.redo()
    session.apply_mask(blob_mask((64, 48)), 3, None)
    session.save()
    saved = pydicom.dcmread(item.path)
    assert saved.BurnedInAnnotation == "NO"
    assert (saved.pixel_array[:, blob_mask((64, 48))] == 3).all()


def test_header_patch_refuses_the_pixel_data_and_the_outside(opened):
    item = opened()
    session = item.session
    with pytest.raises(ValueError, match="overlaps the pixel data"):
        session.set_header_patch(item.offset - 2, b"abcd")
    with pytest.raises(ValueError, match="overlaps the pixel data"):
        session.set_header_patch(item.offset + 100, b"ab")
    with pytest.raises(ValueError, match="outside the file"):
        session.set_header_patch(os.path.getsize(item.path), b"ab")
    with pytest.raises(ValueError, match="empty"):
        session.set_header_patch(10, b"")
    assert not session.dirty


def test_save_refuses_a_file_changed_since_the_session_began(opened):
    item = opened()
    item.session.apply_mask(blob_mask((64, 48)), 5)
    before = sha256(item.path)
    stamp = os.stat(item.path)
    os.utime(item.path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 5_000_000_000))
    with pytest.raises(FileChangedError, match="modified by another program"):
        item.session.save()
    assert item.session.dirty and sha256(item.path) == before


def test_save_refuses_a_replaced_file(opened, tmp_path):
    item = opened()
    item.session.apply_mask(blob_mask((64, 48)), 5)
    replacement = tmp_path / "replacement.dcm"
    replacement.write_bytes(open(item.path, "rb").read())
    os.replace(replacement, item.path)
    with pytest.raises(FileChangedError, match="replaced"):
        item.session.save()
    assert item.session.dirty


# ------------------------------------------------------ random histories
operations = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), st.integers(0, 15), st.integers(0, 11), st.integers(1, 12), st.integers(1, 12),
                  st.integers(0, 65535), st.sampled_from([None, 0, 5, range(1, 6, 2), [3, 4, 5]])),
        st.just(("undo",)),
        st.just(("redo",)),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operations)
def test_random_histories_match_a_model_of_full_copies(opened, history):
    """Rendering equals a naive model that keeps a full copy of the stack per undo step."""
    item = opened("mono16")
    session = item.session
    done, undone = [item.pixels.copy()], []
    for operation in history:
        if operation[0] == "apply":
            _name, top, left, height, width, value, frames = operation
            mask = np.zeros((64, 48), bool)
            mask[top:top + height, left:left + width] = True
            session.apply_mask(mask, value, frames)
            state = done[-1].copy()
            for index in FrameSelection.parse(frames, 20):
                state[index][mask] = value
            done.append(state)
            undone.clear()
        elif operation[0] == "undo":
            session.undo()
            if len(done) > 1:
                undone.append(done.pop())
        else:
            session.redo()
            if undone:
                done.append(undone.pop())
    for index in range(20):
        np.testing.assert_array_equal(session.render(index, item.frames[index]), done[-1][index])
    assert session.dirty == (len(done) > 1)
