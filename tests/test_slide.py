"""Whole-slide images: the synthetic writer, open_slide and read_region against wsidicom and the known pyramid."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from viewer.model import DicomError, NotDicomError, open_slide
from viewer.synthetic.slide import write_slide
from viewer.synthetic.slide_pixels import BACKGROUND

wsidicom = pytest.importorskip("wsidicom")

VARIANTS = {
    "native-full": dict(compression="none"),
    "native-sparse-concatenated": dict(compression="none", tiling="TILED_SPARSE", concatenated_level=0),
    "jpeg-full-basic": dict(compression="jpeg", offset_table="basic", concatenated_level=1),
    "jpeg-sparse-extended": dict(compression="jpeg", tiling="TILED_SPARSE", offset_table="extended",
                                 concatenated_level=0),
    "jpeg2000": dict(compression="jpeg2000", width=900, height=700),
    "jpegls-no-table": dict(compression="jpegls", offset_table="none", width=900, height=700),
}


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    root = tmp_path_factory.mktemp("slides")
    return {name: write_slide(root / name, width=options.pop("width", 1300), height=options.pop("height", 1000),
                              **options)
            for name, options in ((name, dict(options)) for name, options in VARIANTS.items())}


def _rectangles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Whole level, tile-straddling rectangles, a 1-pixel one, the bottom-right corner."""
    return [
        (0, 0, width, height),
        (100, 37, min(300, width - 100), min(290, height - 37)),
        (min(255, width - 2), min(255, height - 2), 2, 2),
        (width - 1, height - 1, 1, 1),
        (max(0, width - 300), max(0, height - 200), min(300, width), min(200, height)),
    ]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_regions_equal_wsidicom_on_every_level(slides, name):
    files = slides[name]
    reference = wsidicom.WsiDicom.open(files.folder)
    with open_slide(files.folder) as slide:
        assert len(slide.levels) == 3
        for level in slide.levels:
            assert level.downsample == 2 ** level.index  # wsidicom's level argument is log2(downsample)
            width, height = level.size
            for x, y, w, h in _rectangles(width, height):
                ours = slide.read_region((x, y), level.index, (w, h))
                theirs = reference.read_region((x, y), level.index, (w, h), as_array=True)
                assert ours.shape == (h, w, 3) and ours.dtype == np.uint8
                np.testing.assert_array_equal(ours, theirs, err_msg=f"{name} level {level.index} {(x, y, w, h)}")
    reference.close()


@pytest.mark.parametrize("name", ["native-full", "native-sparse-concatenated", "jpeg2000", "jpegls-no-table"])
def test_lossless_levels_equal_the_written_pyramid(slides, name):
    files = slides[name]
    with open_slide(files.levels[0][0]) as slide:
        for level in slide.levels:
            expected = files.pyramid.level_image(level.index)
            np.testing.assert_array_equal(slide.read_region((0, 0), level.index, level.size), expected)


def test_lossy_levels_within_jpeg_error(slides):
    files = slides["jpeg-full-basic"]
    with open_slide(files.folder) as slide:
        for level in slide.levels:
            expected = files.pyramid.level_image(level.index).astype(np.int16)
            got = slide.read_region((0, 0), level.index, level.size).astype(np.int16)
            assert np.abs(got - expected).mean() < 3


def test_levels_describe_the_pyramid(slides):
    with open_slide(slides["native-sparse-concatenated"].folder) as slide:
        sizes = [level.size for level in slide.levels]
        assert sizes == [(1300, 1000), (650, 500), (325, 250)]
        assert [level.tile_size for level in slide.levels] == [(256, 256)] * 3
        assert slide.levels[1].pixel_spacing == pytest.approx((0.0005, 0.0005))
        assert len(slide.levels[0].instances) == 2  # the concatenation's two files
        assert slide.levels[0].tiling == "TILED_SPARSE"
        assert slide.levels[0].stored_tiles < 4 * 6  # some tiles are missing
        assert slide.best_level_for_downsample(3.0) == 1
        assert slide.best_level_for_downsample(0.5) == 0


def test_missing_sparse_tiles_read_as_background(slides):
    files = slides["native-sparse-concatenated"]
    with open_slide(files.folder) as slide:
        level = slide.levels[0]
        rows, cols = level.grid_shape
        missing = [(r, c) for r in range(rows) for c in range(cols) if level.locate(r, c) is None]
        assert missing and all(files.pyramid.missing(0, r, c) for r, c in missing)
        row, col = missing[0]
        region = slide.read_region((col * 256, row * 256), 0, (256, 256))
        visible = region[: max(0, min(256, 1000 - row * 256)), : max(0, min(256, 1300 - col * 256))]
        assert (visible == BACKGROUND).all()


