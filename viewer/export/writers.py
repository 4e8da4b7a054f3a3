"""Image and video files, written whole or not at all.

Every file is written under a temporary name in its own folder and renamed
into place only once complete, so a failure or a cancel leaves no partial
file (and an existing file of that name untouched). Nothing from the DICOM
header goes into a file's metadata: Pillow writes no text chunks or tags
unless given them, and the video container gets none.

PNG and TIFF through Pillow; MP4 (H.264, yuv420p, even dimensions, so it
plays everywhere) and GIF through PyAV, one frame at a time, so a long cine
is never held in memory.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from viewer.export.frames import MP4, PNG
from viewer.model.errors import DicomError

_SIGNED_SAMPLE_FORMAT = {339: 2}  # TIFF SampleFormat: two's complement integers
MP4_CRF = 17  # x264 quality: visually lossless for greyscale images


class ExportError(DicomError):
    """The export could not be written (names the output file)."""


class Cancelled(Exception):
    """The export was cancelled; no file was left behind."""


@contextlib.contextmanager
def staged(paths: list[Path]) -> Iterator[list[Path]]:
    """Temporary paths beside `paths`, renamed onto them when the block ends without an error.

    On an error (or a cancel) the temporary files are deleted and nothing
    is renamed.
    """
    temporaries = [path.with_name(f".{path.name}.cinemap-partial-{os.getpid()}") for path in paths]
    try:
        yield temporaries
        for temporary, path in zip(temporaries, paths):
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise


def write_still(path: Path, image: np.ndarray, image_format: str) -> None:
    """A uint8 grey or RGB image as PNG or TIFF at `path` (already a temporary name)."""
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG" if image_format == PNG else "TIFF")


def write_raw_tiff(path: Path, frame: np.ndarray, source: str) -> None:
    """Stored values as a TIFF: 16-bit for data of up to 16 bits (signed stays signed),
    32-bit integer or float for 32-bit data.

    Raises
    ------
    ExportError
        For colour, 64-bit or unsigned 32-bit values past what a signed 32-bit TIFF holds.
    """
    from PIL import Image

    frame = np.ascontiguousarray(frame.astype(frame.dtype.newbyteorder("="), copy=False))
    if frame.ndim != 2:
        raise ExportError(source, "--raw exports greyscale stored values; this image is colour")
    info = {}
    if frame.dtype.kind in "iu" and frame.dtype.itemsize <= 2:
        if frame.dtype.kind == "i":
            frame, info = frame.astype(np.int16).view(np.uint16), _SIGNED_SAMPLE_FORMAT
        else:
            frame = frame.astype(np.uint16)
        image = Image.fromarray(frame)
    elif frame.dtype == np.float32 or frame.dtype == np.int32:
        image = Image.fromarray(frame)
    elif frame.dtype == np.uint32 and int(frame.max(initial=0)) < 1 << 31:
        image = Image.fromarray(frame.astype(np.int32))
    else:
        raise ExportError(source, f"--raw cannot write {frame.dtype} stored values as TIFF (16 or 32 bits)")
    image.save(path, format="TIFF", tiffinfo=info)


def even(image: np.ndarray) -> np.ndarray:
    """`image` with a last row/column repeated where needed for even dimensions (H.264 with yuv420p)."""
    pad_rows, pad_columns = image.shape[0] % 2, image.shape[1] % 2
    if not (pad_rows or pad_columns):
        return image
    padding = [(0, pad_rows), (0, pad_columns)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, padding, mode="edge")


def frame_rate(fps: float) -> Fraction:
    """`fps` as the fraction a video stream's time base needs (29.97 becomes 30000/1001)."""
    if not fps > 0:
        raise ValueError(f"frame rate {fps:g}: it must be more than 0")
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """An MP4 (H.264) or GIF file written one frame at a time.

    Parameters
    ----------
    path : Path
        Where to write (a temporary name; the format is given, not guessed).
    video_format : {"MP4", "GIF"}
    fps : float
        Frames per second (GIF stores delays in hundredths of a second, so
        its rate is the nearest such delay).
    shape : tuple
        (rows, cols) for grey, (rows, cols, 3) for RGB frames.
    """

    def __init__(self, path: Path, video_format: str, fps: float, shape: tuple[int, ...]) -> None:
        import av

        self._grey = len(shape) == 2
        self._format = video_format
        self._container = av.open(str(path), mode="w", format="mp4" if video_format == MP4 else "gif")
        rows, columns = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2
        if video_format == MP4:
            self._stream = self._container.add_stream("libx264", rate=frame_rate(fps))
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(MP4_CRF)}
            self._stream.width, self._stream.height = columns, rows
        else:
            self._stream = self._container.add_stream("gif", rate=frame_rate(fps))
            self._stream.pix_fmt = "gray" if self._grey else "pal8"
            self._stream.width, self._stream.height = shape[1], shape[0]

    def add(self, image: np.ndarray) -> None:
        """Append one uint8 frame (grey or RGB, the shape given at creation)."""
        import av

        if self._format == MP4:
            frame = av.VideoFrame.from_ndarray(even(image), format="gray" if self._grey else "rgb24")
        elif self._grey:
            frame = av.VideoFrame.from_ndarray(image, format="gray")
        else:
            # PyAV takes an (indices, palette) pair for pal8; its stub knows arrays only.
            frame = av.VideoFrame.from_ndarray(_palette_image(image), format="pal8")  # type: ignore[arg-type]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def abort(self) -> None:
        """Close without flushing (the file is about to be deleted)."""
        with contextlib.suppress(Exception):
            self._container.close()


def _palette_image(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An RGB frame as 256-colour indices and an RGBA palette (median cut, per frame), for GIF."""
    from PIL import Image

    quantised = Image.fromarray(image).quantize(256)
    values = quantised.getpalette()
    assert values is not None  # quantize() always makes a "P" image, which has a palette
    palette = np.zeros((256, 4), dtype=np.uint8)
    colours = np.frombuffer(bytes(values[: 256 * 3]), dtype=np.uint8).reshape(-1, 3)
    palette[: len(colours), :3] = colours
    palette[:, 3] = 255
    return np.asarray(quantised, dtype=np.uint8), palette


def describe_failure(path: Path, exc: BaseException) -> ExportError:
    """An :class:`ExportError` naming `path` for an I/O or encoder failure."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return ExportError(path, f"cannot write the export: {reason}")
