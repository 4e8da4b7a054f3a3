"""Masking a slide's label in place, and the whole-slide command lines."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from viewer.cli import main
from viewer.model import open_slide
from viewer.model.slide import label_mask
from viewer.model.slide.label_mask import NOT_DEIDENTIFIED, mask_slide_label, preview_label_mask
from viewer.synthetic.slide import write_slide


def _digest(folder) -> dict[str, str]:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("compression", ["jpeg", "none", "jpeg2000", "jpegls"])
def test_label_blacked_out_in_place(tmp_path, compression):
    files = write_slide(tmp_path / "s", width=600, height=500, associated_compression=compression)
    before = _digest(files.folder)
    with open_slide(files.folder) as slide:
        original_overview = np.array(slide.overview.frame(0))
        assert slide.label.frame(0).max() > 0
    preview = preview_label_mask(files.folder, (0, 0, 300, 320))
    assert _digest(files.folder) == before  # a preview writes nothing
    report = mask_slide_label(files.folder, overview_rect=(0, 0, 300, 320))
    assert report.ok, report
    after = _digest(files.folder)
    assert {name for name in before if before[name] != after[name]} == {"label.dcm", "overview.dcm"}
    assert os.path.getsize(files.label) == os.path.getsize(os.path.join(files.folder, "label.dcm"))
    with open_slide(files.folder) as slide:
        label, overview = slide.label, slide.overview
        assert label.frame(0).max() == 0
        np.testing.assert_array_equal(preview["LABEL"], label.frame(0))
        assert label.dataset.BurnedInAnnotation == "NO" and label.dataset.SpecimenLabelInImage == "NO"
        assert overview.dataset.BurnedInAnnotation == "YES"  # a rectangle may not cover the whole label
        masked = overview.frame(0)
        tolerance = 40 if compression == "jpeg" else 0  # JPEG blocks across the rectangle's edge ring
        assert masked[:320, :300].max() <= tolerance
        np.testing.assert_allclose(masked[:, 320:], original_overview[:, 320:], atol=tolerance)
        assert slide.label.dataset.PatientName == "DOE^JANE"  # headers keep patient data


def test_masked_label_still_read_by_wsidicom(tmp_path):
    wsidicom = pytest.importorskip("wsidicom")
    files = write_slide(tmp_path / "s", width=600, height=500)
    assert mask_slide_label(files.label).ok
    with wsidicom.WsiDicom.open(files.folder) as reference:
        assert np.asarray(reference.read_label()).max() == 0


def test_nothing_written_when_the_codestream_does_not_fit(tmp_path, monkeypatch):
    files = write_slide(tmp_path / "s", width=600, height=500)
    before = _digest(files.folder)
    monkeypatch.setattr(label_mask, "_encode_like", lambda header, tile: bytes(10 << 20))
    report = mask_slide_label(files.folder, overview_rect=(0, 0, 10, 10))
    assert not report.ok and "cannot be written in place" in report.error
    assert _digest(files.folder) == before


def test_mask_label_command(tmp_path, capsys):
    good = write_slide(tmp_path / "good", width=600, height=500)
    assert main(["mask-label", good.folder, str(tmp_path / "missing"), "--overview-rect", "0,0,50,50"]) == 1
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "1 of 2 slide(s) masked, 1 failed" in out
    assert NOT_DEIDENTIFIED in out and "de-identified" not in out.replace("de-identify", "")
    with open_slide(good.folder) as slide:
        assert slide.label.frame(0).max() == 0
    assert main(["mask-label", good.folder]) == 0


def test_mask_label_bad_rectangle_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["mask-label", str(tmp_path), "--overview-rect", "1,2,3"])
    assert exit_info.value.code == 2


def test_info_of_a_slide(tmp_path, capsys):
    files = write_slide(tmp_path / "s", width=900, height=600, compression="jpeg", tiling="TILED_SPARSE")
    assert main(["info", files.folder, "--json", "--check-frames"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [level["size"] for level in report["levels"]] == [[900, 600], [450, 300], [225, 150]]
    assert report["levels"][0]["tiling"] == "TILED_SPARSE"
    assert report["levels"][0]["transfer_syntax"].startswith("JPEG Baseline")
    assert report["levels"][0]["tiles"]["grid"] == [3, 4]
    assert set(report["associated"]) == {"label", "overview", "thumbnail"}
    assert report["open_ms"] > 0 and report["first_region"]["size"] == [900, 600]
    assert main(["info", files.levels[1][0]]) == 0
    assert "Levels:" in capsys.readouterr().out
    assert main(["info", files.levels[1][0], "--file"]) == 0
    assert "Transfer syntax:" in capsys.readouterr().out


def test_slide_bench_rows(tmp_path):
    pytest.importorskip("wsidicom")
    from viewer.benchmarks import slide as slide_bench

    result = slide_bench.run_slide_bench(str(tmp_path / "bench"), tiles=80, repeats=1, say=lambda message: None)
    assert set(result["rows"]) == {"TILED_FULL", "TILED_SPARSE"}
    for readers in result["rows"].values():
        for reader in ("cinemap", "wsidicom"):
            assert "error" not in readers[reader], readers[reader]
            assert readers[reader]["open_first_region_ms"] >= readers[reader]["open_ms"] > 0
    table = slide_bench.format_slide_table(result)
    assert "TILED_SPARSE" in table and "x |" in table
    for layout in ("TILED_FULL", "TILED_SPARSE"):
        viewing = result["viewing"][layout]
        assert "error" not in viewing, viewing
        assert viewing["first_view_complete_ms"] >= viewing["first_tiles_ms"] > viewing["open_ms"] > 0
        assert viewing["pan"]["steps"] == 20 and viewing["zoom"]["steps"] == 16
    assert "first tiles on screen" in slide_bench.format_viewing_table(result)
    assert not (tmp_path / "bench").exists()  # deleted unless --keep
