"""Header-only scan of the instances of a whole-slide series in one folder.

Each candidate file is parsed by pydicom up to the Per-frame Functional Groups
Sequence, the Extended Offset Table or the Pixel Data, whichever comes first
(:func:`viewer.model.dicom.header.parse_header`): no pixel data and no
per-frame item is read, so a folder of 200,000-tile levels scans in
milliseconds. What the slide needs of each instance is kept in an
:class:`InstanceHeader`; the parsed dataset is dropped (except for small
associated images, which are opened as documents on demand).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from viewer.model.dicom import header
from viewer.model.dicom.functional_groups import PER_FRAME_TAG
from viewer.model.errors import DicomError, NotDicomError, UnsupportedError

WSM_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
EXTENDED_OFFSET_TAG = 0x7FE00001
EXTENDED_LENGTHS_TAG = 0x7FE00002
_STOP_TAGS = frozenset({PER_FRAME_TAG, EXTENDED_OFFSET_TAG, EXTENDED_LENGTHS_TAG})
_DEFER_BYTES = 4096  # ICC profiles and other large values stay unread
FLAVOURS = ("VOLUME", "LABEL", "OVERVIEW", "THUMBNAIL")


@dataclass(frozen=True)
class InstanceHeader:
    """What a slide needs to know of one instance, from its header alone."""

    path: str
    sop_instance_uid: str
    series_uid: str
    flavour: str  # VOLUME, LABEL, OVERVIEW or THUMBNAIL (Image Type's third value)
    width: int  # Total Pixel Matrix Columns
    height: int
    tile_width: int  # Columns
    tile_height: int  # Rows
    frames: int
    samples: int
    bits_allocated: int
    pixel_representation: int
    planar_configuration: int
    photometric: str
    transfer_syntax: str
    transfer_syntax_name: str
    implicit_vr: bool
    little_endian: bool
    tiling: str  # TILED_FULL or TILED_SPARSE
    pixel_spacing: tuple[float, float] | None  # (row, column) spacing in mm
    concatenation_uid: str | None
    frame_offset: int  # Concatenation Frame Offset Number (0 if not concatenated)
    focal_planes: int
    optical_paths: int
    stop_offset: int  # where the header parse stopped: per-frame groups, offset table or pixel data
    file_size: int
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns
    origin_mm: tuple[float, float] | None = None  # Total Pixel Matrix Origin: X, Y in the slide coordinate system
    orientation: tuple[float, ...] | None = None  # Image Orientation (Slide): row then column direction cosines


def looks_like_slide(path: str) -> bool:
    """True for a folder, or a file whose meta header names VL Whole Slide Microscopy (one 4 KB read).

    A quick test for choosing between :func:`~viewer.model.open_slide` and
    :func:`~viewer.model.open_document`; :func:`scan_file` is the real check.
    """
    if os.path.isdir(path):
        return True
    try:
        with open(path, "rb") as fileobj:
            head = fileobj.read(4096)
    except OSError:
        return False
    return head[128:132] == b"DICM" and WSM_SOP_CLASS.encode() in head


def folder_has_slide(folder: str) -> bool:
    """True if a file of `folder` looks like a VL Whole Slide Microscopy image (stops at the first)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return False
    return any(not entry.name.startswith(".") and entry.is_file() and looks_like_slide(entry.path)
               for entry in entries)


def scan_file(path: str) -> InstanceHeader | None:
    """The header of `path` if it is a VL Whole Slide Microscopy image, else None.

    Raises
    ------
    DicomError
        If the file claims to be such an image but its header is unusable.
    """
    try:
        with open(path, "rb") as fileobj:
            status = os.fstat(fileobj.fileno())
            head = fileobj.read(132)
            if len(head) < 132 or head[128:132] != b"DICM":
                return None
            fileobj.seek(0)
            dataset = header.parse_header(path, fileobj, _DEFER_BYTES, _STOP_TAGS)
            stop = fileobj.tell()
    except (NotDicomError, OSError):
        return None
    if str(dataset.get("SOPClassUID", "")) != WSM_SOP_CLASS:
        return None
    identity = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    return _instance_header(path, dataset, stop, identity)


