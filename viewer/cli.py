"""The ``cinemap`` command line.

``cinemap [PATH ...]`` opens the viewer, ``cinemap --demo`` the built-in demo,
``cinemap info PATH ...`` describes files headless, ``cinemap export FILE OUT``
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
from typing import Any, Mapping, Sequence

from viewer import __version__
from viewer.exit_codes import EXIT_FILE_ERROR, EXIT_GUI_ERROR, EXIT_INTERRUPTED, EXIT_OK
from viewer.logfile import report_failure

COMMANDS = ("info", "export", "bench", "mask-label")

EPILOG = """commands:
  cinemap [PATH ...]                open files in the viewer
  cinemap --demo [--fresh]          generate (once, or again) and open a ~2 GB synthetic cine
  cinemap info PATH [PATH ...]      describe files (or whole-slide folders) without opening the viewer
  cinemap export FILE OUT           write frames as PNG, TIFF, MP4 or GIF (see cinemap export --help)
  cinemap mask-label FOLDER... [--overview-rect X,Y,W,H]
                                    black out whole-slide labels in place (not a full de-identification)
  cinemap bench [--size 2G]         measure speed and memory against pydicom

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
    parser.add_argument("--fresh", action="store_true",
                        help="with --demo: write the demo file again (a masked demo becomes clean)")
    parser.add_argument("--version", action="version", version=f"cinemap {__version__}")
    return parser


def _info_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cinemap info", description="Describe DICOM files without reading their pixels.")
    parser.add_argument("paths", nargs="+", metavar="PATH")
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
    parser = _gui_parser()
    options = parser.parse_args(args)
    if options.fresh and not options.demo:
        parser.error("--fresh goes with --demo")
    # Both checks come before Qt starts: Qt aborts the process (exit code 134)
    # when it finds no display, and would open a window for a mistyped path.
    problems = [problem for problem in map(path_problem, options.paths) if problem]
    if problems:
        for problem in problems:
            print(f"cinemap: {problem}", file=sys.stderr)
        return EXIT_FILE_ERROR
    no_display = display_problem(os.environ, sys.platform)
    if no_display:
        print(f"cinemap: {no_display}", file=sys.stderr)
        return EXIT_GUI_ERROR
    try:
        from viewer.app import run
    except ImportError as exc:
        print(f"cinemap: cannot start the viewer: {exc}", file=sys.stderr)
        return EXIT_GUI_ERROR
    return run(options.paths, demo=options.demo, fresh=options.fresh)


def path_problem(path: str) -> str | None:
    """The one-line reason `path` cannot be opened at all (missing, a folder...), or None.

    The same words as ``cinemap info`` and the viewer's error dialog use.
    """
    from viewer.model import DicomError
    from viewer.model.dicom.header import open_mode_ok

    if os.path.isdir(path):
        from viewer.model.slide.scan import folder_has_slide

        return None if folder_has_slide(path) else f"{path}: is a folder without a whole-slide image"
    try:
        open_mode_ok(path)
    except DicomError as exc:
        return str(exc)
    return None


NO_DISPLAY = (
    "no display found (DISPLAY and WAYLAND_DISPLAY are not set): log in with 'ssh -X' to see the viewer, "
    "set QT_QPA_PLATFORM=offscreen to run it without a screen (screenshots), or use 'cinemap info FILE' headless"
)


def display_problem(environ: Mapping[str, str], platform: str) -> str | None:
    """Why the viewer cannot show a window here, or None if it can try.

    Only X11/Wayland systems can lack a display: Windows and macOS always
    have one. Setting ``QT_QPA_PLATFORM`` (offscreen, vnc, eglfs...) is the
    user's own choice of platform and is left to Qt.
    """
    if platform.startswith(("win", "cygwin", "darwin")):
        return None
    if environ.get("QT_QPA_PLATFORM") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def info_command(argv: Sequence[str]) -> int:
    """``cinemap info PATH [PATH ...] [--json]``: every file (or slide) in turn, as ``ls`` would.

    A file that cannot be used gets one line on stderr and the others are
    still described; the exit code is 1 if any failed.
    """
    from viewer.cli_slide import is_slide_path

    options = _info_parser().parse_args(list(argv))
    several = len(options.paths) > 1
    reports: list[dict[str, Any]] = []
    failed = printed = False
    for path in options.paths:
        try:
            if not options.file and is_slide_path(path):
                failed = _slide_info(path, options) != EXIT_OK or failed
                continue
            report = _describe_path(path, options)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        if report is None:
            failed = True
        elif options.json:
            reports.append(report)
        else:
            print(("\n" if printed else "") + (f"{report['path']}:\n" if several else "") + format_report(report))
            printed = True
    if reports:
        print(json.dumps(reports if several else reports[0], indent=2))
    return EXIT_FILE_ERROR if failed else EXIT_OK


def _slide_info(path: str, options: argparse.Namespace) -> int:
    """``cinemap info`` of a whole-slide folder or file (printed as it goes); the exit code."""
    from viewer.cli_slide import slide_info

    try:
        return slide_info(path, options.json, options.check_frames)
    except Exception as exc:  # a DicomError, or anything unexpected: one line, never a traceback
        report_failure("cinemap info", path, exc)
        return EXIT_FILE_ERROR


def _describe_path(path: str, options: argparse.Namespace) -> dict[str, Any] | None:
    """The report of one file, or None after printing why it cannot be used."""
    from viewer.model import DEFAULT_MEMMAP_THRESHOLD, open_document

    threshold = options.memmap_threshold if options.memmap_threshold is not None else DEFAULT_MEMMAP_THRESHOLD
    try:
        started = time.perf_counter()
        with open_document(path, memmap_threshold=threshold) as document:
            elapsed = time.perf_counter() - started
            report = describe(document, elapsed)
            if options.check_frames:
                report["checked_frames"] = check_frames(document)
    except Exception as exc:  # a DicomError, or anything unexpected: one line, never a traceback
        report_failure("cinemap info", path, exc)
        return None
    return report


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
