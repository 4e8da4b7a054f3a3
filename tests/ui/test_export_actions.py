"""File > Export Frame / Export Cine and Edit > Copy Frame in the main window, offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import av  # noqa: E402
import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage  # noqa: E402

from conftest import open_and_wait  # noqa: E402
from display_reference import pydicom_grey  # noqa: E402
from reference_files import reference_files  # noqa: E402
from viewer.export import FrameRenderer  # noqa: E402
from viewer.ui.export_actions import EDITS_NOTE  # noqa: E402
from viewer.ui.export_dialog import CineRequest, ExportCineDialog  # noqa: E402
from viewer.ui.workers import Cancelled  # noqa: E402


def _read(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_export_frame_writes_what_the_view_shows(qtbot, window, cine_path, tmp_path):
    document = open_and_wait(qtbot, window, cine_path)
    window.state.set_frame(7)
    window.state.set_window(1000.0, 800.0)
    window.state.set_invert(True)
    out = tmp_path / "frame.png"
    assert window.exporter.export_frame(str(out)) == str(out)
    expected = FrameRenderer(document, window.state.choice, invert=True).image(7)
    np.testing.assert_array_equal(_read(out), expected)
    # The view shows the same: the renderer's levels on the stored frame, inverted by the LUT.
    black, white = window.image_view.image_item.levels
    assert (black, white) == pytest.approx((1000 - 0.5 - 799 / 2, 1000 - 0.5 + 799 / 2))
    assert window.image_view.image_item.lut[0] == 255


def test_pending_edits_are_exported_and_said_so(qtbot, window, cine_path, tmp_path):
    import shutil

    copy = tmp_path / "editable.dcm"
    shutil.copy(cine_path, copy)
    document = open_and_wait(qtbot, window, copy)
    before = window.exporter.current_image()
    document.set_writable(True)
    mask = np.zeros(document.frame_shape, dtype=bool)
    mask[20:40, 20:50] = True
    document.apply_mask(mask, 0, frames=[0])
    messages = []
    window.exporter.message.connect(messages.append)
    out = tmp_path / "edited.tif"
    window.exporter.export_frame(str(out))
    exported = _read(out)
    assert (exported[mask] == 0).all() and (before[mask] != 0).any()  # the mask, in black
    np.testing.assert_array_equal(exported[~mask], before[~mask])
    assert EDITS_NOTE in messages[-1]
    assert document.dirty  # exporting saved nothing
    document.set_writable(False, discard=True)


def test_copy_frame_puts_the_shown_frame_on_the_clipboard(qtbot, window, cine_path):
    document = open_and_wait(qtbot, window, cine_path)
    window.state.set_frame(3)
    assert window.exporter.copy_action.shortcut().toString() == "Ctrl+C"
    window.exporter.copy_action.trigger()
    image = QGuiApplication.clipboard().image().convertToFormat(QImage.Format.Format_Grayscale8)
    rows, columns = document.frame_shape
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(rows, image.bytesPerLine())[:, :columns]
    np.testing.assert_array_equal(pixels, FrameRenderer(document, window.state.choice).image(3))


def test_export_cine_to_mp4_with_progress(qtbot, window, cine_path, tmp_path):
    open_and_wait(qtbot, window, cine_path)
    out = tmp_path / "cine.mp4"
    with qtbot.waitSignal(window.exporter.cine_finished, timeout=60000) as finished:
        window.exporter.start_cine_export(CineRequest(str(out), 2, 11, 20.0))
    assert finished.args[0].frames == list(range(2, 12))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(stream)) == 10 and stream.average_rate == 20


def test_cancelling_a_cine_export_leaves_no_file(qtbot, window, cine_path, tmp_path, monkeypatch):
    """Cancel arrives while frames are being written (the export is held at frame 5 until it
    does, so a fast worker cannot finish first): the partial file is removed."""
    import threading

    from viewer.ui import export_actions

    open_and_wait(qtbot, window, cine_path)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "cancelled.gif"
    real_export = export_actions.export_document
    at_frame_5 = threading.Event()
    state = {}

    def held_export(*args, progress, **kwargs):
        def held_progress(done, total):
            if done == 5:
                at_frame_5.set()
                while not state["task"].cancelled:
                    threading.Event().wait(0.01)
            progress(done, total)
        return real_export(*args, progress=held_progress, **kwargs)

    monkeypatch.setattr(export_actions, "export_document", held_export)
    with qtbot.waitSignal(window.exporter.cine_finished, timeout=60000) as finished:
        state["task"] = window.exporter.start_cine_export(CineRequest(str(out), 0, 39, 10.0))
        assert at_frame_5.wait(60)
        assert os.listdir(folder)  # a partial file is being written
        state["task"].cancel()
    assert isinstance(finished.args[0], Cancelled)
    assert os.listdir(folder) == []


def test_cine_dialog_suggests_a_name_without_patient_fields(qtbot, tmp_path):
    dialog = ExportCineDialog(40, 25.0, str(tmp_path), edits_pending=True)
    qtbot.addWidget(dialog)
    dialog.first.setValue(5)
    dialog.last.setValue(9)
    dialog.format.setCurrentIndex(1)
    request = dialog.request()
    assert os.path.basename(request.path) == "cinemap_cine_0005-0009.gif"
    assert (request.first, request.last, request.fps) == (4, 8, 25.0)


def test_the_view_shows_a_voi_lut_through_its_table(qtbot, window, tmp_path):
    source = next(p for p in reference_files() if p.name == "vlut_04.dcm")
    dataset = pydicom.dcmread(source)
    curve = np.rint(4095 * (np.arange(256) / 255.0) ** 2.2).astype(np.uint16)
    dataset.VOILUTSequence[0].LUTDescriptor = [256, 0, 12]
    dataset.VOILUTSequence[0].LUTExplanation = "GAMMA"
    dataset.VOILUTSequence[0].LUTData = [int(v) for v in curve]
    path = tmp_path / "gamma.dcm"
    dataset.save_as(path)
    open_and_wait(qtbot, window, path)
    presets = window.window_level.presets
    assert presets.itemText(0) == "GAMMA" and presets.currentIndex() == 0
    shown = window.image_view.image_item.image
    assert shown.dtype == np.uint8 and tuple(window.image_view.image_item.levels) == (0, 255)
    np.testing.assert_array_equal(shown, pydicom_grey(dataset, dataset.pixel_array))
    out = tmp_path / "gamma.png"
    window.exporter.export_frame(str(out))
    np.testing.assert_array_equal(_read(out), shown)
