"""The header of a synthetic file: every module except Pixel Data, built with pydicom.

Split from :mod:`viewer.synthetic.cine`, which streams the pixels after it.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from viewer.synthetic.pattern import PixelFormat, Region

MAX_PIXEL_DATA_BYTES = 0xFFFFFFFE
"""Largest explicit length a Pixel Data element can have (even, < 2**32 - 1)."""

SOP_CLASS_SC_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"  # Multi-frame Grayscale Byte SC
SOP_CLASS_SC_WORD = "1.2.840.10008.5.1.4.1.1.7.3"  # Multi-frame Grayscale Word SC
SOP_CLASS_SC_COLOUR = "1.2.840.10008.5.1.4.1.1.7.4"  # Multi-frame True Color SC
SOP_CLASS_US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame

FRAME_TIME_TAG = 0x00181063
PIXEL_DATA_TAG = (0x7FE0, 0x0010)


def sop_class(kind: str, bits_allocated: int, samples_per_pixel: int) -> str:
    """SOP Class UID of the IOD matching the kind and the sample format."""
    if kind == "us":
        return SOP_CLASS_US_MULTIFRAME
    if samples_per_pixel == 3:
        return SOP_CLASS_SC_COLOUR
    return SOP_CLASS_SC_BYTE if bits_allocated == 8 else SOP_CLASS_SC_WORD


def transfer_syntax(big_endian: bool, implicit_vr: bool) -> str:
    """Transfer Syntax UID for the requested encoding."""
    if big_endian and implicit_vr:
        raise ValueError("there is no implicit VR big endian transfer syntax")
    if big_endian:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian


def new_instance(sop_class: str, now: datetime.datetime) -> Dataset:
    """A data set of `sop_class` with a new instance UID, its creation time, and the Patient and Study modules.

    The start of every synthetic cine's and video's header.
    """
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    _add_patient_and_study(ds, now)
    return ds


def _add_patient_and_study(ds: Dataset, now: datetime.datetime) -> None:
    """Patient and General Study modules."""
    ds.PatientName = "Synthetic^Cine"
    ds.PatientID = "CINEMAP-SYNTHETIC"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.StudyDescription = "Cinemap synthetic cine"


def _add_series_and_equipment(ds: Dataset, kind: str, now: datetime.datetime) -> None:
    """General Series, General Equipment and (for SC) SC Equipment modules."""
    ds.Modality = "US" if kind == "us" else "OT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    # An unpaired body part makes Laterality (type 2C) not required.
    ds.BodyPartExamined = "HEART"
    ds.SeriesDate = now.strftime("%Y%m%d")
    ds.SeriesTime = now.strftime("%H%M%S")
    ds.SeriesDescription = "Synthetic moving rings"
    ds.Manufacturer = "Cinemap"
    ds.ManufacturerModelName = "Cinemap synthetic writer"
    ds.SoftwareVersions = "1"
    if kind == "sc":
        ds.ConversionType = "SYN"


def _add_general_image(ds: Dataset, kind: str, burned_in: str, now: datetime.datetime) -> None:
    """General Image module (and the SC / US image type attributes)."""
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "PRIMARY"] if kind == "us" else ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = burned_in
    ds.LossyImageCompression = "00"


def _add_image_pixel(ds: Dataset, fmt: PixelFormat, rows: int, columns: int,
                     planar_configuration: int) -> None:
    """Image Pixel module, without Pixel Data (written by hand)."""
    ds.SamplesPerPixel = fmt.samples_per_pixel
    ds.PhotometricInterpretation = "RGB" if fmt.samples_per_pixel == 3 else "MONOCHROME2"
    if fmt.samples_per_pixel == 3:
        ds.PlanarConfiguration = planar_configuration
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = fmt.bits_allocated
    ds.BitsStored = fmt.bits_allocated
    ds.HighBit = fmt.bits_allocated - 1
    ds.PixelRepresentation = int(fmt.signed)


def _add_cine_and_multiframe(ds: Dataset, frames: int, frame_time_ms: float) -> None:
    """Cine and Multi-frame modules (Frame Increment Pointer -> Frame Time)."""
    if not frame_time_ms > 0:
        raise ValueError(f"frame_time_ms must be positive, not {frame_time_ms!r}")
    rate = max(1, round(1000.0 / frame_time_ms))
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = FRAME_TIME_TAG
    ds.FrameTime = format_number_as_ds(float(frame_time_ms))
    ds.CineRate = rate
    ds.RecommendedDisplayFrameRate = rate


def _add_grey_presentation(ds: Dataset, fmt: PixelFormat, kind: str,
                           window: tuple[float, float] | None,
                           rescale: tuple[float, float] | None) -> None:
    """Presentation LUT Shape, rescale and window attributes for grey images."""
    sc_grey = kind == "sc" and fmt.samples_per_pixel == 1
    if rescale is not None and not (sc_grey and fmt.bits_allocated == 16):
        raise ValueError("rescale is only allowed for kind='sc' 16-bit grey images")
    if sc_grey:  # the SC Multi-frame Image module requires them for grey
        slope, intercept = rescale if rescale is not None else (1.0, 0.0)
        ds.RescaleIntercept = format_number_as_ds(float(intercept))
        ds.RescaleSlope = format_number_as_ds(float(slope))
        ds.RescaleType = "US"
    if window is not None:
        if fmt.samples_per_pixel != 1:
            raise ValueError("window is only allowed for grey images")
        ds.WindowCenter = format_number_as_ds(float(window[0]))
        ds.WindowWidth = format_number_as_ds(float(window[1]))
    if sc_grey:
        ds.PresentationLUTShape = "IDENTITY"


def _us_region_item(region: Region) -> Dataset:
    """One item of the Sequence of Ultrasound Regions (2D tissue, 0.2 mm/pixel)."""
    x0, y0, x1, y1 = region
    item = Dataset()
    item.RegionSpatialFormat = 1  # 2D
    item.RegionDataType = 1  # tissue
    item.RegionFlags = 0
    item.RegionLocationMinX0 = x0
    item.RegionLocationMinY0 = y0
    item.RegionLocationMaxX1 = x1
    item.RegionLocationMaxY1 = y1
    item.PhysicalUnitsXDirection = 3  # cm
    item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = 0.02
    item.PhysicalDeltaY = 0.02
    return item


def _add_ultrasound(ds: Dataset, regions: Sequence[Region]) -> None:
    """US Region Calibration module (Sequence of Ultrasound Regions)."""
    ds.SequenceOfUltrasoundRegions = DicomSequence([_us_region_item(r) for r in regions])


def build_dataset(
    *, sop_class: str, fmt: PixelFormat, rows: int, columns: int, frames: int,
    planar_configuration: int, kind: str, frame_time_ms: float,
    regions: Sequence[Region], burned_in_annotation: str,
    window: tuple[float, float] | None, rescale: tuple[float, float] | None,
) -> Dataset:
    """The whole data set except Pixel Data."""
    now = datetime.datetime.now()
    ds = new_instance(sop_class, now)
    _add_series_and_equipment(ds, kind, now)
    _add_general_image(ds, kind, burned_in_annotation, now)
    _add_image_pixel(ds, fmt, rows, columns, planar_configuration)
    _add_cine_and_multiframe(ds, frames, frame_time_ms)
    _add_grey_presentation(ds, fmt, kind, window, rescale)
    if kind == "us":
        _add_ultrasound(ds, regions)
    return ds


def file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    """File Meta Information group for ``ds``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CINEMAP_SYNTH"
    return meta


def encode_header(ds: Dataset) -> bytes:
    """Preamble, File Meta Information and data set, encoded by pydicom."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def pixel_data_element_header(length: int, *, bits_allocated: int, big_endian: bool,
                               implicit_vr: bool) -> bytes:
    """Tag, VR and explicit length of the Pixel Data element."""
    if length > MAX_PIXEL_DATA_BYTES or length % 2:
        raise ValueError(f"bad Pixel Data length {length}")
    group, element = PIXEL_DATA_TAG
    order = ">" if big_endian else "<"
    tag = np.array([group, element], dtype=f"{order}u2").tobytes()
    size = np.array([length], dtype=f"{order}u4").tobytes()
    if implicit_vr:
        return tag + size
    vr = b"OW" if bits_allocated == 16 else b"OB"
    return tag + vr + b"\x00\x00" + size

