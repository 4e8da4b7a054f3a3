"""What to export: frame lists, output formats, file names.

Frames are numbered from 1, as the viewer's frame box shows them.
"""

from __future__ import annotations

import os
from pathlib import Path

PNG, TIFF, MP4, GIF = "PNG", "TIFF", "MP4", "GIF"
FORMATS = {".png": PNG, ".tif": TIFF, ".tiff": TIFF, ".mp4": MP4, ".gif": GIF}
STILL_FORMATS = (PNG, TIFF)
VIDEO_FORMATS = (MP4, GIF)


class UsageError(ValueError):
    """A request no file could satisfy: an unknown format, a malformed frame list, a frame past the end."""


def output_format(path: str | os.PathLike[str]) -> str:
    """:data:`PNG`, :data:`TIFF`, :data:`MP4` or :data:`GIF` from `path`'s suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; use one of {known}")
    return FORMATS[suffix]


def parse_frames(spec: str | None, num_frames: int, default_all: bool = False) -> list[int]:
    """0-based frame indices from a frame list numbered from 1.

    Parameters
    ----------
    spec : str or None
        Comma-separated numbers and ranges: ``"7"``, ``"1-10"``, ``"5-"``
        (to the last), ``"-3"`` (from the first), ``"1,4,9-12"``, ``"all"``.
        None: the first frame, or all frames with `default_all`.
    num_frames : int
        Frames in the file.

    Raises
    ------
    UsageError
        For a malformed list or a frame outside 1..`num_frames`.
    """
    if num_frames <= 0:
        raise UsageError("the file has no frames to export")
    if spec is None:
        return list(range(num_frames)) if default_all else [0]
    indices: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if part.lower() == "all":
            first, last = 1, num_frames
        elif "-" in part:
            start, _, end = part.partition("-")
            first = _number(start, spec) if start else 1
            last = _number(end, spec) if end else num_frames
        else:
            first = last = _number(part, spec)
        if first > last:
            raise UsageError(f"frames {spec!r}: {first}-{last} runs backwards")
        for number in (first, last):
            if not 1 <= number <= num_frames:
                raise UsageError(f"frames {spec!r}: frame {number} is outside 1-{num_frames}")
        indices.extend(range(first - 1, last))
    return list(dict.fromkeys(indices))


def _number(text: str, spec: str) -> int:
    if not text.isdigit():
        raise UsageError(f"frames {spec!r}: {text!r} is not a frame number (use e.g. 7, 1-10, 5-, 1,4,9-12 or all)")
    return int(text)


def series_paths(out: str | Path, indices: list[int], num_frames: int) -> list[Path]:
    """One path per frame: `out` itself for one frame, else ``NAME_0007.png`` (frame numbers from 1).

    Numbers have at least four digits, more when the file has more frames, so
    the names sort in frame order.
    """
    out = Path(out)
    if len(indices) == 1:
        return [out]
    digits = max(4, len(str(num_frames)))
    return [out.with_name(f"{out.stem}_{index + 1:0{digits}d}{out.suffix}") for index in indices]


def default_name(kind: str, indices: list[int], suffix: str) -> str:
    """A file name from frame numbers only, never from patient fields: ``cinemap_frame_0007.png``."""
    if kind == "frame" or len(indices) == 1:
        return f"cinemap_frame_{indices[0] + 1:04d}{suffix}"
    return f"cinemap_cine_{indices[0] + 1:04d}-{indices[-1] + 1:04d}{suffix}"
