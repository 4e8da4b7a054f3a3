"""The words the viewer shows about what is on screen: plain, short, frames counted from 1.

People count frames from 1, as every viewer does; only the Python API counts
from 0. Everything here takes 0-based indices and says them 1-based, so the
conversion happens in one place. No Qt: the widgets only display these
strings, and tests read them without a screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from viewer.model.dicom.mapped import format_bytes

SEPARATOR = " · "


def frame_number(index: int) -> int:
    """The number a person reads for 0-based frame `index`."""
    return int(index) + 1


def frames_phrase(frames: Sequence[int] | range, count: int) -> str:
    """"frame 12", "frames 10-20", "all 40 frames" or "5 frames" (1-based), for 0-based `frames`."""
    indices = sorted(set(int(index) for index in frames))
    if not indices:
        return "no frames"
    if len(indices) == 1:
        return f"frame {frame_number(indices[0])}"
    if count and len(indices) == count and indices[0] == 0 and indices[-1] == count - 1:
        return f"all {count:,} frames"
    if indices[-1] - indices[0] + 1 == len(indices):
        return f"frames {frame_number(indices[0])}-{frame_number(indices[-1])}"
    return f"{len(indices):,} frames"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def pixel_text(row: int, column: int, frame: int, stored: Sequence[float], value: float | None, unit: str) -> str:
    """The status bar's readout under the cursor.

    ``row 12, col 40, frame 8: 1024`` when the stored value is what it means;
    ``...: 24 HU (stored 1024)`` when the modality rescale changes it, with
    its unit; ``...: RGB (10, 20, 30)`` for colour. `frame` is 0-based.
    """
    where = f"row {row}, col {column}, frame {frame_number(frame)}"
    if len(stored) > 1:
        return f"{where}: RGB ({', '.join(_number(v) for v in stored)})"
    raw = _number(stored[0])
    suffix = f" {unit}" if unit else ""
    if value is None or _number(value) == raw:
        return f"{where}: {raw}{suffix}"
    return f"{where}: {_number(value)}{suffix} (stored {raw})"


def readout_text(readout) -> str:
    """:func:`pixel_text` of a :class:`~viewer.model.display.render.PixelReadout` ('' for None)."""
    if readout is None:
        return ""
    return pixel_text(readout.row, readout.column, readout.frame, readout.stored, readout.value, readout.unit)


@dataclass(frozen=True)
class MemoryFigures:
    """What the status bar says about memory, in bytes (None: unknown on this system).

    Attributes
    ----------
    used : int or None
        Memory Cinemap uses that no file backs (anonymous): what it costs.
    file_cache : int or None
        Pages of files mapped into Cinemap that are in memory: the system's
        cache, dropped when memory is needed, not memory Cinemap uses.
    """

    used: int | None
    file_cache: int | None

    @classmethod
    def from_resident(cls, resident: int | None, anonymous: int | None,
                      file_backed: int | None = None) -> "MemoryFigures":
        """From the resident set, its anonymous part and its file-backed part (else the rest)."""
        if file_backed is None and resident is not None and anonymous is not None:
            file_backed = resident - anonymous
        return cls(anonymous, file_backed)


def mode_word(writable: bool) -> str:
    return "Read/write" if writable else "Read-only"


def status_summary(writable: bool | None, file_size: int | None, memory: MemoryFigures) -> str:
    """``Read-only · 2.1 GB file, 115 MB memory`` (parts that are unknown are left out)."""
    parts = []
    if writable is not None:
        parts.append(mode_word(writable))
    figures = []
    if file_size is not None:
        figures.append(f"{format_bytes(file_size)} file")
    if memory.used is not None:
        figures.append(f"{format_bytes(memory.used)} memory")
    if figures:
        parts.append(", ".join(figures))
    return SEPARATOR.join(parts)


def status_details(document, access: str, access_reason: str, memory: MemoryFigures) -> str:
    """The tool tip of the summary: where the pixels come from, and what memory means."""
    lines = []
    if document is not None:
        lines.append(f"File: {document.path} ({format_bytes(document.file_size)})")
        if document.mapped_bytes:
            lines.append(f"Memory-mapped values: {format_bytes(document.mapped_bytes)} (read from the file when "
                         "shown, not loaded)")
        lines.append(f"File access: {access}")
        detail = access_reason.split(": ", 1)[-1]
        if access_reason and detail not in access:  # the reason says more than the label
            lines.append(f"  {access_reason}")
        lines.append(f"Mode: {mode_word(document.writable)}"
                     + ("" if document.writable else " (Ctrl+E switches to read/write)"))
    if memory.used is not None:
        lines.append(f"Memory used by Cinemap: {format_bytes(memory.used)}")
    if memory.file_cache is not None:
        lines.append(f"File pages cached in memory: {format_bytes(memory.file_cache)} (the system's file cache: "
                     "freed whenever memory is needed, so not counted as used)")
    return "\n".join(lines)
