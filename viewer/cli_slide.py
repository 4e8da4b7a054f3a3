"""Whole-slide commands: ``cinemap info SLIDE`` and ``cinemap mask-label FOLDER...``."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Sequence

from viewer.exit_codes import EXIT_FILE_ERROR, EXIT_OK


def is_slide_path(path: str) -> bool:
    """True for a folder, or a VL Whole Slide Microscopy file (whose slide ``info`` describes)."""
    from viewer.model.slide.scan import looks_like_slide

    return looks_like_slide(path)


def describe_slide(slide: Any) -> dict[str, Any]:
    """A JSON-ready description of an open slide."""
    levels = []
    for level in slide.levels:
        rows, cols = level.grid_shape
        levels.append({
            "level": level.index,
            "size": list(level.size),
            "tile_size": list(level.tile_size),
            "tiles": {"grid": [rows, cols], "stored": level.stored_tiles},
            "downsample": level.downsample,
            "pixel_spacing_mm": list(level.pixel_spacing) if level.pixel_spacing else None,
            "transfer_syntax": level.transfer_syntax,
            "tiling": level.tiling,
            "files": [os.path.basename(path) for path in level.paths],
            "file_bytes": level.file_bytes,
            "mapped_bytes": 0,  # tiles are read with positional reads, never mapped
        })
    associated = {
        flavour.lower(): {"file": os.path.basename(header.path), "size": [header.width, header.height],
                          "transfer_syntax": header.transfer_syntax_name}
        for flavour, header in sorted(slide.associated.items())
    }
    return {
        "folder": os.path.abspath(slide.folder),
        "series_instance_uid": slide.series_uid,
        "levels": levels,
        "associated": associated,
        "warnings": list(slide.warnings),
        "open_ms": round(slide.open_seconds * 1000, 3),
    }


def format_slide_report(report: dict[str, Any]) -> str:
    from viewer.model import format_bytes

    lines = [f"Slide:           {report['folder']}", f"Series:          {report['series_instance_uid']}"]
    lines.append("Levels:          (finest first; tiles are read on demand with positional reads, 0 bytes mapped)")
    for level in report["levels"]:
        rows, cols = level["tiles"]["grid"]
        spacing = level["pixel_spacing_mm"]
        um = f", {spacing[1] * 1000:.3g} um/px" if spacing else ""
        lines.append(
            f"  {level['level']}: {level['size'][0]} x {level['size'][1]} px, tiles {level['tile_size'][0]} x "
            f"{level['tile_size'][1]} ({rows} x {cols} grid, {level['tiles']['stored']} stored), downsample "
            f"{level['downsample']:g}{um}, {level['tiling']}, {level['transfer_syntax']}, "
            f"{len(level['files'])} file(s) {format_bytes(level['file_bytes'])}, mapped {format_bytes(level['mapped_bytes'])}"
        )
    for name, image in report["associated"].items():
        lines.append(f"{name.capitalize() + ':':<17}{image['size'][0]} x {image['size'][1]} px, "
                     f"{image['transfer_syntax']} ({image['file']})")
    for warning in report["warnings"]:
        lines.append(f"Warning:         {warning}")
    if "first_region" in report:
        region = report["first_region"]
        lines.append(f"First region:    {region['size'][0]} x {region['size'][1]} at level 0 in {region['ms']:.1f} ms")
    lines.append(f"Opened in:       {report['open_ms']:.1f} ms")
    return "\n".join(lines)


def slide_info(path: str, as_json: bool, check_region: bool) -> int:
    """``cinemap info`` of a folder or a whole-slide file."""
    from viewer.model import open_slide

    with open_slide(path) as slide:
        report = describe_slide(slide)
        if check_region:
            started = time.perf_counter()
            width, height = min(1500, slide.levels[0].size[0]), min(950, slide.levels[0].size[1])
            slide.read_region((0, 0), 0, (width, height))
            report["first_region"] = {"size": [width, height], "ms": round((time.perf_counter() - started) * 1000, 3)}
    print(json.dumps(report, indent=2) if as_json else format_slide_report(report))
    return EXIT_OK


def _rectangle(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise argparse.ArgumentTypeError(f"expected X,Y,WIDTH,HEIGHT with a positive size, got {text!r}")
    return values


def mask_label_command(argv: Sequence[str]) -> int:
    """``cinemap mask-label FOLDER... [--overview-rect X,Y,W,H]``."""
    parser = argparse.ArgumentParser(
        prog="cinemap mask-label",
        description="Black out the label image of each slide in place (journaled: nothing half-written). "
        "This does not de-identify a slide: patient data stays in every file's header.",
    )
    parser.add_argument("folders", nargs="+", metavar="FOLDER", help="slide folders (or any file of a slide)")
    parser.add_argument("--overview-rect", type=_rectangle, metavar="X,Y,W,H",
                        help="also black out this rectangle of the overview image (its pixels)")
    options = parser.parse_args(list(argv))
    from viewer.model import DicomError
    from viewer.model.slide.label_mask import NOT_DEIDENTIFIED, mask_slide_label

    failed = 0
    for number, folder in enumerate(options.folders, start=1):
        print(f"[{number}/{len(options.folders)}] {folder}", flush=True)
        try:
            report = mask_slide_label(folder, overview_rect=options.overview_rect,
                                      progress=lambda message: print(f"    {message}", flush=True))
        except DicomError as exc:
            print(f"    FAILED: {exc}", flush=True)
            failed += 1
            continue
        if report.error:
            print(f"    FAILED, {report.error}", flush=True)
        for outcome in report.outcomes:
            state = "done" if outcome.written else "FAILED"
            changes = f"; header: {', '.join(outcome.header_changes)}" if outcome.header_changes else ""
            print(f"    {state}: {os.path.basename(outcome.path)}: {outcome.message}{changes}", flush=True)
        failed += 0 if report.ok else 1
    print(f"Summary: {len(options.folders) - failed} of {len(options.folders)} slide(s) masked, {failed} failed.")
    print(NOT_DEIDENTIFIED)
    return EXIT_FILE_ERROR if failed else EXIT_OK

