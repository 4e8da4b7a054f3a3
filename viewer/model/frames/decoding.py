"""pydicom's decoders, looked up once per transfer syntax, and their errors as DicomError.

Every decode in the model (frames, slide tiles) goes through
:func:`decode_errors`, the one place that turns whatever a decoder plugin
raises for bad data into a :class:`~viewer.model.errors.UnsupportedError`
(or another DicomError) naming the file and the frame.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pydicom
from pydicom.pixels import get_decoder

from viewer.model.errors import DicomError, UnsupportedError, is_decoder_panic

_DECODERS: dict[str, Any] = {}
"""Available decoders by transfer syntax (looking one up and checking its plugins costs ~40 us)."""


def decoder_for(path: str, syntax: pydicom.uid.UID) -> Any:
    """pydicom's decoder for `syntax`.

    Raises
    ------
    UnsupportedError
        If pydicom has no decoder for it, or no plugin for it is installed.
    """
    decoder = _DECODERS.get(syntax)
    if decoder is not None:
        return decoder
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise UnsupportedError(path, f"the transfer syntax {syntax.name} ({syntax}) is not supported") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin installed"
        raise UnsupportedError(path, f"no decoder available for {syntax.name}: {missing}")
    _DECODERS[syntax] = decoder
    return decoder


@contextlib.contextmanager
def decode_errors(path: str, what: str, error: type[DicomError] = UnsupportedError) -> Iterator[None]:
    """Turn a decoder's failure on `what` ("frame 3", "a tile") into `error`; DicomErrors pass through."""
    try:
        yield
    except DicomError:
        raise
    except MemoryError as exc:
        raise error(path, f"{what} is too large to decode in memory") from exc
    except Exception as exc:
        raise error(path, f"cannot decode {what}: {exc}") from exc
    except BaseException as exc:
        if not is_decoder_panic(exc):
            raise
        raise error(path, f"the decoder failed on {what}: {exc}") from exc
