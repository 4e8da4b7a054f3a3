"""Text and Markdown forms of a benchmark report (see :mod:`viewer.benchmarks.report`).

Methods are columns and measurements rows. In Markdown a cell reads ``0.412
ms (1.1x | 0.57x)``: the value, then its ratio to the row's floor and to
pydicom. The text form fits a 100-column terminal: values only, with the
unit in the row label, and Cinemap's two ratios in the last two columns. A
cell that does not apply shows ``n/a`` and a numbered note with the reason.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

LEGEND = ("cell: value (ratio to the row's floor | ratio to pydicom pixel_array(index=k)); "
          "floor = numpy.memmap at the known offset, os.pread for the cold row; "
          "for MB/s and fps higher is better, for ms and MB lower is better; "
          "a frame counts as read once copied into a preallocated buffer")


def format_number(value: float, unit: str) -> str:
    """A value with sensible precision for its unit."""
    if unit == "ms":
        digits = 3 if value < 1 else 2 if value < 100 else 0
    elif unit == "MB":
        digits = 1
    else:
        digits = 1 if value < 100 else 0
    return f"{value:,.{digits}f} {unit}"


def format_ratio(ratio: float | None) -> str:
    """``1.1x``, ``0.05x``, ``14x``, or ``-`` when there is no ratio."""
    if ratio is None:
        return "-"
    if ratio >= 10:
        return f"{ratio:.0f}x"
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


class _Notes:
    """Numbered reasons for n/a cells, one number per distinct reason."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def mark(self, reason: str) -> str:
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"n/a [{self.reasons.index(reason) + 1}]"


def _cell_text(cell: dict[str, Any], notes: _Notes) -> str:
    if "na" in cell:
        return notes.mark(cell["na"].removeprefix("n/a (").removesuffix(")"))
    return (f"{format_number(cell['value'], cell['unit'])} "
            f"({format_ratio(cell.get('vs_floor'))} | {format_ratio(cell.get('vs_pydicom'))})")


def _grid(report: dict[str, Any], notes: _Notes) -> tuple[list[str], list[list[str]]]:
    methods = report["methods"]
    header = ["measurement"] + [_column_label(report, method) for method in methods]
    body = [[row["label"]] + [_cell_text(row["cells"][method], notes) for method in methods]
            for row in report["rows"]]
    return header, body


def _column_label(report: dict[str, Any], method: str) -> str:
    label = report["methods"][method]
    return f"{label} *" if method in report.get("column_notes", {}) else label


def _column_notes(report: dict[str, Any]) -> list[str]:
    return [f"* {report['methods'][method]}: {note}" for method, note in report.get("column_notes", {}).items()]


def _goal_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for goal in report["goals"]:
        value, unit = goal["value"], goal["unit"]
        shown = "n/a" if value is None else (f"{value:.2f}x" if unit == "x" else f"{value:.1f} {unit}".rstrip())
        if goal["target"] is None:
            verdict = "(for information)"
        else:
            target = f"{goal['target']:g}x" if unit == "x" else f"{goal['target']:g} {unit}".rstrip()
            status = {True: "MET", False: "NOT MET", None: "not measured"}[goal["met"]]
            verdict = f"goal {'>=' if goal.get('at_least') else '<='} {target}: {status}"
            if "rescale_ok" in goal:
                verdict += f", rescale right: {goal['rescale_ok']}"
        lines.append(f"{goal['goal']}: {shown}  {verdict}")
    return lines


def _file_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for bench_file in report["files"]:
        origin = "reused" if bench_file["reused"] else f"written in {bench_file['generate_seconds']:.1f} s"
        lines.append(f"{bench_file['role']}: {bench_file['path']} ({bench_file['size'] / 2**20:,.0f} MiB, "
                     f"{bench_file['frames']:,} frames {bench_file['geometry']}, {origin})")
    return lines


def _machine_line(report: dict[str, Any]) -> str:
    machine = report["machine"]
    return (f"{machine['cpus']} CPUs, {machine['ram_gib']} GiB RAM, {machine['system']}, Python {machine['python']}, "
            f"numpy {machine['numpy']}, pydicom {machine['pydicom']}")


TEXT_WIDTH = 100  # columns of a terminal the text report fits in; --markdown has the full table
TEXT_COLUMNS = {"cinemap": "Cinemap", "pydicom_index": "pydicom k", "pydicom_dcmread": "dcmread",
                "memmap": "memmap", "pread": "pread"}
TEXT_LEGEND = ("Values in the row's unit. pydicom k: pydicom pixel_array(path, index=k); dcmread: pydicom "
               "dcmread + pixel_array; memmap and pread: the floors. /floor and /pydicom: Cinemap's value divided "
               "by the row's floor (numpy.memmap; os.pread for the evicted row; for the EOT rows, the JPEG cine "
               "with an Extended Offset Table, pydicom's get_frame) and by pydicom k's; higher is better for "
               "MB/s and fps, lower for ms and MB. The full table, every label and ratio: --markdown.")


def _text_label(row: dict[str, Any]) -> str:
    """A short row label with its unit, e.g. "open + 1st frame, fresh (ms)"."""
    key = row["key"]
    if key.startswith("enhanced_open_"):
        label = f"enhanced, {int(key.rsplit('_', 1)[1]):,} frames"
    elif key.startswith("enhanced_rescale_"):
        label = "  + last frame's rescale"
    else:
        label = _TEXT_LABELS.get(key, row["label"])
    return f"{label} ({row['unit']})"


