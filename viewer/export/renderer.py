"""Frames as the viewer shows them, as 8-bit arrays ready for an image or video file.

Greyscale frames go through the document's grey pipeline
(:class:`~viewer.model.display.pipeline.GreyPipeline`), 8 bits, inverted for
MONOCHROME1. Colour frames are RGB as displayed: 8-bit samples as they are,
wider ones scaled from 0..their type's maximum, PALETTE COLOR through the
file's palette.
"""

from __future__ import annotations

import numpy as np

from viewer.export.frames import UsageError
from viewer.model.display import render
from viewer.model.display.metadata import WindowPreset
from viewer.model.display.pipeline import GreyPipeline, document_automatic_window


def choose_voi(document, pipeline: GreyPipeline, window: tuple[float, float] | None = None,
               voi_number: int | None = None) -> WindowPreset | None:
    """The VOI an export uses: `window` (centre, width), the file's VOI number `voi_number`
    (from 1, as listed in the viewer's presets: VOI LUTs, then windows), else the file's
    first VOI, else the viewer's automatic window.

    Raises
    ------
    UsageError
        For a width of 0 or less, or a VOI number the file does not have.
    """
    if window is not None:
        center, width = window
        if not width > 0:
            raise UsageError(f"window width {width:g}: it must be more than 0")
        return WindowPreset(float(center), float(width), f"window {center:g},{width:g}")
    presets = pipeline.presets(0)
    if voi_number is not None:
        if not 1 <= voi_number <= len(presets):
            listed = "; ".join(f"{n} {preset.name}" for n, preset in enumerate(presets, 1)) or "none"
            raise UsageError(f"--voi {voi_number}: the file's VOIs are: {listed}")
        return presets[voi_number - 1]
    if presets:
        return presets[0]
    return document_automatic_window(document, pipeline)


class FrameRenderer:
    """Turns frame indices of an open document into uint8 arrays, as shown.

    Parameters
    ----------
    document : viewer.model.Document
        The open document (pending edits are part of its frames).
    choice : WindowPreset or None
        The grey VOI (see :func:`choose_voi`); ignored for colour.
    invert : bool
        Invert grey levels on top of what the file asks (the viewer's Invert box).
    pipeline : GreyPipeline, optional
        The document's pipeline, if one exists already.
    """

    def __init__(self, document, choice: WindowPreset | None = None, invert: bool = False,
                 pipeline: GreyPipeline | None = None) -> None:
        self.document = document
        geometry = document.geometry
        self.kind = render.display_kind(document.photometric_interpretation, geometry.samples_per_pixel)
        self.choice = choice
        self.invert = invert
        self.pipeline = pipeline if pipeline is not None or self.kind != render.GREY else \
            GreyPipeline.for_document(document)
        self._palette = render.PaletteTable(document.dataset, geometry.bits_stored) \
            if self.kind == render.PALETTE else None

    @property
    def is_grey(self) -> bool:
        return self.kind == render.GREY

    @property
    def shape(self) -> tuple[int, ...]:
        """(rows, cols) for grey, (rows, cols, 3) for colour."""
        rows, columns = self.document.frame_shape[:2]
        return (rows, columns) if self.is_grey else (rows, columns, 3)

    def image(self, index: int) -> np.ndarray:
        """Frame `index` as shown: uint8 (rows, cols) grey or (rows, cols, 3) RGB, C-contiguous."""
        frame = self.document.frame(index)
        if self.is_grey:
            assert self.pipeline is not None  # __init__ makes one for every grey document
            return np.ascontiguousarray(self.pipeline.render(frame, index, self.choice, self.invert))
        if self._palette is not None:
            frame = self._palette.apply(frame)
        return np.ascontiguousarray(colour_to_8bit(frame[..., :3]))


def colour_to_8bit(frame: np.ndarray) -> np.ndarray:
    """RGB samples to uint8 as the viewer shows them (0..the type's maximum to 0..255)."""
    frame = render.contiguous_native(frame)
    if frame.dtype == np.uint8:
        return frame
    low, high = render.colour_levels(frame.dtype)
    scaled = (np.asarray(frame, dtype=np.float64) - low) * (255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)
