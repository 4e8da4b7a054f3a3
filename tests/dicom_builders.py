"""Small native DICOM files built with pydicom, shared by the editing tests."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
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


def write_enhanced(path, frames, *, undefined=True, implicit=False, rows=8, columns=8, bits_stored=16,
                   voi=False, sop_instance_uid=None):
    """A small enhanced CT file with one Per-frame Functional Groups item per frame.

    Frame k has Rescale Slope 1 + (k % 7) / 8 and Intercept -1024 + k % 13 (and,
    with `voi`, a window centred on 40 + k); with `undefined` the sequence, its
    items and their sequences have undefined lengths, as vendors write them.
    """
    dataset = Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    dataset.SOPInstanceUID = sop_instance_uid or generate_uid()
    dataset.Modality = "CT"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = (
        16, bits_stored, bits_stored - 1, 1)
    dataset.NumberOfFrames = frames
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.5]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    dataset.SharedFunctionalGroupsSequence = Sequence([shared])
    items = []
    for index in range(frames):
        content, position, transform = Dataset(), Dataset(), Dataset()
        content.FrameAcquisitionNumber = index
        position.ImagePositionPatient = [0, 0, float(index)]
        transform.RescaleSlope = 1 + (index % 7) / 8
        transform.RescaleIntercept = -1024 + index % 13
        transform.RescaleType = "HU"
        item = Dataset()
        item.FrameContentSequence = Sequence([content])
        item.PlanePositionSequence = Sequence([position])
        item.PixelValueTransformationSequence = Sequence([transform])
        if voi:
            window = Dataset()
            window.WindowCenter, window.WindowWidth = 40 + index, 400
            item.FrameVOILUTSequence = Sequence([window])
        items.append(item)
    dataset.PerFrameFunctionalGroupsSequence = Sequence(items)
    if undefined:
        dataset["PerFrameFunctionalGroupsSequence"].is_undefined_length = True
        for item in items:
            item.is_undefined_length_sequence_item = True
            for element in item:
                element.is_undefined_length = True
    span = 1 << bits_stored
    dataset.PixelData = (np.arange(frames * rows * columns, dtype=np.int64) % span - span // 2).astype(np.int16).tobytes()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.save_as(path, enforce_file_format=True)
    return path
