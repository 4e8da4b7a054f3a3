"""Tests of the synthetic cine writer (viewer.synthetic.cine)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array

from viewer.synthetic import (
    MAX_PIXEL_DATA_BYTES,
    expected_frame,
    frame_index_of,
    frames_for_size,
    write_cine,
)

ROWS, COLUMNS, FRAMES = 33, 41, 5  # odd sizes: 8-bit grey needs a pad byte


def _variants() -> list[dict]:
    """Every combination of sample format and encoding the writer supports."""
    grid = itertools.product((8, 16), (1, 3), (0, 1), (False, True), (False, True),
                             (False, True), ("sc", "us"))
    variants = []
    for bits, samples, planar, signed, big, implicit, kind in grid:
        if (samples == 1 and planar) or (big and implicit) or (kind == "us" and bits == 16):
            continue
        variants.append(dict(bits_allocated=bits, samples_per_pixel=samples,
                             planar_configuration=planar, signed=signed, big_endian=big,
                             implicit_vr=implicit, kind=kind))
    return variants


def _variant_id(v: dict) -> str:
    return "-".join([
        v["kind"], f"{v['bits_allocated']}bit", "rgb" if v["samples_per_pixel"] == 3 else "grey",
        f"planar{v['planar_configuration']}", "signed" if v["signed"] else "unsigned",
        "be" if v["big_endian"] else ("implicit" if v["implicit_vr"] else "explicit"),
    ])


def _frame_args(v: dict, **extra) -> dict:
    """The keyword arguments of expected_frame that match write_cine's ``v``."""
    keys = ("bits_allocated", "samples_per_pixel", "signed", "kind",
            "burned_in_annotation", "ultrasound_regions")
    return {k: v[k] for k in keys if k in v} | extra


VARIANTS = _variants()


@pytest.mark.parametrize("variant", VARIANTS, ids=[_variant_id(v) for v in VARIANTS])
def test_frames_read_back_as_expected(tmp_path, variant):
    annotation = "YES" if variant["signed"] == variant["implicit_vr"] else "NO"
    v = variant | {"burned_in_annotation": annotation}
    path = write_cine(tmp_path / "cine.dcm", frames=FRAMES, rows=ROWS, columns=COLUMNS, **v)
    for k in (0, FRAMES // 2, FRAMES - 1):
        got = pixel_array(path, index=k)
        want = expected_frame(k, rows=ROWS, columns=COLUMNS, **_frame_args(v))
        assert got.shape == want.shape
        assert (got.dtype.kind, got.dtype.itemsize) == (want.dtype.kind, want.dtype.itemsize)
        assert want.dtype.isnative
        np.testing.assert_array_equal(got, want)
        assert frame_index_of(got) == k


def _pixel_element_header(path, length: int, big_endian: bool, implicit: bool, vr: bytes):
    """Bytes the Pixel Data element header should have, and where it should be."""
    order = "big" if big_endian else "little"
    tag = (0x7FE0).to_bytes(2, order) + (0x0010).to_bytes(2, order)
    header = tag + length.to_bytes(4, order) if implicit else (
        tag + vr + b"\0\0" + length.to_bytes(4, order))
    return header, os.path.getsize(path) - length - len(header)


@pytest.mark.parametrize("bits, big, implicit", [
    (8, False, False), (16, False, False), (8, False, True), (16, True, False), (8, True, False)
])
def test_pixel_data_is_last_with_explicit_length(tmp_path, bits, big, implicit):
    path = write_cine(tmp_path / "c.dcm", frames=3, rows=ROWS, columns=COLUMNS,
                      bits_allocated=bits, big_endian=big, implicit_vr=implicit)
    length = 3 * ROWS * COLUMNS * bits // 8
    length += length % 2
    header, offset = _pixel_element_header(path, length, big, implicit,
                                           b"OW" if bits == 16 else b"OB")
    with open(path, "rb") as f:
        f.seek(offset)
        assert f.read(len(header)) == header
        f.seek(128)
        assert f.read(4) == b"DICM"
    ds = pydicom.dcmread(path)
    assert max(ds.keys()) == 0x7FE00010
    assert len(ds.PixelData) == length


def test_header_attributes(tmp_path):
    path = write_cine(tmp_path / "c.dcm", frames=7, rows=16, columns=24, bits_allocated=16,
                      frame_time_ms=40.0, window=(1000, 400), rescale=(2.0, -1024.0),
                      burned_in_annotation="YES")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.3"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns) == (7, 16, 24)
    assert ds.FrameIncrementPointer == 0x00181063
    assert float(ds.FrameTime) == 40.0
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (1000.0, 400.0)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept), ds.RescaleType) == (
        2.0, -1024.0, "US")
    assert ds.BurnedInAnnotation == "YES"
    assert ds.PhotometricInterpretation == "MONOCHROME2"