_TEXT_LABELS = {
    "open_first_fresh": "open + 1st frame, fresh",
    "open_first": "open + 1st frame, median",
    "random_warm": "random frame, cached",
    "random_cold": "random frame, evicted",
    "sequential": "sequential, evicted",
    "sequential_fps": "  the same",
    "anon_memory": "peak anonymous memory",
    "gui_512": "GUI play 512x512",
    "gui_1024": "GUI play 1024x1024",
    "compressed_first": "JPEG decode, 1st pass",
    "compressed_second": "JPEG decode, 2nd pass",
    "gui_compressed": "GUI play, JPEG cine",
    "indexed_open_cold": "EOT JPEG: open + 1st, cold",
    "indexed_open_warm": "  open + 1st, warm",
    "indexed_random_cold": "  random frame, cold",
    "indexed_random_warm": "  random frame, warm",
    "indexed_read_cold": "  read by open + 1st",
    "indexed_file_memory": "  file-backed memory",
    "walk_open_cold": "no tables: open + 1st",
    "walk_complete_cold": "  every item walked",
    "walk_kb_per_item": "  read per item",
    "video_open": "video: open + 1st",
    "video_sequential": "  sequential frame",
    "video_random": "  random frame",
    "video_random_p95": "  ... 95th percentile",
    "video_step_back": "  step back one frame",
    "video_step_back_gop": "  ... from a GOP start",
}


def _text_grid(report: dict[str, Any], notes: _Notes) -> tuple[list[str], list[list[str]]]:
    methods = [method for method in TEXT_COLUMNS if method in report["methods"]]
    header = ["measurement"] + [TEXT_COLUMNS[method] + (" *" if method in report.get("column_notes", {}) else "")
                                for method in methods] + ["/floor", "/pydicom"]
    body = []
    for row in report["rows"]:
        cells = []
        for method in methods:
            cell = row["cells"][method]
            if "na" in cell:
                cells.append(notes.mark(cell["na"].removeprefix("n/a (").removesuffix(")")))
            else:
                cells.append(format_number(cell["value"], cell["unit"]).rsplit(" ", 1)[0])
        cinemap = row["cells"].get("cinemap", {})
        cells += [format_ratio(cinemap.get("vs_floor")), format_ratio(cinemap.get("vs_pydicom"))]
        body.append([_text_label(row)] + cells)
    return header, body


def _wrapped(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, TEXT_WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False) or [""]


def _text_file_lines(report: dict[str, Any]) -> list[str]:
    files = report["files"]
    folders = {os.path.dirname(bench_file["path"]) for bench_file in files}
    lines = _wrapped(f"Files in {folders.pop()}:" if len(folders) == 1 else "Files:")
    for bench_file in files:
        origin = "reused" if bench_file["reused"] else f"written in {bench_file['generate_seconds']:.1f} s"
        name = os.path.basename(bench_file["path"]) if not folders else bench_file["path"]
        lines += _wrapped(f"{bench_file['role']}: {name}, {bench_file['size'] / 2**20:,.0f} MiB, "
                          f"{bench_file['frames']:,} frames {bench_file['geometry']}, {origin}", "  ")
    return lines


def format_text(report: dict[str, Any]) -> str:
    """The plain-text report, at most :data:`TEXT_WIDTH` columns: machine, files, table, notes, goals."""
    notes = _Notes()
    header, body = _text_grid(report, notes)
    widths = [max(len(line[column]) for line in [header] + body) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first] + [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]).rstrip()

    out = _wrapped(f"cinemap bench: {_machine_line(report)}") + [""]
    out += _text_file_lines(report) + [""]
    out += [line(header), line(["-" * width for width in widths])] + [line(cells) for cells in body]
    out += [""] + _wrapped(TEXT_LEGEND)
    for note in _column_notes(report):
        out += _wrapped(note.replace(report["methods"].get("pydicom_dcmread", ""), "dcmread"))
    for number, reason in enumerate(notes.reasons, start=1):
        out += _wrapped(f"[{number}] {reason}")
    out += ["", "Goals:"]
    for text in _goal_lines(report):
        out += _wrapped(text, "  ")
    out += ["", f"Total time {report['seconds']:.0f} s; files {'deleted' if report['files_deleted'] else 'kept'}."]
    return "\n".join(out)


def format_markdown(report: dict[str, Any]) -> str:
    """The same report as Markdown, to paste into README."""
    notes = _Notes()
    header, body = _grid(report, notes)
    escape = lambda text: text.replace("|", "\\|")  # noqa: E731
    out = [f"Measured with `cinemap bench --size {report['options']['size']}` on {_machine_line(report)}.", ""]
    out.append("| " + " | ".join(escape(cell) for cell in header) + " |")
    out.append("|" + "---|" * len(header))
    out += ["| " + " | ".join(escape(cell) for cell in cells) + " |" for cells in body]
    out += ["", escape(LEGEND[0].upper() + LEGEND[1:]) + ".", ""]
    out += [escape(note) + "  " for note in _column_notes(report)] + [""]
    out += [f"{number}. {reason}" for number, reason in enumerate(notes.reasons, start=1)]
    out += [""] + [f"- {text}" for text in _goal_lines(report)]
    return "\n".join(out) + "\n"
