"""Turn the workers' results into rows, ratios, goals, and text/Markdown tables.

A cell is either a number, ``{"value", "unit", "vs_floor", "vs_pydicom",
...}``, or ``{"na": reason}``. Ratios are plain quotients ``value /
reference`` whatever the unit, so for rates (MB/s, fps) a ratio above 1 is
better and for times and memory a ratio below 1 is better; each row says
which. The floor of a row is the bare ``numpy.memmap`` except for the cold
random frame, whose floor is ``os.pread``; "pydicom" is pydicom's per-frame
API ``pixel_array(path, index=k)``, or ``dcmread`` where that does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

METHODS = {
    "cinemap": "Cinemap",
    "pydicom_index": "pydicom pixel_array(path, index=k)",
    "pydicom_dcmread": "pydicom dcmread + pixel_array",
    "memmap": "numpy.memmap (floor)",
    "pread": "os.pread (cold floor)",
    "pyav": "PyAV sequential decode (video floor)",
}
VIDEO_ONLY = "n/a (video rows only)"
NO_VIDEO_DECODER = "n/a (no video decoder)"
VIDEO_GOAL_MS = 150.0
"""The video issue's goal: a random frame, and one step back, within this on 2 cores."""
ENHANCED_GOALS_MS = {5000: 150.0, 20000: 500.0}
"""Later work's goal: open time (with the right per-frame rescale) by frame count."""
NOT_A_VIEWER = "n/a (not a viewer)"
NO_HEADER = "n/a (parses no header)"
NEEDS_DECODING = "n/a (compressed frames need a decoder)"

Extractor = Callable[[dict[str, Any]], "float | str"]
Methods = dict[str, "Extractor | str | None"]
"""How a row reads each method's result: an extractor, a fixed reason string, or None for the row's own."""


@dataclass(frozen=True)
class Row:
    """One row of the table.

    Attributes
    ----------
    key, label, unit : str
        JSON key, text label and unit of the values.
    better : str
        ``"lower"`` or ``"higher"``.
    source : str
        Key of the results group the row reads (``"native"``, ``"gui"`` ...).
    extract : callable
        ``extract(result) -> float or reason string`` for one method's result.
    floor : str or None
        Method whose value is the floor of the row.
    """

    key: str
    label: str
    unit: str
    better: str
    source: str
    extract: Extractor
    floor: str | None = "memmap"


def _path(*keys: str) -> Extractor:
    def extract(result: dict[str, Any]) -> float | str:
        value: Any = result
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return result.get(keys[0] + "_na") or f"n/a (no {'.'.join(keys)})"
            value = value[key]
        return float(value) if value is not None else "n/a (not measured)"

    return extract


def _cinemap_only(reason: str, extract: Extractor) -> Methods:
    return {"cinemap": extract, "pydicom_index": reason, "pydicom_dcmread": reason, "memmap": reason,
            "pread": reason, "pyav": reason}


def build_rows(options: dict[str, Any]) -> list[tuple[Row, Methods]]:
    """The rows of the table, each with a per-method extractor or a fixed reason."""
    native: Methods = {method: None for method in METHODS}
    rows: list[tuple[Row, Methods]] = [
        (Row("open_first_fresh", "open + first frame, first call in a fresh process", "ms", "lower", "native",
             _path("open_first_fresh_ms")), native),
        (Row("open_first", "open + first frame (median of repeats)", "ms", "lower", "native",
             _path("open_first", "median_ms")), native),
        (Row("random_warm", "random frame, file in page cache (median)", "ms", "lower", "native",
             _path("random_warm", "median_ms")), native),
        (Row("random_cold", "random frame, file evicted (median)", "ms", "lower", "native",
             _path("random_cold", "median_ms"), floor="pread"), native),
        (Row("sequential", "sequential read, file evicted first", "MB/s", "higher", "native",
             _path("sequential", "mb_per_second")), native),
        (Row("sequential_fps", "  ... the same in frames per second", "fps", "higher", "native",
             _path("sequential", "frames_per_second")), native),
        (Row("anon_memory", "peak anonymous memory added", "MB", "lower", "native",
             _path("memory", "anon_added_peak_mb")), native),
    ]
    fps = _path("fps")
    for key, label in (("gui_512", "GUI playback 512x512 16-bit, offscreen"),
                       ("gui_1024", "GUI playback 1024x1024 16-bit, offscreen")):
        rows.append((Row(key, label, "fps", "higher", "gui", fps, floor=None), _cinemap_only(NOT_A_VIEWER, fps)))
    compressed: Methods = {method: None for method in METHODS}
    compressed["pread"] = NEEDS_DECODING
    rows += [
        (Row("compressed_first", "JPEG cine decode, first pass", "fps", "higher", "compressed",
             _path("first_pass", "frames_per_second")), compressed),
        (Row("compressed_second", "JPEG cine decode, second pass", "fps", "higher", "compressed",
             _path("second_pass", "frames_per_second")), compressed),
        (Row("gui_compressed", "GUI playback, JPEG cine, offscreen", "fps", "higher", "gui", fps, floor=None),
         _cinemap_only(NOT_A_VIEWER, fps)),
    ]
    rows += _indexed_rows()
    rows += _video_rows()
    for frames in options["enhanced_frames"]:
        enhanced: Methods = {"cinemap": _path("open_ms"), "pydicom_dcmread": _path("open_ms"),
                             "pydicom_index": _path("per_frame", "median_ms"), "memmap": NO_HEADER,
                             "pread": NO_HEADER}
        rows.append((Row(f"enhanced_open_{frames}", f"enhanced header open, {frames:,} frames", "ms", "lower",
                         f"enhanced_{frames}", _path("open_ms"), floor=None), enhanced))
        last: Methods = {"cinemap": _path("open_and_last_rescale_ms"),
                         "pydicom_dcmread": _path("open_and_last_rescale_ms"),
                         "pydicom_index": "n/a (no rescale API)", "memmap": NO_HEADER, "pread": NO_HEADER}
        rows.append((Row(f"enhanced_rescale_{frames}", f"  ... + rescale of the last frame, {frames:,} frames",
                         "ms", "lower", f"enhanced_{frames}", _path("open_ms"), floor=None), last))
    return rows