@pytest.mark.parametrize("bits, samples, kind, sop_class", [
    (8, 1, "sc", "1.2.840.10008.5.1.4.1.1.7.2"),
    (16, 1, "sc", "1.2.840.10008.5.1.4.1.1.7.3"),
    (8, 3, "sc", "1.2.840.10008.5.1.4.1.1.7.4"),
    (8, 1, "us", "1.2.840.10008.5.1.4.1.1.3.1"),
    (8, 3, "us", "1.2.840.10008.5.1.4.1.1.3.1"),
])
def test_sop_class_matches_format(tmp_path, bits, samples, kind, sop_class):
    path = write_cine(tmp_path / "c.dcm", frames=1, rows=8, columns=8, bits_allocated=bits,
                      samples_per_pixel=samples, kind=kind)
    assert pydicom.dcmread(path, stop_before_pixels=True).SOPClassUID == sop_class


def test_ultrasound_regions_and_annotation(tmp_path):
    regions = [(10, 30, 40, 70), (50, 30, 90, 70)]
    path = write_cine(tmp_path / "us.dcm", frames=2, rows=80, columns=100, bits_allocated=8,
                      kind="us", ultrasound_regions=regions, burned_in_annotation="YES")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    got = [(r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1,
            r.RegionLocationMaxY1) for r in ds.SequenceOfUltrasoundRegions]
    assert got == regions
    frame = pixel_array(path, index=1)
    inside = np.zeros(frame.shape, dtype=bool)
    for x0, y0, x1, y1 in regions:
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
    outside = frame[~inside]
    bright = frame == 255
    assert bright[:30].sum() > 50, "annotation band missing in the top rows"
    assert not bright[inside].any(), "annotation must stay outside the regions"
    assert set(np.unique(outside)) - {0, 255} <= set(np.unique(frame[0, :8]))
    assert frame[inside].std() > 20, "regions show the moving pattern"


def test_default_ultrasound_region_is_central(tmp_path):
    path = write_cine(tmp_path / "us.dcm", frames=1, rows=128, columns=160, bits_allocated=8,
                      kind="us", burned_in_annotation="NO")
    (region,) = pydicom.dcmread(path).SequenceOfUltrasoundRegions
    x0, y0 = region.RegionLocationMinX0, region.RegionLocationMinY0
    x1, y1 = region.RegionLocationMaxX1, region.RegionLocationMaxY1
    assert 0 < x0 < x1 < 159 and 0 < y0 < y1 < 127
    assert (x1 - x0) * (y1 - y0) > 0.4 * 128 * 160
    frame = pixel_array(path, index=0)
    assert not (frame[1:] == 255).any(), "no annotation when burned_in_annotation='NO'"


def test_annotation_drawn_only_when_asked():
    plain = expected_frame(0, rows=128, columns=128, bits_allocated=8)
    annotated = expected_frame(0, rows=128, columns=128, bits_allocated=8,
                               burned_in_annotation="YES")
    differ = np.argwhere(plain != annotated)
    assert len(differ) > 100
    assert differ[:, 0].max() < 128 // 4, "annotation is confined to the top rows"
    assert (annotated[differ[:, 0], differ[:, 1]] == 255).all()


