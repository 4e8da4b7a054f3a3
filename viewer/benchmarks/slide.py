"""Whole-slide rows: Cinemap's ``open_slide`` against wsidicom on the same slides, in the same run.

``cinemap bench --slide`` writes two synthetic slides of about 200,000 JPEG
tiles of 256 px (TILED_FULL and TILED_SPARSE; the level-0 pattern repeats
every 16 tiles so the write costs a few hundred encodes), then measures each
reader in a fresh process (cold tile caches, files in the page cache after
the write and a first pass):

* open + the first 1500 x 950 region at (0, 0) of level 0;
* ``read_region`` of a 1500 x 950 level-0 rectangle elsewhere (cold tiles);
* the open alone.

wsidicom is the reference (``pip install wsidicom``); each Cinemap figure is
also given as a ratio to wsidicom's (below 1: faster). Tiles decode on a
thread pool in Cinemap; wsidicom runs with its defaults.

Then the viewing rows (:mod:`viewer.benchmarks.slide_gui`): each slide in
the main window, offscreen, against issue 16's goals: first tiles on screen,
a cold viewport complete, CPU per pan and zoom step from cached tiles, and
the memory the caches bound.
"""

from __future__ import annotations

import os
import shutil
import statistics
from typing import Any, Callable

REGION = (1500, 950)
READERS = ("cinemap", "wsidicom")
LAYOUTS = ("TILED_FULL", "TILED_SPARSE")


def level0_side(tiles: int, tile_size: int = 256) -> int:
    """Level-0 side in pixels of a square pyramid (halving levels) holding about `tiles` tiles in all."""
    per_side = max(2, round((tiles * 3 / 4) ** 0.5))  # level 0 holds about 3/4 of the tiles
    return per_side * tile_size


