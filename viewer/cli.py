"""The ``cinemap`` command line.

``cinemap [PATH ...]`` opens the viewer, ``cinemap --demo`` the built-in demo,
``cinemap info PATH`` describes a file headless, ``cinemap export FILE OUT``
writes frames as PNG/TIFF/MP4/GIF (:mod:`viewer.export.command`),
``cinemap bench`` measures speed and memory. Exit codes: 0 success, 1 a file could not be used (the
reason is printed on one line; the details, with the traceback, go to the
log file of :mod:`viewer.logfile`), 2 wrong usage, 3 the GUI could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

from viewer import __version__
from viewer.exit_codes import EXIT_FILE_ERROR, EXIT_GUI_ERROR, EXIT_OK
from viewer.logfile import log_failure as _log_failure

COMMANDS = ("info", "export", "bench", "mask-label")

EPILOG = """commands:
  cinemap [PATH ...]          open files in the viewer
  cinemap --demo              generate (once) and open a ~2 GB synthetic cine
  cinemap info PATH [--json]  describe a file (or a whole-slide folder) without opening the viewer
  cinemap export FILE OUT     write frames as PNG, TIFF, MP4 or GIF (see cinemap export --help)
  cinemap mask-label FOLDER... [--overview-rect X,Y,W,H]
                              black out whole-slide labels in place (not a full de-identification)
  cinemap bench [--size 2G]   measure speed and memory against pydicom

exit codes: 0 ok, 1 a file could not be used, 2 usage error, 3 the GUI could not start
"""


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cinemap",
        description="Cinemap: view, play and mask DICOM files too large for memory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="DICOM files to open")
    parser.add_argument("--demo", action="store_true", help="open the built-in synthetic demo cine")
    parser.add_argument("--version", action="version", version=f"cinemap {__version__}")
    return parser


def _info_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cinemap info", description="Describe a DICOM file without reading its pixels.")
    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--check-frames", action="store_true",
        help="also decode the first, middle and last frame (for a slide: read the first 1500 x 950 region)",
    )
    parser.add_argument(
        "--file", action="store_true", help="describe a whole-slide file itself, not the slide it belongs to"
    )
    parser.add_argument(
        "--memmap-threshold", type=int, default=None, metavar="BYTES", help="map binary values longer than this"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cinemap`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "info":
        return info_command(args[1:])
    if args and args[0] == "export":
        from viewer.export.command import export_command

        return export_command(args[1:])
    if args and args[0] == "mask-label":
        from viewer.cli_slide import mask_label_command

        return mask_label_command(args[1:])
    if args and args[0] == "bench":
        from viewer.bench import bench_command

        return bench_command(args[1:])
    options = _gui_parser().parse_args(args)
    try:
        from viewer.app import run
    except ImportError as exc:
        print(f"cinemap: cannot start the viewer: {exc}", file=sys.stderr)
        return EXIT_GUI_ERROR
    return run(options.paths, demo=options.demo)


def info_command(argv: Sequence[str]) -> int:
    """``cinemap info PATH [--json]``."""
    options = _info_parser().parse_args(list(argv))
    from viewer.model import DEFAULT_MEMMAP_THRESHOLD, DicomError, open_document
    from viewer.cli_slide import is_slide_path, slide_info

    if not options.file and is_slide_path(options.path):
        try:
            return slide_info(options.path, options.json, options.check_frames)
        except DicomError as exc:
            _log_failure(f"cinemap info {options.path}: {exc}")
            print(f"cinemap: {exc}", file=sys.stderr)
            return EXIT_FILE_ERROR
        except Exception as exc:  # never a traceback for a user
            log = _log_failure(f"cinemap info {options.path}: unexpected error")
            where = f" (details in {log})" if log else ""
            print(f"cinemap: {options.path}: unexpected error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
            return EXIT_FILE_ERROR

    threshold = options.memmap_threshold if options.memmap_threshold is not None else DEFAULT_MEMMAP_THRESHOLD
    try:
        started = time.perf_counter()
        with open_document(options.path, memmap_threshold=threshold) as document:
            elapsed = time.perf_counter() - started
            report = describe(document, elapsed)
            if options.check_frames:
                report["checked_frames"] = check_frames(document)
    except DicomError as exc:
        _log_failure(f"cinemap info {options.path}: {exc}")
        print(f"cinemap: {exc}", file=sys.stderr)
        return EXIT_FILE_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback for a user
        log = _log_failure(f"cinemap info {options.path}: unexpected error")
        where = f" (details in {log})" if log else ""
        print(f"cinemap: {options.path}: unexpected error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_FILE_ERROR
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK


def describe(document: Any, open_seconds: float) -> dict[str, Any]:
    """A JSON-ready description of an open document."""
    pixel = document.pixel_element
    refusal = document.edit_refusal()
    return {
        "path": os.path.abspath(document.path),
        "file_size": document.file_size,
        "transfer_syntax": {"uid": str(document.transfer_syntax), "name": document.transfer_syntax.name},
        "frames": document.num_frames,
        "frame_shape": list(document.frame_shape),
        "dtype": str(document.dtype) if document.dtype is not None else None,
        "photometric_interpretation": document.photometric_interpretation,
        "compressed": document.is_encapsulated,
        "memory_mapped": document.is_memmapped,
        "pixel_data": (
            {"keyword": pixel.keyword, "vr": pixel.vr, "offset": pixel.value_offset, "length": pixel.length}
            if pixel is not None
            else None
        ),
        "mapped_elements": [
            {"tag": element.tag_text, "keyword": element.keyword, "vr": element.vr, "offset": element.offset,
             "length": element.length}
            for element in document.mapped_elements
        ],
        "frame_time_ms": document.frame_time_ms,
        "editable": refusal is None,
        "edit_refusal": refusal,
        "warnings": list(document.warnings),
        "recovered_from_journal": str(document.recovery) if document.recovery else None,
        "open_ms": round(open_seconds * 1000, 3),
        **_video_report(document),
    }


def _video_report(document: Any) -> dict[str, Any]:
    """``{"video": codec, profile, GOP length, frame count ...}`` for a video document, else nothing.

    Waits for the background packet index (seconds for an hour of video).
    """
    source = getattr(document, "source", None)
    if source is None or type(source).__name__ != "VideoSource":
        return {}
    return {"video": source.describe(timeout=120)}


def format_video(video: dict[str, Any]) -> list[str]:
    """The text lines of a video stream's description (see ``VideoSource.describe``)."""
    rate = video.get("stream_frame_rate")
    stream = (f"{video.get('codec_long_name') or video.get('codec')} {video.get('profile') or ''}".rstrip()
              + f", {video.get('width')}x{video.get('height')} {video.get('pixel_format')}"
              + (f", {rate:g} fps in the stream" if rate else ""))
    gop = video.get("gop_length")
    gops = (f"{gop} frames" if gop == video.get("gop_length_min") else f"{video.get('gop_length_min')}-{gop} frames")
    lines = [f"Video stream:    {stream}",
             f"GOP:             {gops if gop else 'unknown'} ({video['key_frames']} key frames, "
             f"{video['closed_gops']} closed){'' if video['index_complete'] else ' so far'}",
             f"Pictures:        {video['pictures']} in the stream, {video['frames_declared']} in Number of Frames"]
    if video.get("error"):
        lines.append(f"Warning:         {video['error']}")
    return lines


