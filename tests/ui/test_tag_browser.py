"""Tag browser: the dataset as a tree; mapped values described, never read."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from viewer.model import MappedValue, open_document  # noqa: E402
from viewer.synthetic import write_cine  # noqa: E402
from viewer.synthetic.enhanced import write_enhanced as write_synthetic_enhanced  # noqa: E402
from viewer.ui.tag_browser import TagBrowser, matches  # noqa: E402


@pytest.fixture
def browser(qtbot, state):
    browser = TagBrowser(state)
    qtbot.addWidget(browser)
    return browser


def rows(browser):
    return [tuple(item.text(column) for column in range(4)) for item in browser.iter_items()]


def test_mapped_pixel_data_is_described_and_not_read(browser, state, document, monkeypatch):
    pixel = next(element for element in document.mapped_elements if element.keyword == "PixelData")

    def refuse(*_args, **_kwargs):
        raise AssertionError("the tag browser read a mapped value")

    monkeypatch.setattr(MappedValue, "read", refuse)
    monkeypatch.setattr(MappedValue, "readinto", refuse)
    state.set_document(document)
    row = next(row for row in rows(browser) if row[0] == "(7FE0,0010)")
    assert row[1] == "Pixel Data" and row[2] in ("OW", "OB")
    assert row[3] == f"memory-mapped, {pixel.describe().split(', ', 1)[1]}"
    assert row[3].startswith("memory-mapped, ") and f"at offset {pixel.offset}" in row[3]
    assert pixel.value.tell() == 0


def test_header_values_are_shown(browser, state, document):
    state.set_document(document)
    by_tag = {row[0]: row for row in rows(browser)}
    assert by_tag["(0028,0010)"][3] == str(document.geometry.rows)
    assert by_tag["(0002,0010)"][1] == "Transfer Syntax UID"


def test_filter_by_keyword_and_by_tag(browser, state, document, qtbot):
    state.set_document(document)
    browser.filter.setText("rows")
    browser.rebuild()
    tags = [row[0] for row in rows(browser) if row[0].startswith("(")]
    assert tags == ["(0028,0010)"]
    browser.filter.setText("7fe0,0010")
    browser.rebuild()
    assert [row[0] for row in rows(browser) if row[0].startswith("(")] == ["(7FE0,0010)"]


def test_sequences_expand_lazily_and_filter_finds_nested_tags(browser, state, tmp_path):
    path = tmp_path / "us.dcm"
    write_cine(path, frames=2, rows=32, columns=32, bits_allocated=8, kind="us")
    with open_document(path) as document:
        state.set_document(document)
        regions = next(item for item in browser.iter_items() if item.text(0) == "(0018,6011)")
        assert regions.text(3) == "1 item"
        first = regions.child(0)
        assert first.text(0) == "Item 1" and first.childCount() == 0  # not built yet
        first.setExpanded(True)
        assert first.childCount() > 0
        browser.filter.setText("RegionLocationMinX0")
        browser.rebuild()
        found = [row for row in rows(browser) if row[0] == "(0018,6018)"]
        assert len(found) == 1
        state.set_document(None)


@pytest.mark.parametrize("needle, expected", [("", True), ("rows", True), ("0028,0010", True),
                                              ("(0028,0010)", True), ("00280010", True), ("columns", False)])
def test_matches(needle, expected):
    assert matches(0x00280010, needle) is expected


def write_enhanced(path, frames: int, *, complete: bool = True):
    """An enhanced CT with one Per-frame Functional Groups item per frame (undefined lengths).

    With `complete`, each item also has rescale and VOI LUT sequences.
    """
    return write_synthetic_enhanced(path, frames, rows=4, columns=4, rescale=complete, window=complete)


def test_per_frame_groups_are_parsed_only_when_expanded(browser, state, tmp_path, monkeypatch):
    from viewer.model.dicom.functional_groups import LAZY_MIN_FRAMES

    frames = LAZY_MIN_FRAMES * 2
    with open_document(write_enhanced(tmp_path / "enhanced.dcm", frames)) as document:
        parsed = []
        original = document.per_frame_groups
        monkeypatch.setattr(document, "per_frame_groups", lambda index: parsed.append(index) or original(index))
        state.set_document(document)
        sequence = next(item for item in browser.iter_items() if item.text(0) == "(5200,9230)")
        assert sequence.text(3).startswith(f"{frames} items, parsed when expanded; memory-mapped, ")
        shown = set(parsed)  # the frame on screen needs its own groups (rescale, window): frame 0
        assert sequence.childCount() == frames and shown <= {0}
        sequence.child(150).setExpanded(True)
        assert set(parsed) - shown == {150}
        content = sequence.child(150).child(0)
        assert content.text(0) == "(0020,9111)"
        content.child(0).setExpanded(True)
        assert any(content.child(0).child(i).text(3) == "150" for i in range(content.child(0).childCount()))
        state.set_document(None)


def test_enhanced_file_without_per_frame_rescale_or_window_shows(browser, state, tmp_path):
    from viewer.model.dicom.functional_groups import LAZY_MIN_FRAMES

    with open_document(write_enhanced(tmp_path / "plain.dcm", LAZY_MIN_FRAMES, complete=False)) as document:
        try:
            state.set_document(document)
            assert any(item.text(0) == "(5200,9230)" for item in browser.iter_items())
        finally:
            state.set_document(None)
