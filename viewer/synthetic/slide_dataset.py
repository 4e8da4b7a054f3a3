"""DICOM attributes of the synthetic whole-slide images (VL Whole Slide Microscopy Image IOD).

One function builds the header of any instance of the series: a pyramid
level (or one part of a concatenated level), the label, the overview or the
thumbnail. Everything a reader such as wsidicom needs is here: Total Pixel
Matrix Columns/Rows, Dimension Organization Type, Shared Functional Groups
with Pixel Measures, the Optical Path, Image Type's third value.
The Per-frame Functional Groups of TILED_SPARSE instances are written as
bytes by :func:`sparse_item` (one template-free item per tile, no pydicom
dataset per tile: 150,000 items take a second, not a minute).
"""

from __future__ import annotations

import datetime
import functools
import struct
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from viewer.synthetic.dataset import file_meta
from viewer.synthetic.elements import ElementEncoder

WSM_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
"""VL Whole Slide Microscopy Image Storage."""

IMAGE_TYPES = {
    "VOLUME": ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"],
    "RESAMPLED": ["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"],
    "LABEL": ["ORIGINAL", "PRIMARY", "LABEL", "NONE"],
    "OVERVIEW": ["ORIGINAL", "PRIMARY", "OVERVIEW", "NONE"],
    "THUMBNAIL": ["DERIVED", "PRIMARY", "THUMBNAIL", "RESAMPLED"],
}


@dataclass(frozen=True)
class SeriesUids:
    """UIDs shared by every instance of one synthetic slide."""

    study: str
    series: str
    frame_of_reference: str
    dimension_organization: str

    @classmethod
    def new(cls) -> "SeriesUids":
        return cls(generate_uid(), generate_uid(), generate_uid(), generate_uid())


@dataclass(frozen=True)
class InstanceGeometry:
    """What differs between the instances of a slide."""

    flavour: str  # a key of IMAGE_TYPES
    width: int  # Total Pixel Matrix Columns
    height: int
    tile_width: int
    tile_height: int
    frames: int  # in this file
    pixel_spacing_mm: float
    tiling: str = "TILED_FULL"
    instance_number: int = 1
    concatenation: tuple[str, str, int, int, int] | None = None
    """(Concatenation UID, source SOP Instance UID, part number, frame offset, parts)."""


def build_dataset(
    uids: SeriesUids, geometry: InstanceGeometry, *, photometric: str, lossy: bool, transfer_syntax: str,
    patient_name: str, burned_in: bool,
) -> Dataset:
    """The header of one instance (without Pixel Data and Per-frame Functional Groups)."""
    ds = Dataset()
    now = datetime.datetime(2024, 5, 17, 9, 30, 0)
    _identity(ds, uids, geometry, patient_name, now)
    _image(ds, geometry, photometric, lossy, burned_in, now)
    _functional_groups(ds, uids, geometry)
    _specimen_and_optics(ds)
    ds.file_meta = file_meta(ds, transfer_syntax)
    return ds


def _identity(ds: Dataset, uids: SeriesUids, geometry: InstanceGeometry, patient_name: str, now) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = WSM_SOP_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.AccessionNumber = "A20240042"
    ds.Modality = "SM"
    ds.Manufacturer = "Cinemap synthetic"
    ds.ReferringPhysicianName = ""
    ds.PatientName = patient_name
    ds.PatientID = "PID-0042"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = uids.study
    ds.SeriesInstanceUID = uids.series
    ds.StudyID = "S42"
    ds.SeriesNumber = 1
    ds.InstanceNumber = geometry.instance_number
    ds.FrameOfReferenceUID = uids.frame_of_reference
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.ManufacturerModelName = "synthetic"
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "cinemap"
    if geometry.concatenation is not None:
        concatenation_uid, source_uid, part, offset, parts = geometry.concatenation
        ds.ConcatenationUID = concatenation_uid
        ds.SOPInstanceUIDOfConcatenationSource = source_uid
        ds.InConcatenationNumber = part
        ds.ConcatenationFrameOffsetNumber = offset
        ds.InConcatenationTotalNumber = parts


