"""``cinemap export FILE OUT [--frames SPEC] [--window C,W | --voi N] [--fps F] [--raw]``.

A thin layer over :func:`viewer.export.export_file`: parse the arguments,
print progress on stderr, map failures to the command line's exit codes
(0 ok, 1 the file could not be used or written, 2 usage).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

DESCRIPTION = """Export frames of a DICOM file as shown in the viewer.

The format comes from OUT's suffix: .png or .tif/.tiff one frame (the first,
unless --frames says otherwise; several frames give a numbered series
NAME_0001.png, ...), .mp4 (H.264, yuv420p) or .gif (all frames unless
--frames says otherwise). Greyscale images are 8-bit: Modality LUT, then the
file's first VOI (its VOI LUT where it has one), or --window / --voi, scaled
so the darkest value the pipeline gives over the whole stored range is 0 and
the brightest 255, inverted for MONOCHROME1. A file with no window and no VOI
LUT uses the viewer's automatic window (0.5th to 99.5th percentile of 16
sampled frames). Colour images are RGB as displayed. --raw writes stored
values as 16-bit TIFF (32-bit for 32-bit data). No patient data goes into the
exported files."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cinemap export", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", metavar="FILE", help="the DICOM file")
    parser.add_argument("out", metavar="OUT", help="output file: .png, .tif, .tiff, .mp4 or .gif")
    parser.add_argument("--frames", metavar="SPEC",
                        help="frames numbered from 1: 7, 1-10, 5-, 1,4,9-12 or all")
    voi = parser.add_mutually_exclusive_group()
    voi.add_argument("--window", metavar="C,W", type=_window, help="window centre and width, in modality units (a negative centre: --window=-600,1500)")
    voi.add_argument("--voi", metavar="N", type=int,
                     help="the file's VOI number N, as listed in the viewer's presets (VOI LUTs, then windows)")
    parser.add_argument("--fps", metavar="F", type=float, help="video frame rate (default: the file's, else 30)")
    parser.add_argument("--raw", action="store_true", help="stored values as 16-bit TIFF, for analysis")
    return parser


def _window(text: str) -> tuple[float, float]:
    try:
        center, width = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not CENTRE,WIDTH (e.g. 40,400)") from None
    return center, width


class ProgressPrinter:
    """``done/total frames`` on stderr: rewritten in place on a terminal, a line every 10% otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1
        self._last_time = 0.0

    def __call__(self, done: int, total: int) -> None:
        if total <= 1:
            return
        text = f"cinemap export: {done}/{total} frames"
        if self._tty:
            now = time.monotonic()
            if done == total or now - self._last_time > 0.1:
                self._last_time = now
                self.stream.write("\r" + text + ("\n" if done == total else ""))
                self.stream.flush()
            return
        tenth = done * 10 // total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(text + "\n")
            self.stream.flush()


def export_command(argv: Sequence[str]) -> int:
    """Run ``cinemap export``; returns the exit code."""
    from viewer.exit_codes import EXIT_FILE_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
    from viewer.logfile import report_failure
    from viewer.export import Cancelled, UsageError, export_file

    options = _parser().parse_args(list(argv))
    try:
        result = export_file(options.path, options.out, frames=options.frames, window=options.window,
                             voi=options.voi, fps=options.fps, raw=options.raw, progress=ProgressPrinter())
    except UsageError as exc:
        print(f"cinemap export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, Cancelled):
        return EXIT_INTERRUPTED
    except Exception as exc:  # a DicomError, or anything unexpected: one line, never a traceback
        report_failure("cinemap export", options.path, exc)
        return EXIT_FILE_ERROR
    written = result.paths[0] if len(result.paths) == 1 else f"{result.paths[0]} ... {result.paths[-1]}"
    print(f"cinemap export: wrote {len(result.frames)} frame(s) to {written}", file=sys.stderr)
    return EXIT_OK
