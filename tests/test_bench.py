"""``cinemap bench``: a small run end to end, and the pieces it is made of."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viewer.benchmarks import report, tables
from viewer.benchmarks.files import format_size, parse_size

ROOT = Path(__file__).parents[1]
SMALL_RUN = ["--size", "64M", "--samples", "40", "--sequential-frames", "64", "--seconds", "2",
             "--gui-seconds", "1", "--compressed-frames", "12", "--enhanced-frames", "300,1200", "--indexed-size", "24M",
             "--video-seconds", "2", "--video-geometry", "320x240"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "viewer", "bench", "--json", "--dir", str(folder), *SMALL_RUN],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout), folder


@pytest.mark.slow
def test_every_method_has_a_number_or_a_reason_for_every_row(small_run):
    result, _ = small_run
    assert set(result["methods"]) == set(report.METHODS)
    keys = [row["key"] for row in result["rows"]]
    for key in ("open_first_fresh", "open_first", "random_warm", "random_cold", "sequential", "anon_memory",
                "gui_512", "gui_1024", "compressed_first", "compressed_second", "gui_compressed",
                "enhanced_open_300", "enhanced_rescale_1200", "indexed_open_cold", "indexed_random_warm",
                "indexed_read_cold", "indexed_file_memory", "walk_open_cold", "walk_complete_cold", "walk_kb_per_item",
                "video_open", "video_sequential", "video_random", "video_step_back", "video_step_back_gop"):
        assert key in keys
    for row in result["rows"]:
        assert set(row["cells"]) == set(report.METHODS)
        for method, cell in row["cells"].items():
            if "na" in cell:
                assert cell["na"].startswith("n/a (") and "error" not in cell["na"], (row["key"], method, cell)
            else:
                assert isinstance(cell["value"], float) and cell["value"] >= 0, (row["key"], method, cell)


@pytest.mark.slow
def test_numbers_where_each_method_applies(small_run):
    result, _ = small_run
    cells = {row["key"]: row["cells"] for row in result["rows"]}
    for key in ("open_first_fresh", "open_first", "random_warm", "sequential", "sequential_fps", "anon_memory"):
        assert all("value" in cells[key][method] for method in report.METHODS if method != "pyav"), key
    for key in ("video_open", "video_sequential", "video_random", "video_step_back", "video_step_back_gop"):
        assert all("value" in cells[key][method] for method in ("cinemap", "pyav")), key
        assert cells[key]["cinemap"]["vs_floor"] > 0 and cells[key]["pyav"]["vs_floor"] == 1.0, key
    assert all("value" in cells["random_cold"][m] for m in ("cinemap", "pydicom_index", "memmap", "pread"))
    for key in ("compressed_first", "compressed_second"):
        assert all("value" in cells[key][m] for m in ("cinemap", "pydicom_index", "pydicom_dcmread", "memmap"))
    for key in ("enhanced_open_300", "enhanced_open_1200"):
        assert all("value" in cells[key][m] for m in ("cinemap", "pydicom_dcmread", "pydicom_index"))
    gui = cells["gui_512"]["cinemap"]
    assert "value" in gui or gui["na"].startswith("n/a (GUI not available")
    for key in ("indexed_open_warm", "indexed_random_warm"):
        assert all("value" in cells[key][m] for m in ("cinemap", "pydicom_index", "pydicom_dcmread")), key
    from viewer.model.platform import CAPABILITIES

    for key in ("indexed_open_cold", "indexed_random_cold", "walk_open_cold", "walk_kb_per_item"):
        for method in ("cinemap", "pydicom_dcmread"):
            cell = cells[key][method]
            assert "value" in cell if CAPABILITIES.fadvise else "drop" in cell["na"], (key, method, cell)


@pytest.mark.slow
def test_ratios_are_computed_against_floor_and_pydicom(small_run):
    result, _ = small_run
    cells = {row["key"]: row["cells"] for row in result["rows"]}
    for key in ("open_first", "random_warm", "random_cold", "sequential"):
        cinemap = cells[key]["cinemap"]
        assert cinemap["vs_floor"] > 0 and cinemap["vs_pydicom"] > 0, key
    assert cells["random_cold"]["pread"]["vs_floor"] == 1.0
    assert cells["random_warm"]["memmap"]["vs_floor"] == 1.0
    assert cells["random_warm"]["pydicom_index"]["vs_pydicom"] == 1.0
    goals = {goal["goal"]: goal for goal in result["goals"]}
    cold = goals["cold random frame, Cinemap / os.pread"]
    expected = cells["random_cold"]["cinemap"]["value"] / cells["random_cold"]["pread"]["value"]
    assert cold["value"] == pytest.approx(expected, rel=1e-2, abs=1e-3)
    for goal in result["goals"]:  # "met" says what the measured value says
        if goal["value"] is None or goal["target"] is None:
            assert goal["met"] is None, goal
        else:
            assert goal["met"] is (goal["value"] <= goal["target"] and goal.get("rescale_ok", True) is True), goal


@pytest.mark.parametrize("cinemap_ms, pread_ms, met", [(2.9, 2.0, True), (3.1, 2.0, False), (1.0, None, None)])
def test_a_goal_is_met_only_when_its_ratio_is_within_the_target(cinemap_ms, pread_ms, met):
    cells = {"cinemap": {"value": cinemap_ms}}
    if pread_ms is not None:
        cells["pread"] = {"value": pread_ms}
    goals = {goal["goal"]: goal for goal in report.goals([{"key": "random_cold", "cells": cells}], {},
                                                         {"enhanced_frames": []})}
    cold = goals["cold random frame, Cinemap / os.pread"]
    assert cold["target"] == 1.5
    assert cold["met"] is met
    assert cold["value"] == (None if pread_ms is None else round(cinemap_ms / pread_ms, 3))


@pytest.mark.slow
def test_machine_files_and_cleanup(small_run):
    result, folder = small_run
    machine = result["machine"]
    assert machine["cpus"] >= 1 and machine["ram_gib"] > 0 and machine["numpy"] and machine["pydicom"]
    roles = {bench_file["role"] for bench_file in result["files"]}
    assert {"main", "compressed", "enhanced-300", "enhanced-1200", "video"} <= roles
    main = next(f for f in result["files"] if f["role"] == "main")
    assert main["frames"] == 128 and main["size"] > 64 << 20
    assert result["files_deleted"] is True
    assert not any(Path(f["path"]).exists() for f in result["files"])
    assert not folder.exists() or not any(folder.iterdir())
    assert result["results"]["enhanced_1200"]["cinemap"]["rescale_ok"] is True


@pytest.mark.slow
def test_text_and_markdown_render_the_same_report(small_run):
    result, _ = small_run
    text = tables.format_text(result)
    markdown = tables.format_markdown(result)
    for label in ("random frame, evicted (ms)", "Goals:"):
        assert label in text
    assert max(len(line) for line in text.splitlines()) <= tables.TEXT_WIDTH  # a terminal, not 215 columns
    assert "random frame, file evicted (median)" in markdown  # the full table
    assert markdown.count("\n| ") >= len(result["rows"]) + 1
    assert "numpy.memmap (floor)" in markdown


# ----------------------------------------------------------------- the pieces


@pytest.mark.parametrize(("text", "size"), [("500M", 500 << 20), ("2G", 2 << 30), ("3.5G", 7 << 29),
                                            ("64MiB", 64 << 20), ("1024", 1024), ("1.5gb", 3 << 29)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "-1G", "2X", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size():
    assert [format_size(n) for n in (2 << 30, 64 << 20, 3 << 29)] == ["2G", "64M", "1.5G"]


def test_usage_error_exits_2():
    from viewer.bench import bench_command

    assert bench_command(["--size", "lots"]) == 2


def test_enhanced_file_has_per_frame_rescale(tmp_path):
    import pydicom

    from viewer.synthetic.enhanced import expected_rescale, write_enhanced
    from viewer.model import open_document

    path = write_enhanced(tmp_path / "enhanced.dcm", 40, rows=16, columns=16)
    dataset = pydicom.dcmread(path)
    groups = dataset.PerFrameFunctionalGroupsSequence
    assert len(groups) == 40
    for index in (0, 3, 39):
        item = groups[index].PixelValueTransformationSequence[0]
        assert (float(item.RescaleSlope), float(item.RescaleIntercept)) == expected_rescale(index)
        assert groups[index].FrameContentSequence[0].InStackPositionNumber == index + 1
    assert pydicom.pixels.pixel_array(path, index=5)[0, 0] == 5
    with open_document(path) as document:
        assert document.num_frames == 40
        assert document.rescale(39) == expected_rescale(39)


def test_jpeg_encoder_round_trips_through_pydicom_decoder():
    import libjpeg  # pylibjpeg-libjpeg: a dependency of Cinemap, not an optional tool

    from viewer.benchmarks.jpeg import encode_baseline

    grey = np.random.default_rng(1).integers(0, 256, (30, 44)).astype(np.uint8)
    decoded = libjpeg.decode(encode_baseline(grey, quality=100))
    assert decoded.shape == grey.shape
    assert np.abs(decoded.astype(int) - grey).max() <= 2
    smooth = np.add.outer(np.arange(48), np.arange(64)).astype(np.uint8)
    colour = np.stack([smooth, smooth[::-1], 255 - smooth], axis=-1)
    stream = encode_baseline(colour, quality=95)
    assert stream[:2] == b"\xff\xd8" and stream[-2:] == b"\xff\xd9"
    assert libjpeg.decode(stream).shape == colour.shape


def test_jpeg_cine_decodes_like_the_synthetic_frames(tmp_path):
    from viewer.benchmarks.compressed import scan_fragments, write_jpeg_cine
    from viewer.model import open_document
    from viewer.synthetic import expected_frame

    path = tmp_path / "jpeg.dcm"
    spans = write_jpeg_cine(path, 3, rows=48, columns=64)
    with open_document(path) as document:
        assert document.num_frames == 3 and document.transfer_syntax.name.startswith("JPEG Baseline")
        assert scan_fragments(path, document.pixel_offset) == spans
        expected = expected_frame(2, rows=48, columns=64, bits_allocated=8, samples_per_pixel=3, kind="us")
        assert np.abs(document.frame(2).astype(int) - expected).mean() < 8


def test_video_rows_measure_cinemap_against_pyav(tmp_path):
    from viewer.benchmarks.video import describe_bench_video, measure, write_bench_video

    written = write_bench_video(tmp_path / "video.dcm", 2, 96, 128)
    assert describe_bench_video(tmp_path / "video.dcm") == written
    spec = {"path": str(tmp_path / "video.dcm"), "frames": written["frames"], "seed": 1, "samples": 5,
            **written["extra"]}
    cinemap = measure(dict(spec, method="cinemap"))
    floor = measure(dict(spec, method="pyav"))
    assert floor["frames_decoded"] == written["frames"] == 60
    for result in (cinemap, floor):
        assert result["open_first_ms"] > 0 and result["sequential"]["ms_per_frame"] > 0
        assert result["random"]["median_ms"] > 0 and result["step_back_gop_start"]["median_ms"] > 0
    assert cinemap["random"]["samples"] == 5 and cinemap["step_back_gop_start"]["samples"] == 1


def test_every_part_of_a_run_scales_with_size():
    from viewer.bench import _parser, scale_with_size

    full = scale_with_size(_parser().parse_args(["--size", "2G"]))
    assert (full.samples, full.sequential_frames, full.seconds, full.gui_seconds, full.compressed_frames,
            full.enhanced_frames) == (200, 1000, 10.0, 5.0, 300, [5000, 20000])
    small = scale_with_size(_parser().parse_args(["--size", "256M"]))
    assert (small.samples, small.sequential_frames, small.seconds, small.gui_seconds, small.compressed_frames,
            small.enhanced_frames) == (25, 125, 1.2, 1.0, 37, [600, 2500])
    tiny = scale_with_size(_parser().parse_args(["--size", "16M", "--samples", "7"]))
    assert tiny.samples == 7 and tiny.compressed_frames == 12 and tiny.enhanced_frames == [300, 1200]


def test_cine_rows_compare_the_viewer_with_one_decoder_thread():
    from viewer.benchmarks import cine

    played = {"fps": 12.0, "skipped_percent": 60.0, "decoded_per_presented": 1.0, "in_order": True,
              "reduced_frames": 0, "painted": 48, "event_latency_ms": {"median": 0.1, "max": 4.0}, "decode_ms": 160.0}
    results = {
        "j2k_1024": {"floor": {"plugin": "pylibjpeg", "factor": 1, "decode_ms": 200.0}, "cinemap": played,
                     "file_fps": 30.0},
        "jpeg_1024": {"floor": {"error": "worker exited with 1: boom"}, "cinemap": played, "file_fps": 60.0},
    }
    rows = {row["case"]: row for row in cine.rows(results)}
    j2k = rows["j2k_1024"]
    assert j2k["floor_fps"] == pytest.approx(5.0) and j2k["vs_floor"] == pytest.approx(12.0 / 5.0)
    assert j2k["met"] is True  # at least twice one thread's rate
    assert j2k["decode_vs_floor"] == pytest.approx(0.8)
    assert "boom" in rows["jpeg_1024"]["error"]
    text = cine.format_table(results)
    assert len(text.splitlines()) == 4 and "2.40x" in text
