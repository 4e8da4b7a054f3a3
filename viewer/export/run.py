"""Exporting frames of a document: the one function the CLI and the GUI both call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from viewer.export.frames import STILL_FORMATS, UsageError, output_format, parse_frames, series_paths
from viewer.export.renderer import FrameRenderer, choose_voi
from viewer.export.writers import Cancelled, ExportError, VideoWriter, describe_failure, staged, write_raw_tiff, \
    write_still
from viewer.model.display.metadata import WindowPreset
from viewer.model.display.pipeline import GreyPipeline

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    paths: list[Path]
    frames: list[int]  # 0-based indices
    fps: float | None  # of a video
    window: WindowPreset | None  # the grey VOI used (None: colour, raw, or no VOI)


def export_document(
    document,
    out: str | os.PathLike[str],
    indices: list[int],
    *,
    choice: WindowPreset | None = None,
    invert: bool = False,
    fps: float | None = None,
    raw: bool = False,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    pipeline=None,
) -> ExportResult:
    """Write frames `indices` of an open document to `out`, as shown (or stored values with `raw`).

    Parameters
    ----------
    document : viewer.model.Document
        The open document; pending edits are part of its frames.
    out : path
        ``.png`` / ``.tif`` (one frame, or a numbered series ``NAME_0007.png``
        for several), ``.mp4`` or ``.gif``.
    indices : list of int
        0-based frames, in the order to write them.
    choice, invert : optional
        The grey VOI (:func:`~viewer.export.renderer.choose_voi`) and the
        viewer's Invert box.
    fps : float, optional
        Video rate; default: the file's own, else 30.
    raw : bool
        Stored values as TIFF (16-bit for data of up to 16 bits).
    progress : callable, optional
        ``progress(done, total)`` after each frame.
    cancelled : callable, optional
        Polled between frames; when it returns True the export stops,
        deletes what it wrote and raises :class:`~viewer.export.writers.Cancelled`.

    Raises
    ------
    UsageError, DicomError, ExportError, Cancelled
    """
    out = Path(out)
    image_format = output_format(out)
    if raw and image_format != "TIFF":
        raise UsageError(f"{out}: --raw writes TIFF; name the output .tif or .tiff")
    if not indices:
        raise UsageError("no frames to export")
    if out.exists() and os.path.samefile(out, document.path):
        raise UsageError(f"{out} is the file being exported")
    renderer = FrameRenderer(document, choice, invert, pipeline)
    if image_format in STILL_FORMATS:
        paths = series_paths(out, indices, document.num_frames)
        _write_stills(document, renderer, paths, indices, image_format, raw, progress, cancelled)
        return ExportResult(paths, list(indices), None, choice if renderer.is_grey and not raw else None)
    rate = fps if fps is not None else default_fps(document)
    _write_video(renderer, out, indices, image_format, rate, progress, cancelled)
    return ExportResult([out], list(indices), rate, choice if renderer.is_grey else None)


def default_fps(document) -> float:
    """The file's own frame rate, else the viewer's default cine rate (30)."""
    from viewer.model.settings import Settings

    frame_time = document.frame_time_ms
    return 1000.0 / frame_time if frame_time else float(Settings().cine_default_fps)


def _step(done: int, total: int, progress: Progress | None, cancelled: Callable[[], bool] | None) -> None:
    if progress is not None:
        progress(done, total)
    if cancelled is not None and cancelled():
        raise Cancelled("export cancelled")


def _write_stills(document, renderer, paths, indices, image_format, raw, progress, cancelled) -> None:
    with staged(paths) as temporaries:
        for done, (temporary, index) in enumerate(zip(temporaries, indices)):
            _step(done, len(indices), None, cancelled)
            try:
                if raw:
                    write_raw_tiff(temporary, document.frame(index), document.path)
                else:
                    write_still(temporary, renderer.image(index), image_format)
            except (OSError, ValueError) as exc:
                raise describe_failure(paths[done], exc) from exc
            _step(done + 1, len(indices), progress, None)


def _write_video(renderer, out, indices, video_format, fps, progress, cancelled) -> None:
    if not fps > 0:
        raise UsageError(f"frame rate {fps:g}: it must be more than 0")
    with staged([out]) as (temporary,):
        try:
            writer = VideoWriter(temporary, video_format, fps, renderer.shape)
        except (OSError, ValueError) as exc:
            raise describe_failure(out, exc) from exc
        try:
            for done, index in enumerate(indices):
                _step(done, len(indices), None, cancelled)
                writer.add(renderer.image(index))
                _step(done + 1, len(indices), progress, None)
            writer.close()
        except BaseException as exc:
            writer.abort()
            if isinstance(exc, (OSError, ValueError)) and not isinstance(exc, UsageError):
                raise describe_failure(out, exc) from exc
            raise


def export_file(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    frames: str | None = None,
    window: tuple[float, float] | None = None,
    voi: int | None = None,
    fps: float | None = None,
    raw: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Open `path` and export it: what ``cinemap export`` does.

    `frames` is a frame list numbered from 1 (:func:`~viewer.export.frames.parse_frames`;
    default: the first frame for an image, all frames for a video); `window`
    a (centre, width) and `voi` a VOI number from 1 choose the grey VOI
    (:func:`~viewer.export.renderer.choose_voi`).
    """
    from viewer.model import open_document
    from viewer.model.display import render

    image_format = output_format(out)
    if window is not None and voi is not None:
        raise UsageError("give --window or --voi, not both")
    with open_document(path) as document:
        if document.geometry is None or not document.num_frames:
            raise ExportError(path, "the file has no frames to export")
        indices = parse_frames(frames, document.num_frames, default_all=image_format not in STILL_FORMATS)
        kind = render.display_kind(document.photometric_interpretation, document.geometry.samples_per_pixel)
        choice = None
        if kind != render.GREY and (window is not None or voi is not None):
            raise UsageError(f"--window and --voi apply to greyscale images; {path} is {document.photometric_interpretation}")
        if kind == render.GREY and not raw:
            pipeline = GreyPipeline.for_document(document)
            choice = choose_voi(document, pipeline, window, voi)
            return export_document(document, out, indices, choice=choice, fps=fps, progress=progress,
                                   pipeline=pipeline)
        return export_document(document, out, indices, fps=fps, raw=raw, progress=progress)