@pytest.mark.parametrize("bits, samples, signed", [
    (8, 1, False), (16, 1, False), (16, 1, True), (8, 3, False), (8, 1, True)
])
def test_pattern_moves_and_uses_the_range(bits, samples, signed):
    args = dict(rows=96, columns=128, bits_allocated=bits, samples_per_pixel=samples,
                signed=signed)
    first, later = expected_frame(0, **args), expected_frame(6, **args)
    assert np.mean(first[1:] != later[1:]) > 0.5, "the image moves from frame to frame"
    info = np.iinfo(first.dtype)
    span = (int(first.max()) - int(first.min())) / (info.max - info.min)
    assert 0.6 < span <= 1.0
    assert abs(float(first[1:].mean()) - (info.max + info.min) / 2) < 0.2 * (info.max - info.min)


@pytest.mark.parametrize("dtype", ["u1", "i1", "<u2", ">u2", "<i2", ">i2"])
@pytest.mark.parametrize("index", [0, 1, 255, 256, 65_537, 2**31 + 5, 2**32 - 1])
def test_frame_index_of_round_trips(dtype, index):
    bits = 8 if dtype.endswith("1") else 16
    frame = expected_frame(index, rows=2, columns=8, bits_allocated=bits,
                           signed="i" in dtype, samples_per_pixel=3)
    assert frame_index_of(frame.astype(dtype)) == index
    assert frame_index_of(frame[..., 1].astype(dtype)) == index


def test_frame_index_of_rejects_damaged_or_foreign_frames():
    frame = expected_frame(12, rows=4, columns=16, bits_allocated=8)
    damaged = frame.copy()
    damaged[0, 2] ^= 0x10
    with pytest.raises(ValueError):
        frame_index_of(damaged)
    with pytest.raises(ValueError):
        frame_index_of(frame.astype(np.float32))
    with pytest.raises(ValueError):
        frame_index_of(frame[:, :4])


def test_frames_for_size():
    assert frames_for_size(512 * 512 * 2 * 10, rows=512, columns=512) == 10
    assert frames_for_size(512 * 512 * 2 * 10 + 7, rows=512, columns=512) == 10
    assert frames_for_size(1, rows=512, columns=512) == 1
    assert frames_for_size(10 * 64 * 64 * 3, rows=64, columns=64, bits_allocated=8,
                           samples_per_pixel=3) == 10
    biggest = frames_for_size(2**40, rows=512, columns=512, bits_allocated=8)
    assert biggest * 512 * 512 <= MAX_PIXEL_DATA_BYTES < (biggest + 1) * 512 * 512


def test_too_much_pixel_data_is_refused_before_writing(tmp_path):
    frames = frames_for_size(2**40, rows=512, columns=512, bits_allocated=8) + 1
    path = tmp_path / "huge.dcm"
    with pytest.raises(ValueError, match="0xFFFFFFFE|4294967294"):
        write_cine(path, frames=frames, rows=512, columns=512, bits_allocated=8)
    assert not path.exists()


@pytest.mark.parametrize("kwargs", [
    dict(bits_allocated=12),
    dict(samples_per_pixel=2),
    dict(kind="ct"),
    dict(kind="us", bits_allocated=16),
    dict(columns=4),
    dict(frames=0),
    dict(planar_configuration=2, samples_per_pixel=3, bits_allocated=8),
    dict(big_endian=True, implicit_vr=True),
    dict(bits_allocated=8, rescale=(1.0, 0.0)),
    dict(ultrasound_regions=[(0, 0, 4, 4)]),
    dict(kind="us", bits_allocated=8, ultrasound_regions=[(0, 0, 100, 4)]),
    dict(burned_in_annotation="maybe"),
    dict(frame_time_ms=0),
])
def test_bad_arguments_raise(tmp_path, kwargs):
    args = dict(frames=2, rows=16, columns=16) | kwargs
    with pytest.raises(ValueError):
        write_cine(tmp_path / "bad.dcm", **args)
    assert not (tmp_path / "bad.dcm").exists()


