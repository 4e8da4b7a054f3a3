"""Region reads and area-averaged overview levels against numpy on the whole frame (small files)."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from pyramid_reference import reference_level
from reference_files import reference_files
from viewer.model import DicomError, open_document
from viewer.model.display import pyramid
from viewer.model.frames.overview import Overview
from viewer.model.storage import tilestore
from viewer.synthetic import write_cine

VARIANTS = {
    "odd-16bit": dict(rows=301, columns=517, bits_allocated=16),
    "rgb-planar1": dict(rows=270, columns=530, bits_allocated=8, samples_per_pixel=3, planar_configuration=1),
    "signed-8bit": dict(rows=600, columns=97, bits_allocated=8, signed=True),
    "big-endian": dict(rows=260, columns=300, bits_allocated=16, big_endian=True),
    "implicit-rgb": dict(rows=257, columns=259, bits_allocated=8, samples_per_pixel=3, implicit_vr=True),
}
REGIONS = [
    (slice(None), slice(None), 1), (slice(10, 57), slice(3, 250), 1), (slice(None), slice(None), 3),
    (slice(1, 200), slice(7, None), 5), (slice(0, 1), slice(0, 1), 1), (slice(250, 400), slice(500, 600), 2),
]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("overview") / f"{request.param}.dcm"
    write_cine(path, frames=3, **VARIANTS[request.param])
    return path


def test_region_is_the_slice_of_the_frame(variant_path):
    with open_document(variant_path) as doc:
        for index in range(doc.num_frames):
            frame = doc.frame(index)
            for rows, cols, step in REGIONS:
                region = doc.region(index, rows, cols, step)
                np.testing.assert_array_equal(region, frame[rows, cols][::step, ::step])
                assert region.flags.owndata or region.base is None or not np.shares_memory(region, frame)


def test_region_refuses_stepped_slices(variant_path):
    with open_document(variant_path) as doc:
        with pytest.raises(ValueError):
            doc.region(0, slice(0, 10, 2), slice(None))
        with pytest.raises(IndexError):
            doc.region(doc.num_frames)


def test_region_of_real_files():
    checked = 0
    for path in reference_files():
        try:
            doc = open_document(path)
        except (DicomError, ValueError, OSError):
            continue
        with doc:
            if not doc.num_frames or doc.is_encapsulated:
                continue
            try:
                frame = doc.frame(doc.num_frames - 1)
            except DicomError:
                continue
            rows, cols = frame.shape[:2]
            for region in [(slice(None), slice(None), 2), (slice(rows // 3, rows), slice(1, cols // 2 + 1), 1)]:
                np.testing.assert_array_equal(doc.region(doc.num_frames - 1, *region),
                                              frame[region[0], region[1]][::region[2], ::region[2]])
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("store", ["disk", "memory"])
def test_levels_are_block_means_of_the_frame(variant_path, tmp_path, store):
    options = dict(disk_cache_dir=tmp_path / "cache", disk_cache_bytes=64 << 20) if store == "disk" else {}
    with open_document(variant_path, **options) as doc:
        overview = doc.overviews
        assert overview.levels == pyramid.top_level(doc.frame_shape) >= 1
        assert (overview.store.path is not None) == (store == "disk")
        for index in (2, 0):
            frame = doc.frame(index)
            for level in range(1, overview.levels + 2):  # one past the stored levels: computed directly
                expected = reference_level(frame, level)
                np.testing.assert_array_equal(doc.overview(index, level), expected)
                tail = (slice(expected.shape[0] // 2, None), slice(expected.shape[1] - 3, None))
                np.testing.assert_array_equal(doc.overview(index, level, *tail), expected[tail])
        assert overview.builds == 2


def test_the_last_partial_tile_of_a_level(tmp_path):
    """Level 1 of 1,030 columns is 515 wide: two whole tiles and a 3-pixel one."""
    path = write_cine(tmp_path / "wide.dcm", frames=1, rows=517, columns=1030, bits_allocated=16)
    with open_document(path, disk_cache_dir=tmp_path / "cache", disk_cache_bytes=64 << 20) as doc:
        expected = reference_level(doc.frame(0), 1)
        assert expected.shape == (259, 515)
        last = (slice(255, 259), slice(510, 515))
        np.testing.assert_array_equal(doc.overview(0, 1, *last), expected[last])
        np.testing.assert_array_equal(doc.overview(0, 1), expected)


@pytest.mark.parametrize("kwargs", [dict(bits_allocated=16), dict(bits_allocated=8, samples_per_pixel=3)])
def test_levels_built_from_several_blocks_across_and_down(tmp_path, monkeypatch, kwargs):
    """Blocks narrower than the frame (wide frames) join without a seam, partial tiles included."""
    from viewer.model.frames import overview as overview_module

    monkeypatch.setattr(overview_module, "_MIN_BLOCK_COLUMNS", 64)
    monkeypatch.setattr(overview_module, "_BLOCK_BYTES", 64 * overview_module._BLOCK_ROWS)  # a few dozen columns
    path = write_cine(tmp_path / "blocks.dcm", frames=1, rows=1100, columns=700, **kwargs)
    with open_document(path, disk_cache_dir=tmp_path / "cache", disk_cache_bytes=64 << 20) as doc:
        frame = doc.frame(0)
        for level in range(1, doc.overviews.levels + 1):
            np.testing.assert_array_equal(doc.overview(0, level), reference_level(frame, level))


def test_read_ahead_advice_covers_every_row_span_a_region_reads(monkeypatch):
    """Wide regions get one call over their rows' extent, narrow or strided ones a call per row;
    either way every byte the region reads is advised."""
    from types import SimpleNamespace

    from viewer.model.frames import native

    layout = SimpleNamespace(frame_nbytes=native.ADVISE_ROWS_FRAME_BYTES, dtype=np.dtype("<u2"), planar=False,
                             samples=1, rows=1000, columns=40000, frame_offset=lambda index: 1000)
    for cols, step in [((0, 30000), 1), ((100, 1540), 1), ((0, 30000), 3)]:
        advised = []
        opened = SimpleNamespace(advise=lambda offset, length, _how: advised.append((offset, offset + length)))
        rows = (10, 500)
        native.advise_region(opened, layout, 0, rows, cols, step)
        assert len(advised) == (1 if cols == (0, 30000) and step == 1 else len(range(*rows, step)))
        for row in range(rows[0], rows[1], step):
            start = 1000 + (row * 40000 + cols[0]) * 2
            end = start + (cols[1] - cols[0]) * 2
            assert any(a <= start and end <= b for a, b in advised), (row, cols, step)


def _editable(tmp_path, **kwargs):
    path = write_cine(tmp_path / "edit.dcm", frames=4, rows=700, columns=530, **kwargs)
    return path, dict(disk_cache_dir=tmp_path / "cache", disk_cache_bytes=256 << 20)


def test_pending_edits_update_only_their_boxes_and_saving_keeps_the_pyramid(tmp_path):
    path, cache = _editable(tmp_path)
    with open_document(path, writable=True, **cache) as doc:
        overview = doc.overviews
        for index in range(doc.num_frames):
            overview.refresh(index)
        assert overview.builds == 4
        mask = np.zeros((40, 60), dtype=bool)
        mask[5:30, 10:50] = True
        doc.apply_mask(mask, 0, frames=[1, 3], origin=(400, 300))
        assert not overview.is_ready(1) and overview.is_ready(0)
        levels_before = overview.store.path
        for index in (1, 3):
            np.testing.assert_array_equal(doc.overview(index, 2), reference_level(doc.frame(index), 2))
        assert overview.builds == 4  # recomputed boxes, not rebuilt frames
        assert overview.store.state(1) == tilestore.DIRTY
        doc.save()
        assert overview.store.path != levels_before and overview.store.path.exists()
        assert overview.store.state(1) == tilestore.READY
        for index in range(doc.num_frames):
            np.testing.assert_array_equal(doc.overview(index, 1), reference_level(doc.frame(index), 1))
        assert overview.builds == 4
    with open_document(path, **cache) as doc:  # a new run finds the saved pyramid under the new identity
        np.testing.assert_array_equal(doc.overview(3, 2), reference_level(doc.frame(3), 2))
        assert doc.overviews.builds == 0


def test_undo_and_discarded_edits(tmp_path):
    path, cache = _editable(tmp_path, bits_allocated=8, samples_per_pixel=3, planar_configuration=1)
    with open_document(path, writable=True, **cache) as doc:
        original = reference_level(doc.frame(2), 2)
        np.testing.assert_array_equal(doc.overview(2, 2), original)
        doc.apply_mask(np.ones((100, 100), dtype=bool), (255, 0, 0), frames=2, origin=(0, 430))
        edited = doc.overview(2, 2)
        np.testing.assert_array_equal(edited, reference_level(doc.frame(2), 2))
        assert not np.array_equal(edited, original)
        doc.undo()
        np.testing.assert_array_equal(doc.overview(2, 2), original)
        doc.redo()
        np.testing.assert_array_equal(doc.overview(2, 2), edited)
        doc.set_writable(False, discard=True)  # closed with the edit unsaved: the slot stays dirty
    with open_document(path, **cache) as doc:
        np.testing.assert_array_equal(doc.overview(2, 2), original)
        assert doc.overviews.builds == 1  # the dirty slot was rebuilt, not trusted


def test_a_full_disk_falls_back_without_harm(tmp_path, monkeypatch):
    path, cache = _editable(tmp_path)

    def no_space(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    with open_document(path, **cache) as doc:
        overview = doc.overviews
        assert overview.available
        monkeypatch.setattr("viewer.model.platform.positional.pwrite_all", no_space)
        with pytest.raises(OSError):
            overview.refresh(0)
        assert not overview.available
        np.testing.assert_array_equal(doc.overview(0, 2), reference_level(doc.frame(0), 2))  # computed directly


def test_a_second_process_does_not_share_the_scratch_file(tmp_path):
    path, cache = _editable(tmp_path)
    with open_document(path, **cache) as first, open_document(path, **cache) as second:
        assert first.overviews.store.path is not None
        assert second.overviews.store.path is None  # the lock is held: memory instead
        np.testing.assert_array_equal(second.overview(1, 1), first.overview(1, 1))


def test_without_room_levels_are_computed_from_the_frame(tmp_path):
    path, _ = _editable(tmp_path)
    with open_document(path) as doc:
        overview = Overview(doc, memory_bytes=0)
        assert not overview.available and overview.read(0, 1) is None
        np.testing.assert_array_equal(overview.region(0, 1), reference_level(doc.frame(0), 1))
        overview.close()


@pytest.mark.parametrize("kwargs", [dict(bits_allocated=16), dict(bits_allocated=8, samples_per_pixel=3)])
def test_region_with_pending_edits_is_the_slice_of_the_edited_frame(tmp_path, kwargs):
    path, _ = _editable(tmp_path, **kwargs)
    value = (10, 200, 30) if kwargs.get("samples_per_pixel") == 3 else 77
    with open_document(path, writable=True) as doc:
        disc = np.hypot(*np.mgrid[-20:21, -20:21]) <= 20
        doc.apply_mask(disc, value, frames=[0, 2], origin=(13, 489))  # reaches the last column
        full = np.zeros(doc.frame_shape[:2], dtype=bool)
        full[650:, :40] = True
        doc.apply_mask(full, 0, frames=2)  # the full-mask API still works
        for index in (0, 1, 2):
            frame = doc.frame(index)
            for rows, cols, step in REGIONS + [(slice(11, 40), slice(499, None), 3), (slice(640, None), None, 7)]:
                cols = cols or slice(None)
                np.testing.assert_array_equal(doc.region(index, rows, cols, step), frame[rows, cols][::step, ::step])
        assert doc.edits.memory_bytes < 10_000  # boxes, not frames
        with pytest.raises(ValueError):
            doc.apply_mask(disc, value, frames=0, origin=(690, 0))  # the box pokes out of the frame


def test_a_cancelled_update_leaves_its_boxes_to_do(tmp_path):
    path, cache = _editable(tmp_path)
    with open_document(path, writable=True, **cache) as doc:
        overview = doc.overviews
        overview.refresh(0)
        doc.apply_mask(np.ones((50, 50), dtype=bool), 0, frames=0, origin=(600, 400))

        def cancel(done, total):
            raise KeyboardInterrupt  # what a cancelled worker raises from its progress callback

        with pytest.raises(KeyboardInterrupt):
            overview.refresh(0, cancel)
        assert not overview.is_ready(0)
        overview.refresh(0)
        assert overview.is_ready(0)
        np.testing.assert_array_equal(doc.overview(0, 1), reference_level(doc.frame(0), 1))
