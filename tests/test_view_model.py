"""The view model without Qt: document, frame, window/level, and one fetch of the frame shown."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from viewer.model import open_document
from viewer.model.display import render
from viewer.model.view import ViewerModel
from viewer.synthetic import frame_index_of, write_cine

FRAMES = 12


@pytest.fixture(scope="module")
def cine_path(tmp_path_factory):
    return write_cine(tmp_path_factory.mktemp("view") / "cine.dcm", frames=FRAMES, rows=32, columns=40)


@pytest.fixture
def document(cine_path):
    with open_document(cine_path) as doc:
        yield doc


class Recorder:
    """Every signal of a model, in order, as (name, args)."""

    NAMES = ("document_changed", "frame_changed", "window_changed", "invert_changed", "presets_changed",
             "mode_changed", "history_changed")

    def __init__(self, model: ViewerModel) -> None:
        self.events: list[tuple[str, tuple]] = []
        for name in self.NAMES:
            getattr(model, name).connect(lambda *args, name=name: self.events.append((name, args)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


class CountingFetch:
    """A fetch that counts the frames it reads, by index."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def __call__(self, document, index: int) -> np.ndarray:
        self.counts[index] = self.counts.get(index, 0) + 1
        return document.frame(index)


def test_showing_a_document_announces_it_then_its_window_then_frame_0(document):
    model = ViewerModel()
    events = Recorder(model)
    model.set_document(document)
    assert events.names() == ["document_changed", "presets_changed", "invert_changed", "window_changed",
                              "frame_changed"]
    assert events.events[-1] == ("frame_changed", (0,))
    assert [preset.name for preset in model.presets] == [render.AUTO_WINDOW_NAME, render.FULL_RANGE_NAME]
    assert (model.center, model.width) == (model.presets[0].center, model.presets[0].width)
    model.set_document(None)
    assert model.document is None and model.presets == [] and model.num_frames == 0


def test_frames_are_clamped_and_remember_the_direction(document):
    model = ViewerModel()
    model.set_document(document)
    shown = []
    model.frame_changed.connect(shown.append)
    model.set_frame(5)
    model.step(-2)
    model.set_frame(99)
    model.set_frame(FRAMES - 1)  # no change: no signal
    assert shown == [5, 3, FRAMES - 1] and model.direction == 1
    model.step(-1)
    assert model.direction == -1 and frame_index_of(model.frame()) == FRAMES - 2


def test_the_frame_shown_is_fetched_once(document):
    fetch = CountingFetch()
    model = ViewerModel(fetch=fetch)
    model.set_document(document)  # the initial automatic window reads frame 0
    for _ in range(3):
        assert frame_index_of(model.frame(0)) == 0  # the image, the readout, a repaint
    job = model.automatic_window_job()
    assert job(lambda done, total: None) is not None
    assert fetch.counts[0] == 1  # the job sampled every frame but the one already fetched
    fetch.counts.clear()
    model.set_frame(4)
    model.frame()
    model.frame()
    assert fetch.counts == {4: 1}
    model.frame(7)  # not the one shown: fetched each time
    model.frame(7)
    assert fetch.counts == {4: 1, 7: 2}


def test_edits_to_the_frame_shown_fetch_it_again_and_others_do_not(document):
    fetch = CountingFetch()
    model = ViewerModel(fetch=fetch)
    model.set_document(document)
    model.set_frame(3)
    model.frame()
    shown = []
    model.frame_changed.connect(shown.append)
    model.frames_edited(document, {5, 6})
    assert shown == [] and fetch.counts[3] == 1
    model.frames_edited(document, {3})
    assert shown == [3]
    model.frame()
    assert fetch.counts[3] == 2
    model.frames_edited(object(), None)  # another document's edits: not ours
    assert shown == [3]


def test_document_events_from_a_worker_are_delivered_through_call_soon(document):
    queued = []
    model = ViewerModel(call_soon=lambda function, *args: queued.append((function, args)))
    model.set_document(document)
    heard = []
    model.mode_changed.connect(lambda writable: heard.append(("mode", writable)))
    model.history_changed.connect(lambda: heard.append(("history",)))
    model.frame_changed.connect(lambda index: heard.append(("frame", index)))
    worker = threading.Thread(target=lambda: (document.mode_changed.emit(True), document.history_changed.emit(),
                                              document.frames_changed.emit(None)))
    worker.start()
    worker.join()
    assert heard == [] and len(queued) == 3  # nothing ran on the worker
    for function, args in queued:  # the host's thread runs them
        function(*args)
    assert heard == [("mode", True), ("history",), ("frame", 0)]


def test_a_closed_documents_late_events_are_dropped(document, cine_path):
    queued = []
    model = ViewerModel(call_soon=lambda function, *args: queued.append((function, args)))
    model.set_document(document)
    document.history_changed.emit()  # queued for the model's thread ...
    with open_document(cine_path) as other:
        model.set_document(other)  # ... which meanwhile shows another file
        heard = []
        model.history_changed.connect(lambda: heard.append(True))
        for function, args in queued:
            function(*args)
        assert heard == []
        document.history_changed.emit()  # and the old document is no longer listened to
        assert len(queued) == 1


def test_window_invert_presets_and_reset(document):
    model = ViewerModel()
    model.set_document(document)
    initial = (model.center, model.width)
    windows = []
    model.window_changed.connect(lambda center, width: windows.append((center, width)))
    model.set_window(100.0, 0.0)
    assert windows == [(100.0, 1e-6)] and model.window_chosen_by_user
    model.set_invert(True)
    model.reset_window()
    assert (model.center, model.width) == initial and not model.invert and not model.window_chosen_by_user
    automatic = render.auto_window([document.frame(FRAMES - 1)])
    model.set_automatic_window(automatic)
    assert (model.center, model.width) == (automatic.center, automatic.width)  # the user had chosen nothing
    model.apply_preset(model.presets[-1])
    model.set_automatic_window(render.auto_window([document.frame(0)]))
    assert (model.center, model.width) == (model.presets[-1].center, model.presets[-1].width)  # kept


def test_a_frame_count_settled_by_the_background_index_reaches_the_widgets(tmp_path, monkeypatch):
    """Compressed data without a table says Number of Frames at open; the index finds fewer: the frame follows."""
    from pydicom import dcmread

    import viewer.model.frames.encapsulated as encapsulated_module
    from viewer.synthetic.encapsulated import write_encapsulated_cine

    class NotStarted:  # the background walk, run by the test instead
        def __init__(self, *args, **kwargs) -> None:
            pass

        def start(self) -> None:
            pass

    monkeypatch.setattr(encapsulated_module.threading, "Thread", NotStarted)
    path = tmp_path / "short.dcm"
    write_encapsulated_cine(path, frames=6, rows=32, columns=32, syntax="jpeg", table="empty")
    dataset = dcmread(path)
    dataset.NumberOfFrames = 9  # the header claims more than the file holds
    dataset.save_as(path, enforce_file_format=True)
    with open_document(path) as doc:
        assert doc.num_frames == 9
        model = ViewerModel()
        counts = []
        model.frame_count_changed.connect(counts.append)
        model.set_document(doc)
        model.set_frame(8)
        doc.source.index.complete_index()
        assert counts == [6] and doc.num_frames == 6
        assert model.frame_index == 5