def test_progress_reports_and_ends_with_total(tmp_path):
    calls = []
    write_cine(tmp_path / "p.dcm", frames=1234, rows=16, columns=16, bits_allocated=8,
               progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (1234, 1234)
    assert len(calls) <= 101
    assert all(total == 1234 for _, total in calls)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})


def test_progress_with_large_frames_and_few_frames(tmp_path):
    calls = []
    write_cine(tmp_path / "p.dcm", frames=3, rows=2048, columns=2048,
               progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3)
    assert pixel_array(tmp_path / "p.dcm", index=2)[0, :8].tolist() == \
        expected_frame(2, rows=2048, columns=2048)[0, :8].tolist()


def test_cancelling_from_progress_removes_the_partial_file(tmp_path):
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done > 100:
            raise Cancelled

    path = tmp_path / "cancelled.dcm"
    with pytest.raises(Cancelled):
        write_cine(path, frames=1000, rows=32, columns=32, progress=cancel)
    assert not path.exists()


def test_writing_uses_constant_memory(tmp_path):
    """Writing ~300 MB must not grow the peak RSS by more than ~50 MB."""
    script = textwrap.dedent("""
        import sys
        from viewer.synthetic import write_cine, frames_for_size

        def peak_kb():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])

        write_cine(sys.argv[1] + ".warmup", frames=2, rows=512, columns=512)
        before = peak_kb()
        frames = frames_for_size(300 * 2**20, rows=512, columns=512)
        write_cine(sys.argv[1], frames=frames, rows=512, columns=512)
        print(peak_kb() - before)
    """)
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc/self/status (Linux) to read the peak RSS")
    target = tmp_path / "big.dcm"
    result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                            text=True, check=True, cwd=os.getcwd(),
                            env=os.environ | {"PYTHONPATH": _repo_root()})
    growth_kb = int(result.stdout.strip())
    assert target.stat().st_size > 300 * 2**20
    target.unlink()
    assert growth_kb < 50 * 1024, f"peak RSS grew by {growth_kb / 1024:.0f} MB"


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- external validators ---------------------------------------------------

CONFORMANT = [
    dict(bits_allocated=8),
    dict(bits_allocated=16, window=(32768, 40000), rescale=(1.0, -1024.0)),
    dict(bits_allocated=16, implicit_vr=True, burned_in_annotation="YES"),
    dict(bits_allocated=8, samples_per_pixel=3),
    dict(bits_allocated=8, kind="us", burned_in_annotation="YES", window=(128, 256)),
    dict(bits_allocated=8, kind="us", samples_per_pixel=3, planar_configuration=1),
    dict(bits_allocated=8, kind="us", implicit_vr=True,
         ultrasound_regions=[(0, 8, 20, 30), (22, 8, 39, 30)]),
]


@pytest.mark.parametrize("kwargs", CONFORMANT + [dict(big_endian=True)])
def test_dcmdump_reads_the_file(tmp_path, kwargs):
    if shutil.which("dcmdump") is None:
        pytest.skip("dcmdump (dcmtk) is not on PATH")
    path = write_cine(tmp_path / "c.dcm", frames=3, rows=ROWS, columns=COLUMNS, **kwargs)
    result = subprocess.run(["dcmdump", "+E", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "E:" not in result.stderr and "W:" not in result.stderr, result.stderr
    assert "PixelData" in result.stdout


@pytest.mark.parametrize("kwargs", CONFORMANT)
def test_dciodvfy_reports_no_errors(tmp_path, kwargs):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) is not on PATH")
    path = write_cine(tmp_path / "c.dcm", frames=3, rows=ROWS, columns=COLUMNS, **kwargs)
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "Error" in line]
    assert not errors, output