def write_bench_slides(folder: str, tiles: int) -> dict[str, str]:
    """Write the two bench slides into `folder`; returns {layout: slide folder}."""
    from viewer.synthetic.slide import write_slide

    side = level0_side(tiles)
    levels = max(3, (side // 256).bit_length())
    slides = {}
    for layout in LAYOUTS:
        target = os.path.join(folder, layout.lower())
        if not os.path.isdir(target):
            write_slide(target + ".partial", width=side, height=side, levels=levels, tiling=layout,
                        compression="jpeg", period=16, missing=lambda row, col: False)
            os.replace(target + ".partial", target)
        slides[layout] = target
    return slides


def count_tiles(folder: str) -> int:
    from viewer.model import open_slide

    with open_slide(folder) as slide:
        return sum(level.stored_tiles for level in slide.levels)


def run_slide_bench(folder: str, tiles: int, repeats: int = 3, keep: bool = False,
                    say: Callable[[str], None] = print, viewing: bool = True) -> dict[str, Any]:
    """Write (or reuse) the slides, measure both readers `repeats` times each, return the medians.

    With `viewing`, also measure each slide in the main window (``results["viewing"]``).
    """
    from viewer.benchmarks.worker import run_worker

    os.makedirs(folder, exist_ok=True)
    say(f"writing two slides of about {tiles} JPEG tiles into {folder}")
    slides = write_bench_slides(folder, tiles)
    side = level0_side(tiles)
    size = [min(REGION[0], side), min(REGION[1], side)]
    # Not on a tile boundary; inside the level for small test slides too.
    second = [min(side * 2 // 5 + 37, side - size[0]), min(side * 3 // 10 + 101, side - size[1])]
    results: dict[str, Any] = {"tiles": {}, "rows": {}, "viewing": {}}
    try:
        for layout, path in slides.items():
            results["tiles"][layout] = count_tiles(path)
            spec = {"task": "slide", "path": path, "size": size, "second_location": second}
            run_worker(dict(spec, reader="cinemap"))  # page cache warm for both readers
            for reader in READERS:
                say(f"{layout}: {reader}")
                runs = [run_worker(dict(spec, reader=reader)) for _ in range(repeats)]
                errors = [run["error"] for run in runs if "error" in run]
                results["rows"].setdefault(layout, {})[reader] = (
                    {"error": errors[0]} if errors else
                    {key: statistics.median(run[key] for run in runs) for key in runs[0]}
                )
            if viewing:
                say(f"{layout}: viewing in the main window")
                results["viewing"][layout] = run_worker({"task": "slide-gui", "path": path},
                                                        env={"QT_QPA_PLATFORM": "offscreen"}, timeout=900)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def format_slide_table(results: dict[str, Any]) -> str:
    """Text table: each figure, and Cinemap / wsidicom."""
    lines = ["| measurement | Cinemap | wsidicom 0.36 | Cinemap / wsidicom |", "|---|---|---|---|"]
    names = {
        "open_ms": "open",
        "open_first_region_ms": f"open + first {REGION[0]} x {REGION[1]} region",
        "cold_region_ms": f"read_region {REGION[0]} x {REGION[1]}, level 0, cold tiles",
    }
    for layout, readers in results["rows"].items():
        tiles = results["tiles"].get(layout, "?")
        for key, name in names.items():
            ours, theirs = readers.get("cinemap", {}), readers.get("wsidicom", {})
            if "error" in ours or "error" in theirs:
                lines.append(f"| {layout} ({tiles} tiles) {name} | {ours.get('error', '')} | {theirs.get('error', '')} | |")
                continue
            ratio = ours[key] / theirs[key] if theirs[key] else float("nan")
            lines.append(f"| {layout} ({tiles} tiles): {name} | {ours[key]:.1f} ms | {theirs[key]:.1f} ms | {ratio:.2f}x |")
    return "\n".join(lines)


VIEWING_GOALS_MS = {"first_tiles_ms": 300.0, "cold_viewport": 300.0, "pan": 30.0, "zoom": 30.0}


def viewing_rows(layout: str, tiles: Any, result: dict[str, Any]) -> list[str]:
    """Table rows of one slide's viewing measurements, each next to its goal."""
    if "error" in result:
        return [f"| {layout} ({tiles} tiles): viewing | {result['error']} | |"]
    cold = result.get("cold_disk", {})

    def met(value: float, goal: float) -> str:
        return f"{'met' if value <= goal else 'NOT met'} (goal <= {goal:.0f} ms)"

    rows = [
        ("choosing the folder to the first tiles on screen (files in the page cache)",
         f"{result['first_tiles_ms']:.0f} ms", met(result["first_tiles_ms"], VIEWING_GOALS_MS["first_tiles_ms"])),
        ("  the same from a cold disk (files evicted)", f"{cold.get('first_tiles_ms', float('nan')):.0f} ms", ""),
        ("  of which the header scan (open_slide)", f"{result['open_ms']:.0f} ms", ""),
        ("first view complete (margin included)", f"{result['first_view_complete_ms']:.0f} ms", ""),
        ("cold viewport at 1:1 complete on screen (median / max)",
         f"{result['cold_viewport']['median_ms']:.0f} / {result['cold_viewport']['max_ms']:.0f} ms",
         met(result["cold_viewport"]["median_ms"], VIEWING_GOALS_MS["cold_viewport"])),
        ("CPU per pan step from cached tiles (median / max)",
         f"{result['pan']['cpu_ms']:.1f} / {result['pan']['cpu_max_ms']:.1f} ms",
         met(result["pan"]["cpu_ms"], VIEWING_GOALS_MS["pan"])),
        ("CPU per zoom step from cached tiles (median / max)",
         f"{result['zoom']['cpu_ms']:.1f} / {result['zoom']['cpu_max_ms']:.1f} ms",
         met(result["zoom"]["cpu_ms"], VIEWING_GOALS_MS["zoom"])),
        ("continuous pan at 1:1, 16 px a step", f"{result['continuous_pan']['fps']:.0f} frames/s", ""),
        ("anonymous memory added, peak (slide cache + tiles held for the screen)",
         f"{result['anon_added_peak_mb']:.0f} MB",
         f"caches {result['slide_cache_capacity_mb']:.0f} + {result['held_tiles_mb']:.0f} MB"),
        ("anonymous memory added after a first and a second walk (of which neither cache)",
         " / ".join(f"{result[walk]['anon_added_mb']:.0f} ({result[walk]['other_mb']:.0f})"
                    for walk in ("after_first_walk", "after_second_walk")) + " MB", ""),
    ]
    return [f"| {layout} ({tiles} tiles): {name} | {value} | {goal} |" for name, value, goal in rows]


def format_viewing_table(results: dict[str, Any]) -> str:
    """Text table of the viewing rows (empty when none were measured)."""
    viewing = results.get("viewing") or {}
    if not viewing:
        return ""
    lines = ["| viewing in the main window (offscreen, 1100 x 800) | Cinemap | goal |", "|---|---|---|"]
    for layout, result in viewing.items():
        lines += viewing_rows(layout, results["tiles"].get(layout, "?"), result)
    return "\n".join(lines)