def _instance_header(path: str, ds: Dataset, stop: int, identity: tuple[int, int, int, int]) -> InstanceHeader:
    syntax = header.transfer_syntax_of(ds)
    image_type = [str(value).upper() for value in (ds.get("ImageType") or [])]
    flavour = image_type[2] if len(image_type) > 2 and image_type[2] in FLAVOURS else "VOLUME"
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        width = int(ds.get("TotalPixelMatrixColumns") or columns)
        height = int(ds.get("TotalPixelMatrixRows") or rows)
        values = dict(
            frames=int(ds.get("NumberOfFrames") or 1),
            samples=int(ds.get("SamplesPerPixel") or 1),
            bits_allocated=int(ds.BitsAllocated),
            pixel_representation=int(ds.get("PixelRepresentation") or 0),
            planar_configuration=int(ds.get("PlanarConfiguration") or 0),
            frame_offset=int(ds.get("ConcatenationFrameOffsetNumber") or 0),
            focal_planes=int(ds.get("TotalPixelMatrixFocalPlanes") or 1),
            optical_paths=int(ds.get("NumberOfOpticalPaths") or 1),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomError(path, f"the whole-slide image header is incomplete: {exc}") from exc
    if min(rows, columns, width, height, values["frames"]) <= 0:
        raise DicomError(path, "the whole-slide image declares an empty tile or pixel matrix")
    if values["bits_allocated"] not in (8, 16):
        raise UnsupportedError(path, f"whole-slide tiles of {values['bits_allocated']} bits are not supported")
    if not syntax.is_little_endian:
        raise UnsupportedError(path, f"whole-slide tiles in {syntax.name} are not supported")
    return InstanceHeader(
        path=path,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        flavour=flavour,
        width=width,
        height=height,
        tile_width=columns,
        tile_height=rows,
        photometric=str(ds.get("PhotometricInterpretation", "RGB")).strip(),
        transfer_syntax=str(syntax),
        transfer_syntax_name=syntax.name,
        implicit_vr=syntax.is_implicit_VR,
        little_endian=True,
        tiling=str(ds.get("DimensionOrganizationType", "") or "TILED_FULL").strip().upper(),
        pixel_spacing=_pixel_spacing(ds),
        concatenation_uid=str(ds.get("ConcatenationUID") or "") or None,
        stop_offset=stop,
        file_size=identity[2],
        identity=identity,
        origin_mm=_origin(ds),
        orientation=_orientation(ds),
        **values,
    )


def _origin(ds: Dataset) -> tuple[float, float] | None:
    """(X, Y) in mm of the top-left pixel's position on the slide (Total Pixel Matrix Origin), or None."""
    try:
        item = (ds.get("TotalPixelMatrixOriginSequence") or [None])[0]
        if item is None:
            return None
        return float(item.XOffsetInSlideCoordinateSystem), float(item.YOffsetInSlideCoordinateSystem)
    except (AttributeError, TypeError, ValueError):  # a malformed origin: mm from the image corner instead
        return None


def _orientation(ds: Dataset) -> tuple[float, ...] | None:
    try:
        values = tuple(float(value) for value in ds.get("ImageOrientationSlide") or ())
    except (TypeError, ValueError):
        return None
    return values if len(values) == 6 else None


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """Pixel Spacing from the Shared Functional Groups' Pixel Measures (else the top level)."""
    candidates: list[Any] = []
    try:
        for shared in ds.get("SharedFunctionalGroupsSequence") or []:
            for measures in shared.get("PixelMeasuresSequence") or []:
                candidates.append(measures.get("PixelSpacing"))
    except Exception:  # a malformed sequence: no spacing rather than no slide
        pass
    candidates.append(ds.get("PixelSpacing"))
    for spacing in candidates:
        try:
            if spacing is not None and len(spacing) == 2 and float(spacing[0]) > 0 and float(spacing[1]) > 0:
                return float(spacing[0]), float(spacing[1])
        except (TypeError, ValueError):
            continue
    return None


def series_in_folder(folder: str, series_uid: str | None, first: InstanceHeader | None = None) -> list[InstanceHeader]:
    """Every instance of `series_uid` in `folder` (of the first WSI series found if None).

    Unreadable or unrelated files are skipped; hidden files (journals) too.
    """
    found = [first] if first is not None else []
    known = {first.path} if first is not None else set()
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise DicomError(folder, f"cannot list the folder: {exc.strerror}") from exc
    for name in names:
        path = os.path.join(folder, name)
        if name.startswith(".") or path in known or not os.path.isfile(path):
            continue
        try:
            instance = scan_file(path)
        except DicomError:
            continue  # another file of the folder being broken does not stop the slide
        if instance is None:
            continue
        if series_uid is None:
            series_uid = instance.series_uid
        if instance.series_uid == series_uid:
            found.append(instance)
    return found