def _image(ds: Dataset, geometry: InstanceGeometry, photometric: str, lossy: bool, burned_in: bool, now) -> None:
    ds.ImageType = IMAGE_TYPES[geometry.flavour]
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    ds.SpecimenLabelInImage = "YES" if burned_in else "NO"
    ds.FocusMethod = "AUTO"
    ds.ExtendedDepthOfField = "NO"
    ds.VolumetricProperties = "VOLUME"
    ds.ImagedVolumeWidth = round(geometry.width * geometry.pixel_spacing_mm, 6)
    ds.ImagedVolumeHeight = round(geometry.height * geometry.pixel_spacing_mm, 6)
    ds.ImagedVolumeDepth = 0.001
    ds.TotalPixelMatrixColumns = geometry.width
    ds.TotalPixelMatrixRows = geometry.height
    ds.TotalPixelMatrixFocalPlanes = 1
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem = 20.0
    origin.YOffsetInSlideCoordinateSystem = 40.0
    ds.TotalPixelMatrixOriginSequence = DicomSequence([origin])
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.NumberOfFrames = geometry.frames
    ds.Rows = geometry.tile_height
    ds.Columns = geometry.tile_width
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.AcquisitionDuration = 60.0
    ds.LossyImageCompression = "01" if lossy else "00"
    if lossy:
        ds.LossyImageCompressionRatio = 10.0
        ds.LossyImageCompressionMethod = "ISO_10918_1" if photometric == "YBR_FULL_422" else "ISO_15444_1"
    ds.DimensionOrganizationType = geometry.tiling
    ds.ContentQualification = "RESEARCH"
    if geometry.flavour == "LABEL":
        # The label's text and barcode are in the header too (Slide Label module):
        # masking the label's pixels never removes them.
        ds.BarcodeValue = "S-2024-0042"
        ds.LabelText = "S-2024-0042 H&E"


def _functional_groups(ds: Dataset, uids: SeriesUids, geometry: InstanceGeometry) -> None:
    organization = Dataset()
    organization.DimensionOrganizationUID = uids.dimension_organization
    ds.DimensionOrganizationSequence = DicomSequence([organization])
    indices = []
    for keyword, pointer in (("ColumnPositionInTotalImagePixelMatrix", 0x0048021E),
                             ("RowPositionInTotalImagePixelMatrix", 0x0048021F)):
        index = Dataset()
        index.DimensionOrganizationUID = uids.dimension_organization
        index.DimensionIndexPointer = pointer
        index.FunctionalGroupPointer = 0x0048021A
        index.DimensionDescriptionLabel = keyword[:16]
        indices.append(index)
    ds.DimensionIndexSequence = DicomSequence(indices)
    measures = Dataset()
    measures.PixelSpacing = [round(geometry.pixel_spacing_mm, 9)] * 2
    measures.SliceThickness = 0.001
    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence([measures])
    frame_type = Dataset()
    frame_type.FrameType = IMAGE_TYPES[geometry.flavour]
    shared.WholeSlideMicroscopyImageFrameTypeSequence = DicomSequence([frame_type])
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    shared.OpticalPathIdentificationSequence = DicomSequence([path])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _specimen_and_optics(ds: Dataset) -> None:
    ds.ContainerIdentifier = "SLIDE-0042"
    ds.IssuerOfTheContainerIdentifierSequence = DicomSequence()
    ds.ContainerTypeCodeSequence = DicomSequence([_code("433466003", "SCT", "Microscope slide")])
    ds.AcquisitionContextSequence = DicomSequence()
    specimen = Dataset()
    specimen.SpecimenIdentifier = "SPEC-0042"
    specimen.SpecimenUID = "2.25.1234567890123456789"
    specimen.IssuerOfTheSpecimenIdentifierSequence = DicomSequence()
    specimen.SpecimenPreparationSequence = DicomSequence()
    ds.SpecimenDescriptionSequence = DicomSequence([specimen])
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    path.IlluminationTypeCodeSequence = DicomSequence([_code("111744", "DCM", "Brightfield illumination")])
    path.IlluminationColorCodeSequence = DicomSequence([_code("414298005", "SCT", "Full Spectrum")])
    path.ICCProfile = srgb_profile()
    ds.NumberOfOpticalPaths = 1
    ds.OpticalPathSequence = DicomSequence([path])


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile (colour images need one in the Optical Path)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# ------------------------------------------------------ per-frame items as bytes
_ENCODER = ElementEncoder(implicit_vr=False, undefined_lengths=False)  # items of defined length


def _ds(value: float) -> bytes:
    text = f"{value:.9f}"[:16].rstrip("0").rstrip(".") or "0"
    return text.encode("ascii")


def sparse_item(column: int, row: int, tile_column: int, tile_row: int, x_mm: float, y_mm: float) -> bytes:
    """One Per-frame Functional Groups item (with its item header) for the tile at 1-based pixel (column, row).

    The Dimension Index Values are the 1-based tile column and row: the
    indices of the tile's positions among the distinct positions.
    """
    encode = _ENCODER
    index = struct.pack("<II", tile_column, tile_row)
    content = encode.sequence(0x0020, 0x9111, encode.element(0x0020, 0x9157, b"UL", index))
    position = (
        encode.element(0x0040, 0x072A, b"DS", _ds(x_mm))
        + encode.element(0x0040, 0x073A, b"DS", _ds(y_mm))
        + encode.element(0x0040, 0x074A, b"DS", b"0")
        + encode.element(0x0048, 0x021E, b"SL", struct.pack("<i", column))
        + encode.element(0x0048, 0x021F, b"SL", struct.pack("<i", row))
    )
    return encode.item(content + encode.sequence(0x0048, 0x021A, position))