def _indexed_rows() -> list[tuple[Row, Methods]]:
    """The compressed cine past 4 GiB: with its Extended Offset Table, then read as if it had none.

    The floor is pydicom's ``dcmread(stop_before_pixels=True)`` + ``get_frame`` + decoder.
    """
    table: Methods = {"cinemap": None, "pydicom_index": None, "pydicom_dcmread": None, "memmap": NEEDS_DECODING,
             "pread": NEEDS_DECODING}
    walk = dict(table, pydicom_index="n/a (pixel_array always uses the file's table)")
    floor = "pydicom_dcmread"
    lines = [
        ("indexed_open_cold", "JPEG cine with Extended Offset Table: open + first frame, cold", "ms",
         ("open_cold", "ms"), table, "indexed"),
        ("indexed_open_warm", "  ... open + first frame, warm (median)", "ms", ("open_warm", "median_ms"), table,
         "indexed"),
        ("indexed_random_cold", "  ... random frame, cold (median)", "ms", ("random_cold", "median_ms"), table,
         "indexed"),
        ("indexed_random_warm", "  ... random frame, warm (median)", "ms", ("random_warm", "median_ms"), table,
         "indexed"),
        ("indexed_read_cold", "  ... read from disk by open + first frame, cold", "MB", ("open_cold", "read_mb"),
         table, "indexed"),
        ("indexed_file_memory", "  ... file-backed memory after open + first frame", "MB",
         ("open_cold", "file_backed_mb"), table, "indexed"),
        ("walk_open_cold", "the same cine, its tables unused: open + first frame, cold", "ms", ("open_cold", "ms"),
         walk, "indexed_walk"),
        ("walk_complete_cold", "  ... every item header walked, cold", "ms", ("walk_cold", "ms"), walk,
         "indexed_walk"),
        ("walk_kb_per_item", "  ... read from disk per item header walked, cold", "KB", ("walk_cold", "kb_per_item"),
         walk, "indexed_walk"),
    ]
    return [(Row(key, label, unit, "lower", source, _path(*keys), floor=floor), methods)
            for key, label, unit, keys, methods, source in lines]
def _video_rows() -> list[tuple[Row, Methods]]:
    """DICOM video (H.264 cine): Cinemap's video source against PyAV's sequential decode."""
    video: Methods = {method: NO_VIDEO_DECODER for method in METHODS}
    video.update(cinemap=None, pyav=None)
    specs = [
        ("video_open", "video: open + first frame", ("open_first_ms",)),
        ("video_sequential", "video: sequential frame (mean)", ("sequential", "ms_per_frame")),
        ("video_random", "video: random frame (median)", ("random", "median_ms")),
        ("video_random_p95", "  ... 95th percentile", ("random", "p95_ms")),
        ("video_step_back", "video: step back one frame (median)", ("step_back", "median_ms")),
        ("video_step_back_gop", "  ... from a GOP's first frame (median)", ("step_back_gop_start", "median_ms")),
    ]
    return [(Row(key, label, "ms", "lower", "video", _path(*keys), floor="pyav"), dict(video))
            for key, label, keys in specs]


