"""The video transfer syntaxes and what a decoder needs to know about each.

DICOM video (PS3.5 sections 8.2.5 to 8.2.8) holds one bitstream for all the
frames, as an elementary stream: MPEG-2 video, or H.264 / HEVC in Annex B
byte-stream format (start codes, parameter sets in band). FFmpeg, through
PyAV, demuxes such a stream with its raw demuxers (``mpegvideo``, ``h264``,
``hevc``) and their parsers, which split it into one packet per picture and
flag the random-access pictures, without decoding anything.

:func:`key_is_closed` looks at the first bytes of a key packet to tell a
closed GOP (every picture after it in decode order can be decoded from it:
H.264 and HEVC IDR pictures, MPEG-2 GOPs marked closed) from an open one,
whose leading pictures reference the GOP before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from viewer.model.errors import UnsupportedError


@dataclass(frozen=True)
class VideoCodec:
    """How one family of video transfer syntaxes is demuxed and decoded.

    Attributes
    ----------
    family : str
        ``"mpeg2"``, ``"h264"`` or ``"hevc"``.
    demuxer : str
        FFmpeg's raw demuxer for the elementary stream (``av.open(..., format=demuxer)``).
    decoder : str
        FFmpeg's decoder name.
    encoder : str
        The encoder in PyAV's wheels that writes such streams (synthetic files).
    """

    family: str
    demuxer: str
    decoder: str
    encoder: str


MPEG2 = VideoCodec("mpeg2", "mpegvideo", "mpeg2video", "mpeg2video")
H264 = VideoCodec("h264", "h264", "h264", "libx264")
HEVC = VideoCodec("hevc", "hevc", "hevc", "libx265")

VIDEO_SYNTAXES: dict[str, VideoCodec] = {
    "1.2.840.10008.1.2.4.100": MPEG2,  # MPEG2 Main Profile / Main Level
    "1.2.840.10008.1.2.4.100.1": MPEG2,  # fragmentable
    "1.2.840.10008.1.2.4.101": MPEG2,  # MPEG2 Main Profile / High Level
    "1.2.840.10008.1.2.4.101.1": MPEG2,
    "1.2.840.10008.1.2.4.102": H264,  # High Profile / Level 4.1
    "1.2.840.10008.1.2.4.102.1": H264,
    "1.2.840.10008.1.2.4.103": H264,  # BD-compatible High Profile / Level 4.1
    "1.2.840.10008.1.2.4.103.1": H264,
    "1.2.840.10008.1.2.4.104": H264,  # High Profile / Level 4.2 for 2D video
    "1.2.840.10008.1.2.4.104.1": H264,
    "1.2.840.10008.1.2.4.105": H264,  # High Profile / Level 4.2 for 3D video
    "1.2.840.10008.1.2.4.105.1": H264,
    "1.2.840.10008.1.2.4.106": H264,  # Stereo High Profile / Level 4.2
    "1.2.840.10008.1.2.4.106.1": H264,
    "1.2.840.10008.1.2.4.107": HEVC,  # HEVC Main Profile / Level 5.1
    "1.2.840.10008.1.2.4.108": HEVC,  # HEVC Main 10 Profile / Level 5.1
}

EDIT_REFUSAL = (
    "the pixels are a compressed video stream (MPEG-2, H.264 or HEVC): frames cannot be edited in place; "
    "export the frames to edit them"
)
"""Why a video document cannot be edited (shown to the user)."""


def is_video_syntax(transfer_syntax: str) -> bool:
    """True for the MPEG-2, H.264 and HEVC transfer syntaxes (and their fragmentable variants)."""
    return str(transfer_syntax) in VIDEO_SYNTAXES


def codec_for(path: str, transfer_syntax: str) -> VideoCodec:
    """The codec of a video transfer syntax.

    Raises
    ------
    UnsupportedError
        If `transfer_syntax` is not a video syntax.
    """
    codec = VIDEO_SYNTAXES.get(str(transfer_syntax))
    if codec is None:
        raise UnsupportedError(path, f"{transfer_syntax} is not a video transfer syntax")
    return codec


def require_av(path: str | None) -> Any:
    """The ``av`` module (PyAV), or a clear error when it is missing."""
    try:
        import av
    except ImportError as exc:
        raise UnsupportedError(
            path, f"video pixel data needs PyAV, which could not be imported ({exc}); install it with: pip install av"
        ) from exc
    return av


# ------------------------------------------------------------ key pictures
_H264_IDR = 5
_HEVC_CLOSED = frozenset({17, 18, 19, 20})  # BLA_W_RADL, BLA_N_LP, IDR_W_RADL, IDR_N_LP: no skipped leading pictures
_MPEG2_GOP_START = b"\x00\x00\x01\xb8"
_MPEG2_PICTURE_START = b"\x00\x00\x01\x00"


def key_is_closed(codec: VideoCodec, data: bytes) -> bool:
    """True if the key picture starting `data` begins a closed GOP.

    Only the first bytes of the packet are looked at (the NAL unit headers or
    the MPEG-2 GOP header before the first picture). False means "open or
    unknown": the decoder learns the GOP's leading pictures when it first
    decodes across it.
    """
    if codec.family == "mpeg2":
        return _mpeg2_closed(data)
    for nal_header in _nal_headers(data):
        if codec.family == "h264":
            kind = nal_header & 0x1F
            if kind == _H264_IDR:
                return True
            if 1 <= kind <= 4:  # a non-IDR slice comes first: open
                return False
        else:
            kind = (nal_header >> 1) & 0x3F
            if kind < 32:  # the first slice (VCL NAL unit) decides
                return kind in _HEVC_CLOSED
    return False


def _nal_headers(data: bytes, limit: int = 64):
    """The first byte of each NAL unit in an Annex B byte stream (at most `limit`)."""
    position = 0
    for _ in range(limit):
        found = data.find(b"\x00\x00\x01", position)
        if found < 0 or found + 3 >= len(data):
            return
        yield data[found + 3]
        position = found + 3


def _mpeg2_closed(data: bytes) -> bool:
    gop = data.find(_MPEG2_GOP_START)
    picture = data.find(_MPEG2_PICTURE_START)
    if gop < 0 or (0 <= picture < gop) or gop + 8 > len(data):
        return False
    # group_of_pictures_header: time_code (25 bits), closed_gop (1), broken_link (1)
    flags = data[gop + 7]
    return bool(flags & 0x40) and not flags & 0x20
