"""``cinemap bench``: Cinemap against pydicom and a bare ``numpy.memmap``.

Generates (or reuses) synthetic files in a cache folder, measures every
method in a fresh process on the same file, and prints one table (text,
``--markdown`` or ``--json``). The files are deleted at the end unless
``--keep`` is given. ``python -m viewer.bench --worker SPEC`` is the worker
side (see :mod:`viewer.benchmarks.worker`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time
from typing import Any, Sequence

from viewer.benchmarks import files as bench_files
from viewer.benchmarks import report, tables
from viewer.benchmarks.worker import run_worker, worker_main
from viewer.exit_codes import EXIT_FILE_ERROR, EXIT_INTERRUPTED, EXIT_OK

NATIVE_METHODS = tuple(method for method in report.METHODS if method != "pyav")
VIDEO_METHODS = ("cinemap", "pyav")
COMPRESSED_METHODS = ("cinemap", "pydicom_index", "pydicom_dcmread", "memmap")
ENHANCED_METHODS = ("cinemap", "pydicom_dcmread", "pydicom_index")
INDEXED_METHODS = ("cinemap", "pydicom_dcmread", "pydicom_index")


def _size(text: str) -> int:
    try:
        return bench_files.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _geometry(text: str) -> tuple[int, int]:
    try:
        columns, rows = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a frame size: {text!r} (use e.g. 1920x1080)") from exc
    if rows < 48 or columns < 128 or rows % 2 or columns % 2:
        raise argparse.ArgumentTypeError(f"the video needs even sizes of at least 128x48: {text!r}")
    return rows, columns


def _frame_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of frame counts: {text!r}") from exc
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"frame counts must be positive: {text!r}")
    return counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cinemap bench",
        description="Measure Cinemap against pydicom and a bare numpy.memmap on synthetic files.",
    )
    add = parser.add_argument
    add("--size", type=_size, default=bench_files.parse_size("2G"), metavar="SIZE",
        help="pixel data of the main 512x512 16-bit file, e.g. 500M, 2G, 3.5G (default 2G)")
    add("--json", action="store_true", help="print every figure as JSON")
    add("--markdown", action="store_true", help="print the table as Markdown (for README)")
    add("--keep", action="store_true", help="keep the generated files for the next run")
    add("--dir", type=pathlib.Path, default=None, help="folder for the files (default ~/.cache/cinemap/bench)")
    add("--pydicom-full-limit", type=_size, default=bench_files.parse_size("1G"), metavar="SIZE",
        help="above this, 'dcmread + pixel_array' runs on a file of this size instead (default 1G)")
    add("--gui-size-limit", type=_size, default=bench_files.parse_size("1G"), metavar="SIZE",
        help="size of the 1024x1024 file for GUI playback: min(--size, this) (default 1G)")
    add("--samples", type=int, default=None,
        help="random frames per method, warm and cold (default 200 at 2G, scaled with --size)")
    add("--seed", type=int, default=20240611, help="seed of the random frame indices (same for all methods)")
    add("--sequential-frames", type=int, default=None,
        help="frames read in order (default 1000 at 2G, scaled with --size)")
    add("--seconds", type=float, default=None,
        help="time cap of a sequential or decode pass (default 10 at 2G, scaled with --size)")
    add("--gui-seconds", type=float, default=None,
        help="GUI playback time per file (default 5 at 2G, scaled with --size)")
    add("--compressed-frames", type=int, default=None,
        help="frames of the JPEG cine (default 300 at 2G, scaled with --size)")
    add("--indexed-size", type=_size, default=None, metavar="SIZE",
        help="size of the JPEG cine with an Extended Offset Table (open and random frames, cold and warm; "
             "default 4.5G at 2G, so that frames lie past 4 GiB; scaled with --size)")
    add("--slide", action="store_true",
        help="run only the whole-slide rows: open_slide against wsidicom (needs wsidicom installed)")
    add("--slide-tiles", type=int, default=196_608, metavar="N",
        help="tiles of each bench slide, all levels (default 196608)")
    add("--video-seconds", type=float, default=None,
        help="length of the H.264 video cine at 30 fps, 1 s GOP (default 10 at 2G, scaled with --size; "
             "0 skips the video rows)")
    add("--video-geometry", type=_geometry, default=(1080, 1920), metavar="WxH",
        help="frame size of the video cine (default 1920x1080)")
    add("--enhanced-frames", type=_frame_counts, default=None, metavar="N,N",
        help="frame counts of the enhanced files (default 5000,20000 at 2G, scaled with --size)")
    add("--decoders", action="store_true",
        help="measure the decoders instead: every pydicom plugin per transfer syntax against the fastest floor, "
             "which release the GIL, the decode pool, reduced decodes (a few minutes; writes no file)")
    add("--decoder-seconds", type=float, default=0.5, metavar="S",
        help="time per plugin and case of --decoders (default 0.5)")
    add("--cine", action="store_true",
        help="measure compressed cines on their first pass in the viewer instead: JPEG and JPEG 2000 against "
             "one decoder thread (about a minute; writes 200 MB)")
    add("--huge", action="store_true",
        help="also measure very large frames in the viewer: a 30,000 x 30,000 16-bit frame (1.8 GB) and "
             "2048x2048 and 4096x4096 cines (1 GB each)")
    add("--huge-side", type=int, default=30000, metavar="PIXELS", help="side of the huge frame (default 30000)")
    add("--huge-cine-size", type=_size, default=bench_files.parse_size("1G"), metavar="SIZE",
        help="pixel data of each large cine (default 1G)")
    return parser


# Every part of a run scales with --size: (value at REFERENCE_SIZE, smallest value).
REFERENCE_SIZE = 2 << 30
SCALED_DEFAULTS: dict[str, tuple[float, float]] = {
    "samples": (200, 20),
    "sequential_frames": (1000, 50),
    "seconds": (10.0, 1.0),
    "gui_seconds": (5.0, 1.0),
    "compressed_frames": (300, 12),
    "video_seconds": (10.0, 1.0),
}
ENHANCED_DEFAULTS = ((5000, 300), (20000, 1200))
INDEXED_REFERENCE, INDEXED_SMALLEST = bench_files.parse_size("4.5G"), bench_files.parse_size("16M")
OPEN_SHARE_OF_SECONDS = 0.3  # time cap of the repeated opens, of --seconds (3 s at 2G)


def scale_with_size(options: argparse.Namespace) -> argparse.Namespace:
    """Fill the options left unset with values proportional to ``--size`` (2G gives the documented defaults).

    A small ``--size`` is a quick run: 256M takes about a tenth of the time of
    2G, instead of waiting for a JPEG cine and enhanced files made for 2G.
    """
    scale = options.size / REFERENCE_SIZE
    for name, (reference, smallest) in SCALED_DEFAULTS.items():
        if getattr(options, name) is None:
            value = max(smallest, reference * scale)
            setattr(options, name, type(reference)(round(value, 1) if isinstance(reference, float) else value))
    if options.indexed_size is None:
        options.indexed_size = max(INDEXED_SMALLEST, int(INDEXED_REFERENCE * scale))
    if options.enhanced_frames is None:
        # Rounded to hundreds, so that 2G gives exactly the frame counts the goals are set for.
        options.enhanced_frames = [max(smallest, int(round(reference * scale, -2)))
                                   for reference, smallest in ENHANCED_DEFAULTS]
    return options


def bench_command(argv: Sequence[str]) -> int:
    """``cinemap bench [--size 2G] [--json] [--markdown] [--keep] ...``; returns the exit code."""
    try:
        options = scale_with_size(_parser().parse_args(list(argv)))
    except SystemExit as exc:
        return int(exc.code or 0)
    if options.slide:
        return _slide_bench(options)
    if options.cine:
        from viewer.benchmarks import cine

        return cine.command(str((options.dir or bench_files.default_cache_dir()) / "cines"), options, machine(), _say)
    if options.decoders:
        return _decoders_command(options)
    try:
        result = run_bench(options)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (OSError, ValueError) as exc:
        print(f"cinemap bench: {exc}", file=sys.stderr)
        return EXIT_FILE_ERROR
    if options.json:
        print(json.dumps(result, indent=2))
    elif options.markdown:
        print(tables.format_markdown(result))
    else:
        print(tables.format_text(result))
    return EXIT_OK


def _slide_bench(options: argparse.Namespace) -> int:
    from viewer.benchmarks import slide

    folder = str((options.dir or bench_files.default_cache_dir()) / "slides")
    try:
        result = slide.run_slide_bench(folder, options.slide_tiles, keep=options.keep, say=_say)
    except (OSError, ValueError) as exc:
        print(f"cinemap bench: {exc}", file=sys.stderr)
        return EXIT_FILE_ERROR
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print(slide.format_slide_table(result))
        viewing = slide.format_viewing_table(result)
        if viewing:
            print(f"\n{viewing}")
    return EXIT_OK


def _decoders_command(options: argparse.Namespace) -> int:
    """``cinemap bench --decoders``: the decoder tables of :mod:`viewer.benchmarks.decoders`."""
    from viewer.benchmarks import decoder_tables

    _say("decoders: encoding the synthetic cines, then timing every plugin (a few minutes)")
    host = machine()
    decoders = run_worker({"task": "decoders", "seconds": options.decoder_seconds}, timeout=1800)
    if options.json:
        print(json.dumps({"cinemap_bench_decoders": 1, "machine": host, "decoders": decoders}, indent=2))
    else:
        print(decoder_tables.format_text(decoders, host))
    return EXIT_OK if "error" not in decoders else EXIT_FILE_ERROR


def _say(message: str) -> None:
    print(f"cinemap bench: {message}", file=sys.stderr, flush=True)


def run_bench(options: argparse.Namespace) -> dict[str, Any]:
    """Generate the files, run every worker, and build the report (a JSON-ready dict).

    Raises
    ------
    OSError
        If the folder cannot hold the files.
    """
    started = time.perf_counter()
    folder = options.dir or bench_files.default_cache_dir()
    fileset = bench_files.FileSet(folder)
    gui_reason = _gui_unavailable()
    try:
        _check_disk(folder, options, gui_reason is None)
        prepared = _prepare_files(fileset, options, gui_reason is None)
        results = _measure(prepared, options, gui_reason)
    finally:
        if not options.keep:
            fileset.cleanup()
    run_options = _options_json(options)
    rows = report.table(results, run_options, _huge_rows(options))
    dcmread_file = prepared["pydicom_full"]
    column_notes = {}
    if dcmread_file is not prepared["main"]:
        column_notes["pydicom_dcmread"] = (
            f"the uncompressed rows use a {bench_files.format_size(options.pydicom_full_limit)} file of the same "
            f"geometry (--pydicom-full-limit), because it reads and converts the whole file; after that "
            f"every frame is in memory, so its random and sequential reads are memory copies")
    return {
        "cinemap_bench": 1,
        "options": run_options,
        "machine": machine(),
        "files": [bench_file.as_json() for bench_file in fileset.files],
        "files_deleted": fileset.deleted,
        "methods": dict(report.METHODS),
        "column_notes": column_notes,
        "rows": rows,
        "goals": report.goals(rows, results, run_options) + _huge_goals(results, options),
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _huge_rows(options: argparse.Namespace) -> list:
    if not options.huge:
        return []
    from viewer.benchmarks import huge_report

    return huge_report.rows(options.huge_side)


def _huge_goals(results: dict[str, Any], options: argparse.Namespace) -> list[dict[str, Any]]:
    if not options.huge:
        return []
    from viewer.benchmarks import huge_report

    return huge_report.goals(results)


def _options_json(options: argparse.Namespace) -> dict[str, Any]:
    values = {key: (str(value) if isinstance(value, pathlib.Path) else value) for key, value in vars(options).items()}
    values["size"] = bench_files.format_size(options.size)
    values["size_bytes"] = options.size
    return values


def _gui_unavailable() -> str | None:
    """Why GUI playback cannot be measured, or None if it can be tried."""
    for module in ("PySide6", "viewer.benchmarks.playback"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"n/a (GUI not available: no module {module})"
        except (ImportError, ValueError) as exc:
            return f"n/a (GUI not available: {exc})"
    return None


def _check_disk(folder: pathlib.Path, options: argparse.Namespace, gui: bool) -> None:
    needed = options.size + options.indexed_size + (min(options.size, options.gui_size_limit) if gui else 0)
    if options.size > options.pydicom_full_limit:
        needed += options.pydicom_full_limit
    if options.huge and gui:
        from viewer.benchmarks import huge_report

        needed += huge_report.needed_bytes(options.huge_side, options.huge_cine_size)
    free = shutil.disk_usage(folder).free
    if free < needed * 1.1:
        raise OSError(f"{folder} has {free / 2**30:.1f} GiB free; the files need about {needed / 2**30:.1f} GiB")


def _prepare_files(fileset: bench_files.FileSet, options: argparse.Namespace, gui: bool) -> dict[str, Any]:
    from viewer.benchmarks import compressed, enhanced, indexed

    prepared: dict[str, Any] = {}
    _say(f"main file: 512x512 16-bit, {bench_files.format_size(options.size)} in {fileset.folder}")
    prepared["main"] = bench_files.native_cine(fileset, "main", options.size, 512, 512)
    prepared["pydicom_full"] = prepared["main"]
    if options.size > options.pydicom_full_limit:
        _say(f"file for dcmread + pixel_array: {bench_files.format_size(options.pydicom_full_limit)}")
        prepared["pydicom_full"] = bench_files.native_cine(fileset, "pydicom-full", options.pydicom_full_limit,
                                                           512, 512)
    if gui:
        gui_size = min(options.size, options.gui_size_limit)
        _say(f"GUI file: 1024x1024 16-bit, {bench_files.format_size(gui_size)}")
        prepared["gui_1024"] = bench_files.native_cine(fileset, "gui-1024", gui_size, 1024, 1024)
    _say(f"JPEG Baseline cine: {options.compressed_frames} frames 640x480 RGB")
    prepared["compressed"] = _jpeg_cine(fileset, options.compressed_frames, compressed)
    _say(f"JPEG cine with an Extended Offset Table: {bench_files.format_size(options.indexed_size)}")
    prepared["indexed"] = indexed.indexed_cine(fileset, options.indexed_size)
    if options.video_seconds > 0:
        rows, columns = options.video_geometry
        _say(f"video cine: {columns}x{rows} H.264, {options.video_seconds:g} s at 30 fps")
        prepared["video"] = _video_cine(fileset, options.video_seconds, rows, columns)
    for frames in options.enhanced_frames:
        _say(f"enhanced file: {frames} frames 64x64")
        prepared[f"enhanced_{frames}"] = _enhanced_file(fileset, frames, enhanced)
    if options.huge and gui:
        from viewer.benchmarks import huge_report

        prepared["huge"] = huge_report.prepare(fileset, options.huge_side, options.huge_cine_size, _say)
    return prepared


def _jpeg_cine(fileset: bench_files.FileSet, frames: int, compressed) -> bench_files.BenchFile:
    geometry = "640x480 RGB 8-bit JPEG Baseline (YBR_FULL_422)"

    def describe(path: pathlib.Path) -> dict[str, Any]:
        from viewer.model import open_document

        with open_document(path) as document:
            if document.num_frames != frames or document.warnings:
                raise ValueError(f"{path} is incomplete")
            offset = document.pixel_offset
        return {"frames": frames, "geometry": geometry,
                "extra": {"spans": compressed.scan_fragments(path, offset)}}

    return fileset.ensure("compressed", f"jpeg-640x480-{frames}f.dcm",
                          lambda path: compressed.write_jpeg_cine(path, frames), describe)


def _video_cine(fileset: bench_files.FileSet, seconds: float, rows: int, columns: int) -> bench_files.BenchFile:
    from viewer.benchmarks import video

    def describe(path: pathlib.Path) -> dict[str, Any]:
        import pydicom

        header = pydicom.dcmread(path, stop_before_pixels=True)
        frames = int(header.NumberOfFrames)
        if frames != max(2, round(seconds * 30)) or (int(header.Rows), int(header.Columns)) != (rows, columns):
            raise ValueError(f"{path} is not the video asked for")
        return video.describe_bench_video(path)

    return fileset.ensure("video", f"video-h264-{columns}x{rows}-{seconds:g}s.dcm",
                          lambda path: video.write_bench_video(path, seconds, rows, columns), describe)


def _enhanced_file(fileset: bench_files.FileSet, frames: int, enhanced) -> bench_files.BenchFile:
    def describe(path: pathlib.Path) -> dict[str, Any]:
        import pydicom

        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["NumberOfFrames"])
        if int(header.NumberOfFrames) != frames or path.stat().st_size < frames * 64 * 64 * 2:
            raise ValueError(f"{path} is incomplete")
        return {"frames": frames, "geometry": "64x64 16-bit grey, Enhanced CT-like"}

    # The name says what makes the file differ: signed samples and per-frame stamps since the shared writer.
    return fileset.ensure(f"enhanced-{frames}", f"enhanced-64x64-s16-{frames}f.dcm",
                          lambda path: enhanced.write_bench_file(path, frames), describe)


def _native_spec(bench_file: bench_files.BenchFile, method: str, options: argparse.Namespace) -> dict[str, Any]:
    extra = bench_file.extra
    return {
        "task": "native", "method": method, "path": bench_file.path, "frames": bench_file.frames,
        "pixel_offset": extra["pixel_offset"], "rows": extra["rows"], "columns": extra["columns"],
        "dtype": extra["dtype"], "seed": options.seed, "warm_samples": options.samples,
        "cold_samples": options.samples, "sequential_frames": options.sequential_frames,
        "sequential_seconds": options.seconds, "open_repeats": 200,
        "open_seconds": options.seconds * OPEN_SHARE_OF_SECONDS,
    }


def _measure(prepared: dict[str, Any], options: argparse.Namespace, gui_reason: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {"native": {}, "compressed": {}, "gui": {}}
    for method in NATIVE_METHODS:
        bench_file = prepared["pydicom_full"] if method == "pydicom_dcmread" else prepared["main"]
        _say(f"native frames: {method}")
        results["native"][method] = run_worker(_native_spec(bench_file, method, options))
    jpeg = prepared["compressed"]
    for method in COMPRESSED_METHODS:
        _say(f"JPEG cine decode: {method}")
        results["compressed"][method] = run_worker({
            "task": "compressed", "method": method, "path": jpeg.path, "frames": jpeg.frames,
            "spans": jpeg.extra["spans"], "seconds": options.seconds,
        })
    for group, with_tables in (("indexed", True), ("indexed_walk", False)):
        results[group] = {}
        for method in INDEXED_METHODS:
            _say(f"compressed cine {'with' if with_tables else 'without'} its table, cold and warm: {method}")
            results[group][method] = run_worker({
                "task": "indexed", "method": method, "path": prepared["indexed"].path, "tables": with_tables,
                "seed": options.seed, "samples": min(options.samples, 50),
            })
    for frames in options.enhanced_frames:
        bench_file = prepared[f"enhanced_{frames}"]
        results[f"enhanced_{frames}"] = {}
        for method in ENHANCED_METHODS:
            _say(f"enhanced header, {frames} frames: {method}")
            results[f"enhanced_{frames}"][method] = run_worker(
                {"task": "enhanced", "method": method, "path": bench_file.path, "frames": frames})
    bench_video = prepared.get("video")
    results["video"] = {}
    for method in VIDEO_METHODS:
        if bench_video is None:
            results["video"][method] = {"na": "n/a (--video-seconds 0)"}
            continue
        _say(f"video cine: {method}")
        results["video"][method] = run_worker({
            "task": "video", "method": method, "path": bench_video.path, "frames": bench_video.frames,
            "seed": options.seed, "samples": min(options.samples, 30), **bench_video.extra,
        })
    gui_files = {"gui_512": prepared["main"], "gui_1024": prepared.get("gui_1024"), "gui_compressed": jpeg}
    # The viewer keeps decoded compressed frames in a disk cache under its cache
    # folder: give it a scratch folder that goes with this run.
    with tempfile.TemporaryDirectory(prefix="gui-cache-", dir=os.path.dirname(jpeg.path)) as gui_cache:
        for key, bench_file in gui_files.items():
            if gui_reason is not None or bench_file is None:
                results["gui"][key] = {"na": gui_reason or "n/a (no file)"}
                continue
            _say(f"GUI playback: {key}")
            results["gui"][key] = run_worker(
                {"task": "gui", "path": bench_file.path, "seconds": options.gui_seconds},
                env={"QT_QPA_PLATFORM": "offscreen", "CINEMAP_CACHE_DIR": gui_cache},
            )
    if "huge" in prepared:
        from viewer.benchmarks import huge_report

        results.update(huge_report.measure_all(prepared["huge"], run_worker, options, _say))
    return results


def machine() -> dict[str, Any]:
    """Cores, RAM, OS and the versions of Python, numpy, pydicom and the decoders."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for package in ("numpy", "pydicom", "pylibjpeg-libjpeg", "PySide6-Essentials", "pyqtgraph", "av"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    from viewer.model.platform.memory import physical_memory
    from viewer.model.platform.process import usable_cpus

    ram_kib = (physical_memory() or 0) // 1024
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": usable_cpus(),
        "ram_gib": round(ram_kib / 2**20, 1),
        "system": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": versions["numpy"],
        "pydicom": versions["pydicom"],
        "versions": versions,
    }


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) == 2 and arguments[0] == "--worker":
        sys.exit(worker_main(arguments[1]))
    sys.exit(bench_command(arguments))
