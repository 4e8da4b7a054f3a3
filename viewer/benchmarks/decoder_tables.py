"""Text tables of the decoder measurements (:mod:`viewer.benchmarks.decoders`)."""

from __future__ import annotations

from typing import Any

PLUGIN_ORDER = ("pillow", "gdcm", "pylibjpeg", "pyjpegls", "pydicom")


def _ms(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return "-" if value is None else "fails"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths)))

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def format_text(result: dict[str, Any], machine: dict[str, Any] | None = None) -> str:
    """The four decoder tables (plugins, GIL, pool, reduced), then the versions and the machine."""
    if "error" in result:
        return f"decoders: {result['error']}"
    lines = ["Decoders: CPU ms per frame through pydicom's as_array(decoding_plugin=...), median, timed in turns; "
             "floor = fastest of the plugins and the bare libraries on the bare codestream"]
    header = ["case", *PLUGIN_ORDER, "bare libraries", "chosen", "floor", "chosen/floor"]
    rows = []
    for row in result["plugins"]:
        plugins = row["plugins"]
        raw = ", ".join(f"{name} {_ms(value)}" for name, value in row["raw"].items())
        chosen = f"{row['chosen']} {_ms(row['chosen_ms'])}" + ("" if row["releases_gil"] else " (process)")
        rows.append([row["label"], *(_ms(plugins[name]) if name in plugins else "" for name in PLUGIN_ORDER), raw,
                     chosen, f"{row['floor']} {_ms(row['floor_ms'])}", f"{row.get('ratio_to_floor', '-')}x"])
    lines += _table(header, rows)
    lines += ["", "GIL: share of the time a thread sleeping 1 ms is kept waiting while another decodes, "
                  "beside two references; stall p50 / p99 (ms)"]
    rows = [[row["label"], row["plugin"], _ms(row["call_ms"]), f"{row['blocked']:.0%}",
             f"{_ms(row['stall_p50_ms'])} / {_ms(row['stall_p99_ms'])}",
             "yes" if row["measured_releases_gil"] else "no",
             "" if row["reference"] else ("yes" if row["table_releases_gil"] else "no")]
            for row in result["gil"]]
    lines += _table(["case", "plugin", "call ms", "blocked", "stall", "releases GIL", "in GIL_FREE"], rows)
    lines += ["", "Decode pool: frames per second (distinct frames, caches empty); UI-thread stall p99 / max (ms)"]
    rows = []
    for row in result["pool"]:
        cells = [row["label"], row["plugin"] + ("" if row["releases_gil"] else " (process)"), f"{row['inline_fps']:,}"]
        for workers in (1, 2):
            pool = row[f"pool_{workers}"]
            cells.append(f"{pool['fps']:,} ({pool['fps'] / row['inline_fps']:.2f}x)")
            cells.append(f"{_ms(pool['stall_p99_ms'])} / {_ms(pool['stall_max_ms'])}")
        rows.append(cells)
    lines += _table(["cine", "plugin", "inline fps", "1 worker fps", "stall", "2 workers fps", "stall"], rows)
    lines += ["", "Reduced decodes (display only): ms per frame and speed-up over the full decode"]
    rows = [[row["label"], _ms(row["full_ms"]),
             *(f"{_ms(row[f]['ms'])} ({row[f]['speedup']}x, 1/{row[f]['actual']})" for f in ("2", "4", "8"))]
            for row in result["reduced"]]
    lines += _table(["case", "full", "1/2", "1/4", "1/8"], rows)
    versions = ", ".join(f"{name} {version}" for name, version in result.get("versions", {}).items() if version)
    lines += ["", f"Decoder versions: {versions}"]
    if machine:
        lines.append(f"Machine: {machine['cpus']} CPUs, {machine['ram_gib']} GiB RAM, {machine['system']}, "
                     f"Python {machine['python']}, numpy {machine['numpy']}")
    return "\n".join(lines)
