"""Decoding one compressed tile: Pillow for JPEG, pydicom's decoders for the rest.

JPEG baseline/extended tiles in YBR_FULL_422 or YBR_FULL (the usual WSI
tiles) go to Pillow (libjpeg-turbo): 4-10x faster than pylibjpeg-libjpeg
here, it converts YCbCr to RGB as wsidicom does (which also decodes with
Pillow), and it releases the GIL while it decodes, so tiles decode in
parallel on a thread pool. Every other transfer syntax (JPEG 2000, HTJ2K,
JPEG-LS, RLE, JPEG lossless, RGB or monochrome JPEG) goes through pydicom's
decoder for it, exactly as :meth:`viewer.model.Document.frame` decodes a frame.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from viewer.model.codecs.choice import choose_plugin
from viewer.model.errors import DicomError
from viewer.model.frames.decoding import decode_errors, decoder_for
from viewer.model.slide.scan import InstanceHeader

_PILLOW_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
_PILLOW_PHOTOMETRIC = {"YBR_FULL_422", "YBR_FULL"}


class TileDecoder:
    """Decodes the codestreams of one instance's tiles to ``(rows, columns, samples)`` arrays."""

    def __init__(self, header: InstanceHeader) -> None:
        self.header = header
        self.uses_pillow = (
            header.transfer_syntax in _PILLOW_SYNTAXES
            and header.photometric in _PILLOW_PHOTOMETRIC
            and header.bits_allocated == 8
            and header.samples == 3
            and _pillow_available()
        )
        self._decoder = None if self.uses_pillow else decoder_for(header.path, UID(header.transfer_syntax))
        self._options: dict[str, Any] = dict(
            rows=header.tile_height,
            columns=header.tile_width,
            samples_per_pixel=header.samples,
            bits_allocated=header.bits_allocated,
            bits_stored=header.bits_allocated,
            pixel_representation=header.pixel_representation,
            photometric_interpretation=header.photometric,
            number_of_frames=1,
            transfer_syntax_uid=UID(header.transfer_syntax),
            pixel_keyword="PixelData",
        )
        if header.samples > 1:
            self._options["planar_configuration"] = header.planar_configuration
        # The fastest plugin, never one that can abort the process (codecs.choice.NEVER).
        choice = choose_plugin(header.transfer_syntax, header.bits_allocated,
                               tuple(self._decoder.available_plugins) if self._decoder is not None else ())
        self._plugin: dict[str, Any] = {"decoding_plugin": choice.plugin} if choice.plugin else {}

    def decode(self, codestream: bytes) -> np.ndarray:
        """The tile's pixels; DicomError naming the file if the codestream is bad."""
        with decode_errors(self.header.path, "a tile", DicomError):
            if self._decoder is None:  # uses_pillow
                tile = _decode_pillow(codestream)
            else:
                tile, _ = self._decoder.as_array(encapsulate([codestream]), index=0, **self._options,
                                                 **self._plugin)
        if tile.ndim == 2:
            tile = tile[:, :, None]
        expected = (self.header.tile_height, self.header.tile_width, self.header.samples)
        if tile.shape != expected:
            raise DicomError(self.header.path, f"a tile decoded to shape {tile.shape}, not {expected}")
        return tile


def _decode_pillow(codestream: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(codestream)) as image:
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)


def _pillow_available() -> bool:
    try:
        from PIL import features

        return bool(features.check_codec("jpg"))
    except ImportError:
        return False