def _cell(row: Row, how: Extractor | str | None, result: dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(how, str):
        return {"na": how}
    if result is None:
        return {"na": "n/a (not run)"}
    if "na" in result:
        return {"na": result["na"]}
    if "error" in result:
        return {"na": f"n/a (error: {result['error']})"}
    value = (how or row.extract)(result)
    if isinstance(value, str):
        return {"na": value}
    return {"value": round(value, 4), "unit": row.unit}


def _ratio(value: dict[str, Any], reference: dict[str, Any] | None, unit: str) -> float | None:
    if reference is None or "value" not in reference or "value" not in value:
        return None
    denominator = reference["value"]
    if denominator <= 0 or (unit == "MB" and denominator < 1):
        return None  # memory next to nothing: a ratio would only show noise
    return round(value["value"] / denominator, 3)


def table(results: dict[str, Any], options: dict[str, Any],
          extra: Sequence[tuple[Row, Methods]] = ()) -> list[dict[str, Any]]:
    """Rows with one cell per method and the cells' ratios, JSON-ready.

    Parameters
    ----------
    results : dict
        ``results[source][method]`` = a worker's JSON (``gui`` is keyed by row).
    options : dict
        The run's options (``enhanced_frames``).
    extra : list
        More rows, as :func:`build_rows` gives them (``--huge``'s).
    """
    rows = []
    for row, extractors in build_rows(options) + list(extra):
        group = results.get(row.source, {})
        cells = {}
        for method in METHODS:
            result = group.get(row.key) if row.source == "gui" else group.get(method)
            how = extractors.get(method) if method in extractors or method != "pyav" else VIDEO_ONLY
            cells[method] = _cell(row, how, result if method == "cinemap" or row.source != "gui" else None)
        pydicom = cells["pydicom_index"] if "value" in cells["pydicom_index"] else cells["pydicom_dcmread"]
        floor = cells.get(row.floor) if row.floor else None
        for method, cell in cells.items():
            if "value" in cell:
                cell["vs_floor"] = _ratio(cell, floor, row.unit)
                cell["vs_pydicom"] = _ratio(cell, pydicom, row.unit)
        rows.append({"key": row.key, "label": row.label, "unit": row.unit, "better": row.better,
                     "floor": row.floor, "cells": cells})
    return rows


def goals(rows: list[dict[str, Any]], results: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each with the measured ratio or time and whether it is met."""
    by_key = {row["key"]: row["cells"] for row in rows}

    def ratio(key: str, reference: str) -> float | None:
        cells = by_key.get(key, {})
        return _ratio(cells.get("cinemap", {}), cells.get(reference), "ms")

    checks = [
        ("cold random frame, Cinemap / os.pread", ratio("random_cold", "pread"), 1.5),
        ("warm random frame, Cinemap / numpy.memmap", ratio("random_warm", "memmap"), 2.0),
        ("open + first frame, Cinemap / numpy.memmap", ratio("open_first", "memmap"), 3.0),
        ("warm random frame, Cinemap / pydicom pixel_array(index=k)", ratio("random_warm", "pydicom_index"), None),
        ("cold random frame, Cinemap / pydicom pixel_array(index=k)", ratio("random_cold", "pydicom_index"), None),
        ("compressed cold random frame, Cinemap / pydicom get_frame", ratio("indexed_random_cold", "pydicom_dcmread"),
         1.5),
    ]
    out = [{"goal": name, "value": value, "target": target, "unit": "x",
            "met": None if target is None or value is None else value <= target} for name, value, target in checks]
    for key, name, limit in (("indexed_open_cold", "compressed open + first frame cold, with a table", 50.0),
                             ("walk_open_cold", "compressed open + first frame cold, without a table", 100.0)):
        value = by_key.get(key, {}).get("cinemap", {}).get("value")
        out.append({"goal": name, "value": value, "target": limit, "unit": "ms",
                    "met": None if value is None else value <= limit})
    for key, name in (("video_random", "video random frame, 1080p H.264, 1 s GOP"),
                      ("video_step_back", "video step back one frame"),
                      ("video_step_back_gop", "video step back from a GOP's first frame")):
        value = by_key.get(key, {}).get("cinemap", {}).get("value")
        out.append({"goal": name, "value": value, "target": VIDEO_GOAL_MS, "unit": "ms",
                    "met": None if value is None else value <= VIDEO_GOAL_MS})
    for frames in options["enhanced_frames"]:
        goal_ms = ENHANCED_GOALS_MS.get(frames)
        cell = by_key.get(f"enhanced_rescale_{frames}", {}).get("cinemap", {})
        value = cell.get("value")
        rescale_ok = results.get(f"enhanced_{frames}", {}).get("cinemap", {}).get("rescale_ok")
        out.append({"goal": f"enhanced open with the last frame's rescale, {frames:,} frames", "value": value,
                    "target": goal_ms, "unit": "ms", "rescale_ok": rescale_ok,
                    "met": None if value is None or goal_ms is None else bool(value <= goal_ms and rescale_ok)})
    return out
