"""Tile encoders of the synthetic slide writer: native, JPEG, JPEG 2000, JPEG-LS.

Pillow's encoders (libjpeg-turbo, OpenJPEG) make JPEG baseline and JPEG 2000
codestreams; pyjpegls (CharLS) makes JPEG-LS. Each entry gives the transfer
syntax and the photometric interpretation the codestream is in.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
)


@dataclass(frozen=True)
class Compression:
    """How tiles of one instance are stored."""

    name: str
    transfer_syntax: str
    photometric: str
    lossy: bool

    @property
    def encapsulated(self) -> bool:
        return self.name != "none"


COMPRESSIONS = {
    "none": Compression("none", ExplicitVRLittleEndian, "RGB", False),
    "jpeg": Compression("jpeg", JPEGBaseline8Bit, "YBR_FULL_422", True),
    "jpeg2000": Compression("jpeg2000", JPEG2000Lossless, "YBR_RCT", False),
    "jpeg2000-lossy": Compression("jpeg2000-lossy", JPEG2000, "YBR_ICT", True),
    "jpegls": Compression("jpegls", JPEGLSLossless, "RGB", False),
}


def compression(name: str) -> Compression:
    """The :class:`Compression` called `name` (ValueError for an unknown one)."""
    try:
        return COMPRESSIONS[name]
    except KeyError:
        raise ValueError(f"unknown compression {name!r}: one of {', '.join(COMPRESSIONS)}") from None


def encode_tile(tile: np.ndarray, kind: Compression, quality: int = 90) -> bytes:
    """The stored bytes of one RGB tile (native bytes, or one codestream)."""
    if not kind.encapsulated:
        return np.ascontiguousarray(tile, dtype=np.uint8).tobytes()
    if kind.name == "jpegls":
        import jpeg_ls

        return bytes(jpeg_ls.encode_array(np.ascontiguousarray(tile)))
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(tile, dtype=np.uint8), "RGB")
    if kind.name == "jpeg":
        # 4:2:2 chroma subsampling is what YBR_FULL_422 says.
        image.save(buffer, "JPEG", quality=quality, subsampling=1)
    elif kind.name == "jpeg2000":
        image.save(buffer, "JPEG2000", no_jp2=True, irreversible=False, mct=1)
    else:
        image.save(buffer, "JPEG2000", no_jp2=True, irreversible=True, mct=1, quality_mode="rates",
                   quality_layers=[20])
    return buffer.getvalue()
