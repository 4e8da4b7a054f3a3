"""The grey display pipeline (viewer.model.display.pipeline) against pydicom's own."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from display_reference import assert_grey_close, data_window, decodable_grey_files, pydicom_grey, with_window
from reference_files import reference_files
from viewer.model import WindowPreset, open_document
from viewer.model.display import render
from viewer.model.display.metadata import VoiRef
from viewer.model.display.pipeline import ComputedMapping, GreyPipeline, LinearMapping, TableMapping
from viewer.synthetic.enhanced import write_enhanced

FILES = decodable_grey_files()


def _reference(name: str):
    return next(path for path in reference_files() if path.name == name)


def _pydicom_frames(path):
    """Frame 0 and the last frame as pydicom decodes them, with the dataset."""
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames == 1 and pixels.ndim == 2:
        return dataset, {0: pixels}
    return dataset, {0: pixels[0], frames - 1: pixels[-1]}


def test_the_reference_files_include_the_interesting_cases():
    names = {path.name for path in FILES}
    assert {"vlut_04.dcm", "mlut_18.dcm", "RG1_UNCR.dcm", "CT_small.dcm", "MR_small.dcm"} <= names


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_default_display_equals_pydicom(path):
    dataset, frames = _pydicom_frames(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        choice = pipeline.default_choice()
        if choice is None:  # no VOI in the file: the automatic window, which pydicom is then given
            choice = pipeline.automatic_window((index, document.frame(index)) for index in frames)
            dataset = with_window(dataset, choice.center, choice.width)
        for index, expected_frame in frames.items():
            got = pipeline.render(document.frame(index), index, choice)
            assert_grey_close(got, pydicom_grey(dataset, expected_frame))


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_a_chosen_window_equals_pydicom(path):
    dataset, frames = _pydicom_frames(path)
    index, frame = next(iter(frames.items()))
    center, width = data_window(dataset, frame)
    with open_document(path) as document:
        got = GreyPipeline.for_document(document).render(document.frame(index), index, WindowPreset(center, width, "t"))
    assert_grey_close(got, pydicom_grey(with_window(dataset, center, width), frame))


def test_vlut_04_shows_its_voi_lut_by_default():
    path = _reference("vlut_04.dcm")
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        presets = pipeline.presets()
        assert [preset.source for preset in presets] == [VoiRef("lut", 0)]
        assert presets[0].name == "File VOI LUT 1"  # its LUT Explanation is empty
        assert document.window_presets == presets
        assert isinstance(pipeline.mapping(0, presets[0]), TableMapping)
        got = pipeline.render(document.frame(0), 0, presets[0])
    dataset = pydicom.dcmread(path)
    assert_grey_close(got, pydicom_grey(dataset, dataset.pixel_array))


def _with_curved_voi_lut(path, tmp_path, vr="US"):
    """vlut_04 with a gamma-shaped VOI LUT (its own LUT is a straight line) and an explanation."""
    dataset = pydicom.dcmread(path)
    curve = np.rint(4095 * (np.arange(256) / 255.0) ** 2.2).astype(np.uint16)
    item = dataset.VOILUTSequence[0]
    item.LUTDescriptor = [256, 0, 12]
    item.LUTExplanation = "GAMMA"
    if vr == "OW":
        item["LUTData"].VR = "OW"
        item.LUTData = curve.astype("<u2").tobytes()
    else:
        item.LUTData = [int(value) for value in curve]
    target = tmp_path / f"curved_{vr}.dcm"
    dataset.save_as(target)
    return target, curve


@pytest.mark.parametrize("vr", ["US", "OW"])
def test_a_curved_voi_lut_is_applied_as_pydicom_does(tmp_path, vr):
    path, curve = _with_curved_voi_lut(_reference("vlut_04.dcm"), tmp_path, vr)
    dataset = pydicom.dcmread(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        choice = pipeline.default_choice()
        assert choice.name == "GAMMA"
        got = pipeline.render(document.frame(0), 0, choice)
    assert_grey_close(got, pydicom_grey(dataset, dataset.pixel_array))
    stored = dataset.pixel_array
    dark = stored == 64
    assert dark.any() and int(got[dark][0]) == round(255 * curve[64] / curve.max())  # not a straight line


def test_mlut_18_goes_through_its_modality_lut():
    path = _reference("mlut_18.dcm")
    dataset = pydicom.dcmread(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        assert pipeline.presets() == []
        window = WindowPreset(30000.0, 20000.0, "t")
        assert isinstance(pipeline.mapping(0, window), TableMapping)  # a Modality LUT is not linear in general
        got = pipeline.render(document.frame(0), 0, window)
        values = pipeline.modality(0, np.array([-2048, 0, 2047]))
        full = pipeline.full_range()
    assert_grey_close(got, pydicom_grey(with_window(dataset, 30000.0, 20000.0), dataset.pixel_array))
    lut = np.asarray(dataset.ModalityLUTSequence[0].LUTData)
    assert list(values) == [lut[0], lut[2048], lut[4095]]
    assert (full.center - full.width / 2, full.center + full.width / 2) == (lut.min(), lut.max() + 1)


def _variant(tmp_path, name: str, **changes):
    dataset = pydicom.dcmread(_reference("MR_small.dcm"))
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    target = tmp_path / f"{name}.dcm"
    dataset.save_as(target)
    return target


@pytest.mark.parametrize("function", ["LINEAR_EXACT", "SIGMOID"])
def test_voi_lut_functions_equal_pydicom(tmp_path, function):
    path = _variant(tmp_path, function, VOILUTFunction=function)
    dataset = pydicom.dcmread(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        choice = pipeline.default_choice()
        expected_kind = LinearMapping if function == "LINEAR_EXACT" else TableMapping
        assert isinstance(pipeline.mapping(0, choice), expected_kind)
        got = pipeline.render(document.frame(0), 0, choice)
    assert_grey_close(got, pydicom_grey(dataset, dataset.pixel_array))


def test_presentation_lut_shape_inverse_inverts_once(tmp_path):
    inverse = _variant(tmp_path, "inverse", PresentationLUTShape="INVERSE")
    plain = _variant(tmp_path, "plain")
    both = _variant(tmp_path, "both", PresentationLUTShape="INVERSE", PhotometricInterpretation="MONOCHROME1")
    shown = {}
    for name, path in (("inverse", inverse), ("plain", plain), ("both", both)):
        with open_document(path) as document:
            pipeline = GreyPipeline.for_document(document)
            shown[name] = pipeline.render(document.frame(0), 0, pipeline.default_choice())
    assert np.array_equal(shown["inverse"], 255 - shown["plain"])
    assert np.array_equal(shown["both"], shown["inverse"])


def test_a_window_past_the_stored_range_stretches_what_is_left(tmp_path):
    path = _variant(tmp_path, "eight", BitsStored=8, HighBit=7, PixelRepresentation=0, BitsAllocated=16)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        mapping = pipeline.mapping(0, WindowPreset(0.0, 1000.0, "wide"))
        assert mapping.levels == (0, 255)  # the window's lower half lies below the stored range


def _enhanced(tmp_path, frames=5):
    return write_enhanced(tmp_path / "enhanced.dcm", frames, window=True, bits_stored=12)


def _flattened(path, index):
    """The enhanced file's dataset with frame `index`'s groups as top-level attributes, and that frame."""
    dataset = pydicom.dcmread(path)
    item = dataset.PerFrameFunctionalGroupsSequence[index]
    flat = copy.deepcopy(dataset)
    for sequence in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
        for element in item[sequence][0]:
            flat[element.tag] = element
    return flat, dataset.pixel_array[index]


def test_enhanced_frames_use_their_own_rescale_and_window(tmp_path):
    path = _enhanced(tmp_path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        file_window_1 = pipeline.default_choice(0)
        assert file_window_1.source == VoiRef("window", 0)
        for index in range(document.num_frames):
            flat, frame = _flattened(path, index)
            assert pipeline.presets(index)[0].center == 40 + index
            got = pipeline.render(document.frame(index), index, file_window_1)
            assert_grey_close(got, pydicom_grey(flat, frame))


def test_enhanced_ct_with_shared_groups():
    path = _reference("eCT_Supplemental.dcm")
    dataset = pydicom.dcmread(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        choice = pipeline.default_choice(1)
        assert (choice.center, choice.width) == (49.0, 102.0)
        got = pipeline.render(document.frame(1), 1, choice)
    flat = copy.deepcopy(dataset)
    shared = dataset.SharedFunctionalGroupsSequence[0]
    for sequence in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
        for element in shared[sequence][0]:
            flat[element.tag] = element
    assert_grey_close(got, pydicom_grey(flat, dataset.pixel_array[1]))


def _thirty_two_bit(tmp_path, function):
    dataset = Dataset()
    dataset.Rows, dataset.Columns, dataset.SamplesPerPixel = 16, 16, 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 32
    dataset.HighBit, dataset.PixelRepresentation = 31, 1
    dataset.WindowCenter, dataset.WindowWidth, dataset.VOILUTFunction = 1000, 500000, function
    pixels = np.linspace(-1_000_000, 1_000_000, 256).astype(np.int32).reshape(16, 16)
    dataset.PixelData = pixels.tobytes()
    dataset["PixelData"].VR = "OW"
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    path = tmp_path / f"wide_{function}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("function", ["LINEAR", "SIGMOID"])
def test_thirty_two_bit_data_is_computed_on_the_frame(tmp_path, function):
    path = _thirty_two_bit(tmp_path, function)
    dataset = pydicom.dcmread(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        choice = pipeline.default_choice()
        kind = LinearMapping if function == "LINEAR" else ComputedMapping
        assert isinstance(pipeline.mapping(0, choice), kind)
        got = pipeline.render(document.frame(0), 0, choice)
    assert_grey_close(got, pydicom_grey(dataset, dataset.pixel_array))


def test_mappings_are_cached_per_frame_group(tmp_path):
    path = write_enhanced(tmp_path / "same.dcm", 3, window=False)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        window = WindowPreset(40, 400, "t")
        assert pipeline.mapping(0, window) is pipeline.mapping(0, window)
        assert pipeline.mapping(0, window) is not pipeline.mapping(1, window)  # another rescale


def test_automatic_window_is_in_modality_units():
    path = _reference("CT_small.dcm")
    dataset = pydicom.dcmread(path)
    with open_document(path) as document:
        pipeline = GreyPipeline.for_document(document)
        automatic = pipeline.automatic_window([(0, document.frame(0))])
    values = pydicom.pixels.apply_modality_lut(dataset.pixel_array, dataset)
    low, high = np.percentile(values, (0.5, 99.5))
    assert automatic.name == render.AUTO_WINDOW_NAME
    assert automatic.center == pytest.approx((low + high) / 2) and automatic.width == pytest.approx(high - low)


def test_window_edges_follow_the_standard():
    from viewer.model.display.pipeline import window_edges

    assert window_edges(40, 400, "LINEAR") == (-160, 239)  # C.11.2.1.2.1: centre - 0.5, width - 1
    assert window_edges(40, 400, "LINEAR_EXACT") == (-160, 240)


def test_a_negative_slope_gives_reversed_levels(tmp_path):
    path = _variant(tmp_path, "negative", RescaleSlope=-1, RescaleIntercept=0)
    with open_document(path) as document:
        black, white = GreyPipeline.for_document(document).mapping(0, WindowPreset(0, 101, "t")).levels
    assert (black, white) == (50.5, -49.5)  # LINEAR edges -50.5 and 49.5 over slope -1: high values dark
