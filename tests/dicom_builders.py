"""Small native DICOM files built with pydicom, shared by the editing tests."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)


def write_dicom(path, pixels: np.ndarray, *, planar: int = 0, big_endian: bool = False) -> None:
    """A native multi-frame DICOM file holding `pixels` (frames, rows, cols[, samples])."""
    samples = pixels.shape[3] if pixels.ndim == 4 else 1
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian if big_endian else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.BurnedInAnnotation = "YES"
    ds.Rows, ds.Columns = pixels.shape[1:3]
    ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "RGB" if samples == 3 else "MONOCHROME2"
    if samples > 1:
        ds.PlanarConfiguration = planar
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = encode_pixels(pixels, planar=planar, big_endian=big_endian)
    ds["PixelData"].VR = "OW" if bits > 8 else "OB"
    ds.save_as(path, enforce_file_format=True)


def encode_pixels(pixels: np.ndarray, *, planar: int = 0, big_endian: bool = False) -> bytes:
    stored = pixels.transpose(0, 3, 1, 2) if planar else pixels
    return np.ascontiguousarray(stored, dtype=pixels.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