def test_outside_the_level_reads_as_background(slides):
    with open_slide(slides["native-full"].folder) as slide:
        region = slide.read_region((1200, -10), 0, (200, 30))
        assert (region[:10] == BACKGROUND).all() and (region[:, 100:] == BACKGROUND).all()
        inside = slide.read_region((1200, 0), 0, (100, 20))
        np.testing.assert_array_equal(region[10:, :100], inside)


def test_associated_images_are_documents(slides):
    with open_slide(slides["jpeg-full-basic"].folder) as slide:
        label, overview, thumbnail = slide.label, slide.overview, slide.thumbnail
        assert label.frame(0).shape == (320, 480, 3)
        assert overview.frame(0).shape[0] == 320
        assert thumbnail.frame(0).shape == (250, 325, 3)
        assert "LABEL" in list(label.dataset.ImageType)
    assert label.closed


def test_open_from_a_file_ignores_other_files_in_the_folder(slides, tmp_path):
    import pydicom

    source = slides["native-full"]
    folder = tmp_path / "mixed"
    shutil.copytree(source.folder, folder)
    other = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "CT_small.dcm")
    shutil.copy(other, folder / "ct.dcm")
    (folder / "notes.txt").write_text("not dicom")
    with open_slide(folder / "level1.dcm") as slide:
        assert slide.series_uid == source.series_uid
        assert len(slide.levels) == 3 and set(slide.associated) == {"LABEL", "OVERVIEW", "THUMBNAIL"}


def test_open_descriptors_stay_bounded(slides):
    with open_slide(slides["jpeg-sparse-extended"].folder, max_open_files=1) as slide:
        for level in slide.levels:
            slide.read_region((0, 0), level.index, level.size)
            assert slide.descriptors.open_count <= 1


def test_tile_cache_is_bounded_in_bytes(slides):
    with open_slide(slides["jpeg2000"].folder, cache_bytes=3 * 256 * 256 * 3) as slide:
        first = slide.read_region((0, 0), 0, (900, 700))
        assert slide.cache.nbytes <= 3 * 256 * 256 * 3
        np.testing.assert_array_equal(slide.read_region((0, 0), 0, (900, 700)), first)


def test_truncated_level_gives_a_dicom_error(slides, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(slides["jpeg-full-basic"].folder, folder)
    with open_slide(folder) as slide:
        path = slide.levels[0].paths[0]
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        file.truncate(size // 2)
    with open_slide(folder) as slide:
        with pytest.raises(DicomError):
            slide.read_region((0, 0), 0, slide.levels[0].size)


def test_file_changed_after_open_gives_a_dicom_error(slides, tmp_path):
    folder = tmp_path / "changed"
    shutil.copytree(slides["native-full"].folder, folder)
    with open_slide(folder) as slide:
        with open(slide.levels[2].paths[0], "ab") as file:
            file.write(b"\0\0")
        with pytest.raises(DicomError, match="changed"):
            slide.read_region((0, 0), 2, (10, 10))


def test_not_a_slide(tmp_path):
    import pydicom

    other = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "CT_small.dcm")
    with pytest.raises(NotDicomError):
        open_slide(other)
    with pytest.raises(NotDicomError):
        open_slide(tmp_path)


# dciodvfy applies the TILED_FULL frame count to every TILED_SPARSE image and
# to each part of a concatenation; the standard asks it of neither.
_SPARSE_COUNT = "NumberOfFrames does not match expected value for tiled total pixel matrix"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_dciodvfy_finds_no_error(slides, name):
    for path in slides[name].all_paths:
        result = subprocess.run(["dciodvfy", path], capture_output=True, text=True, timeout=60)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        sparse_or_part = "TILED_SPARSE" in str(VARIANTS[name]) or "part" in os.path.basename(path)
        errors = [line for line in errors if not (sparse_or_part and _SPARSE_COUNT in line)]
        assert errors == [], path


def test_position_search_equals_pydicom_parse():
    from viewer.model.slide import positions
    from viewer.synthetic.slide_dataset import sparse_item

    # Items of different lengths (DS values of different widths), out of row order.
    places = [(row, col) for col in range(5) for row in range(3)]
    value = b"".join(sparse_item(col * 256 + 1, row * 256 + 1, col + 1, row + 1, 20.0 - row * 0.0123, 40.0 - col / 3)
                     for row, col in places)
    fast = positions._searched(value, len(places), implicit_vr=False)
    slow = positions._parsed("x.dcm", value, len(places), False, None)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast, [(col * 256 + 1, row * 256 + 1) for row, col in places])
    assert positions._searched(value, len(places) + 1, implicit_vr=False) is None
    with pytest.raises(DicomError, match="Plane Position"):
        positions.tile_positions("x.dcm", value, len(places) + 1, implicit_vr=False)
