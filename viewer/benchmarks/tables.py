"""Text and Markdown forms of a benchmark report (see :mod:`viewer.benchmarks.report`).

Methods are columns and measurements rows. A cell reads ``0.412 ms (1.1x |
0.57x)``: the value, then its ratio to the row's floor and to pydicom. A
cell that does not apply shows ``n/a`` and a numbered note with the reason.
"""

from __future__ import annotations

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
        value = goal["value"]
        shown = "n/a" if value is None else (f"{value:.2f}x" if goal["unit"] == "x" else f"{value:.1f} ms")
        if goal["target"] is None:
            verdict = "(for information)"
        else:
            target = f"{goal['target']:g}x" if goal["unit"] == "x" else f"{goal['target']:g} ms"
            status = {True: "MET", False: "NOT MET", None: "not measured"}[goal["met"]]
            verdict = f"goal <= {target}: {status}"
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


def format_text(report: dict[str, Any]) -> str:
    """The plain-text report: machine, files, table, notes, goals."""
    notes = _Notes()
    header, body = _grid(report, notes)
    widths = [max(len(line[column]) for line in [header] + body) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    out = [f"cinemap bench: {_machine_line(report)}", ""]
    out += ["Files:"] + [f"  {text}" for text in _file_lines(report)] + [""]
    out += [line(header), line(["-" * width for width in widths])] + [line(cells) for cells in body]
    out += ["", LEGEND] + _column_notes(report)
    out += [f"[{number}] {reason}" for number, reason in enumerate(notes.reasons, start=1)]
    out += ["", "Goals:"] + [f"  {text}" for text in _goal_lines(report)]
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
