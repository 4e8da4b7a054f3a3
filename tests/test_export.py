"""``cinemap export`` and :mod:`viewer.export`: PNG/TIFF/MP4/GIF as shown, and their contract."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pydicom
import pytest
from PIL import Image

from display_reference import assert_grey_close, data_window, decodable_grey_files, pydicom_grey, with_window
from reference_files import reference_files
from viewer.cli import main
from viewer.export import (
    Cancelled, FrameRenderer, UsageError, default_name, export_document, export_file, parse_frames,
)
from viewer.model import open_document
from viewer.model.display.pipeline import document_automatic_window
from viewer.synthetic import write_cine

FILES = decodable_grey_files()


def _first_frame(path):
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array
    return dataset, pixels if pixels.ndim == 2 else pixels[0]


def _png(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_png_equals_pydicoms_pipeline(path, tmp_path):
    dataset, frame = _first_frame(path)
    out = tmp_path / "x.png"
    assert main(["export", str(path), str(out)]) == 0
    if not any(keyword in dataset for keyword in ("WindowCenter", "VOILUTSequence")):
        with open_document(path) as document:  # documented: the viewer's automatic window
            automatic = document_automatic_window(document)
        dataset = with_window(dataset, automatic.center, automatic.width)
    assert_grey_close(_png(out), pydicom_grey(dataset, frame))


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_png_with_a_window_equals_pydicoms_pipeline(path, tmp_path):
    dataset, frame = _first_frame(path)
    center, width = data_window(dataset, frame)
    out = tmp_path / "x.png"
    assert main(["export", str(path), str(out), f"--window={center},{width}"]) == 0
    assert_grey_close(_png(out), pydicom_grey(with_window(dataset, center, width), frame))


@pytest.fixture(scope="module")
def cine(tmp_path_factory):
    """An odd-sized 12-frame cine (H.264 needs even sizes) with a window."""
    return write_cine(tmp_path_factory.mktemp("cine") / "cine.dcm", frames=12, rows=47, columns=63,
                      window=(2048, 4096))


def _decoded(path) -> tuple[list[np.ndarray], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
        return frames, stream.average_rate


def test_mp4_decodes_to_every_frame_at_the_rate_asked(cine, tmp_path):
    out = tmp_path / "loop.mp4"
    assert main(["export", str(cine), str(out), "--fps", "12.5"]) == 0
    frames, rate = _decoded(out)
    assert len(frames) == 12 and rate == Fraction(25, 2)
    assert frames[0].shape == (48, 64)
    with open_document(cine) as document:
        renderer = FrameRenderer(document, document_automatic_window(document) if not document.window_presets
                                 else document.window_presets[0])
        for index, decoded in enumerate(frames):
            shown = renderer.image(index).astype(np.float64)
            error = decoded[:47, :63].astype(np.float64) - shown
            assert np.abs(error).mean() < 2.0, index  # lossy, but close
            assert 10 * np.log10(255**2 / max(np.mean(error**2), 1e-9)) > 35, index


def test_mp4_of_a_frame_range_at_the_files_rate(cine, tmp_path):
    out = tmp_path / "part.mp4"
    assert main(["export", str(cine), str(out), "--frames", "3-7"]) == 0
    frames, rate = _decoded(out)
    assert len(frames) == 5 and rate == 30  # write_cine's Frame Time is 1000/30 ms


def test_gif_is_lossless_for_grey(cine, tmp_path):
    out = tmp_path / "loop.gif"
    assert main(["export", str(cine), str(out), "--fps", "10"]) == 0
    frames, _ = _decoded(out)
    with open_document(cine) as document:
        renderer = FrameRenderer(document, document.window_presets[0])
        assert len(frames) == 12
        assert all(np.array_equal(frame, renderer.image(k)) for k, frame in enumerate(frames))


def test_colour_exports_rgb_as_displayed(tmp_path):
    path = next(p for p in reference_files() if p.name == "SC_rgb.dcm")
    out = tmp_path / "rgb.png"
    assert main(["export", str(path), str(out)]) == 0
    assert np.array_equal(_png(out), pydicom.dcmread(path).pixel_array)
    assert main(["export", str(path), str(tmp_path / "rgb.gif")]) == 0
    assert main(["export", str(path), str(out), "--window", "1,2"]) == 2


def test_a_series_for_a_range_numbered_from_one(cine, tmp_path):
    assert main(["export", str(cine), str(tmp_path / "f.tif"), "--frames", "2,5-6"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["f_0002.tif", "f_0005.tif", "f_0006.tif"]
    with open_document(cine) as document:
        renderer = FrameRenderer(document, document.window_presets[0])
        assert np.array_equal(_png(tmp_path / "f_0005.tif"), renderer.image(4))


@pytest.mark.parametrize("name", ["MR_small.dcm", "CT_small.dcm", "vlut_04.dcm"])
def test_raw_tiff_holds_the_stored_values(name, tmp_path):
    path = next(p for p in reference_files() if p.name == name)
    out = tmp_path / "raw.tif"
    assert main(["export", str(path), str(out), "--raw"]) == 0
    stored = pydicom.dcmread(path).pixel_array
    with Image.open(out) as image:
        assert image.tag_v2[258] == (16,)  # bits per sample
        assert np.array_equal(np.asarray(image), stored)
    assert main(["export", str(path), str(tmp_path / "raw.png"), "--raw"]) == 2


def test_no_patient_data_in_exported_files(cine, tmp_path):
    dataset = pydicom.dcmread(cine, stop_before_pixels=True)
    secrets = [str(dataset.PatientName).encode(), str(dataset.PatientID).encode(), b"Synthetic"]
    for name, extra in (("a.png", []), ("a.tif", []), ("raw.tif", ["--raw"]), ("a.mp4", []), ("a.gif", [])):
        assert main(["export", str(cine), str(tmp_path / name), *extra]) == 0
        content = (tmp_path / name).read_bytes()
        assert not any(secret in content for secret in secrets), name
    assert "Synthetic" not in default_name("cine", [0, 11], ".mp4")


@pytest.mark.parametrize("suffix", [".png", ".mp4"])
def test_a_failure_leaves_no_partial_file(cine, tmp_path, monkeypatch, suffix):
    out = tmp_path / f"x{suffix}"
    out.write_bytes(b"keep me")
    calls = []

    def failing(self, index):
        calls.append(index)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(self, index)

    original = FrameRenderer.image
    monkeypatch.setattr(FrameRenderer, "image", failing)
    assert main(["export", str(cine), str(out), "--frames", "1-6"]) == 1
    assert sorted(os.listdir(tmp_path)) == [out.name] and out.read_bytes() == b"keep me"


def test_cancel_removes_what_was_written(cine, tmp_path):
    with open_document(cine) as document:
        with pytest.raises(Cancelled):
            export_document(document, tmp_path / "c.png", list(range(6)), cancelled=lambda: len(os.listdir(tmp_path)) > 1)
    assert os.listdir(tmp_path) == []


def test_usage_errors_and_file_errors(cine, tmp_path, capsys):
    assert main(["export", str(cine), str(tmp_path / "x.jpg")]) == 2
    assert main(["export", str(cine), str(tmp_path / "x.png"), "--frames", "13"]) == 2
    assert main(["export", str(cine), str(tmp_path / "x.png"), "--voi", "2"]) == 2
    assert main(["export", str(cine), str(tmp_path / "x.mp4"), "--fps", "0"]) == 2
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not dicom" * 50)
    assert main(["export", str(bad), str(tmp_path / "x.png")]) == 1
    assert main(["export", str(cine), str(tmp_path / "missing" / "x.png")]) == 1
    with pytest.raises(SystemExit) as usage:
        main(["export", str(cine)])
    assert usage.value.code == 2
    errors = capsys.readouterr().err
    assert "Traceback" not in errors and "outside 1-12" in errors
    assert not (tmp_path / "x.png").exists()


def test_voi_number_chooses_among_the_files_vois(tmp_path):
    path = next(p for p in reference_files() if p.name == "MR_small.dcm")
    dataset = pydicom.dcmread(path)
    dataset.WindowCenter, dataset.WindowWidth = [600, 1000], [1200, 300]
    source = tmp_path / "two.dcm"
    dataset.save_as(source)
    export_file(source, tmp_path / "second.png", voi=2)
    assert_grey_close(_png(tmp_path / "second.png"), pydicom_grey(with_window(dataset, 1000, 300), dataset.pixel_array))


def test_frame_lists():
    assert parse_frames(None, 5) == [0]
    assert parse_frames(None, 5, default_all=True) == [0, 1, 2, 3, 4]
    assert parse_frames("2", 5) == [1]
    assert parse_frames("1,4-5", 5) == [0, 3, 4]
    assert parse_frames("4-", 5) == [3, 4] and parse_frames("-2", 5) == [0, 1] and parse_frames("all", 3) == [0, 1, 2]
    for bad in ("0", "6", "3-2", "x", "1-b", ""):
        with pytest.raises(UsageError):
            parse_frames(bad, 5)


def test_export_works_with_qt_absent(cine, tmp_path):
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    from test_layers import BLOCK_QT

    script = BLOCK_QT + textwrap.dedent(
        f"""
        from viewer.export import export_file
        export_file({str(cine)!r}, {str(tmp_path / 'x.mp4')!r}, frames="1-3")
        print('ok')
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok") and (tmp_path / "x.mp4").stat().st_size > 0