def check_frames(document: Any) -> list[dict[str, Any]]:
    """Decode the first, middle and last frame; raises DicomError if one fails."""
    count = document.num_frames
    checked = []
    for index in sorted({0, count // 2, count - 1}) if count else []:
        started = time.perf_counter()
        frame = document.frame(index)
        checked.append(
            {
                "index": index,
                "shape": list(frame.shape),
                "dtype": str(frame.dtype),
                "min": float(frame.min()),
                "max": float(frame.max()),
                "ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
    return checked


def format_report(report: dict[str, Any]) -> str:
    """The text form of :func:`describe`."""
    from viewer.model import format_bytes

    lines = [
        f"File:            {report['path']} ({format_bytes(report['file_size'])})",
        f"Transfer syntax: {report['transfer_syntax']['name']} ({report['transfer_syntax']['uid']})",
        f"Frames:          {report['frames']} x {' x '.join(map(str, report['frame_shape']))} {report['dtype']}"
        f" ({report['photometric_interpretation']})",
    ]
    pixel = report["pixel_data"]
    if pixel:
        length = "undefined (encapsulated)" if pixel["length"] is None else f"{pixel['length']} bytes"
        lines.append(f"Pixel data:      {pixel['keyword']} {pixel['vr']} at offset {pixel['offset']}, length {length}")
    else:
        lines.append("Pixel data:      none")
    if report["frame_time_ms"]:
        lines.append(f"Frame time:      {report['frame_time_ms']:.3f} ms ({1000 / report['frame_time_ms']:.1f} fps)")
    if report.get("video"):
        lines += format_video(report["video"])
    lines.append(f"Memory-mapped:   {len(report['mapped_elements'])} element(s)")
    for element in report["mapped_elements"]:
        lines.append(
            f"  {element['tag']} {element['keyword'] or '(private)'} {element['vr']}: "
            f"{format_bytes(element['length'])} at offset {element['offset']}"
        )
    lines.append("Editable:        " + ("yes" if report["editable"] else f"no ({report['edit_refusal']})"))
    for warning in report["warnings"]:
        lines.append(f"Warning:         {warning}")
    if report["recovered_from_journal"]:
        lines.append(f"Recovered:       {report['recovered_from_journal']}")
    for checked in report.get("checked_frames", []):
        lines.append(
            f"Frame {checked['index']}:{'':<{9 - len(str(checked['index']))}}decoded {checked['dtype']} "
            f"{'x'.join(map(str, checked['shape']))}, values {checked['min']:g}..{checked['max']:g} in {checked['ms']:.1f} ms"
        )
    lines.append(f"Opened in:       {report['open_ms']:.1f} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
