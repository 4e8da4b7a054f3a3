"""The dataset as a tree, in a dock: sequences expand lazily, a filter finds tags.

Memory-mapped values are described ("memory-mapped, 3.9 GB at offset N")
and never read; values pydicom deferred are described by size and offset
and not read either. Sequence items are built only when expanded, so a file
with thousands of per-frame functional group items opens its tree at once.
"""

from __future__ import annotations

from typing import Iterator

from pydicom.dataset import Dataset
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from viewer.model import MappedValue
from viewer.model.dicom import pydicom_adapter
from viewer.model.dicom.functional_groups import PER_FRAME_TAG
from viewer.model.dicom.tags import describe_value, element_name, matches, tag_text
from viewer.model.view import ViewerModel

MAX_FILTER_MATCHES = 500
MAX_LAZY_ITEMS = 5000  # per-frame items listed under a lazily parsed sequence
_DATASET_ROLE = Qt.ItemDataRole.UserRole
_FRAME_ITEM_ROLE = Qt.ItemDataRole.UserRole + 1  # index of a per-frame item parsed on demand
_COLUMNS = ("Tag", "Name", "VR", "Value")
VALUE_COLUMN_WIDTH = 260  # pixels of Value the dock opens with; the column stretches when it is wider


class TagBrowser(QDockWidget):
    """Dock with a filter box over a tree of the document's dataset."""

    def __init__(self, state: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__("Tags", parent)
        self.setObjectName("TagBrowser")
        self.state = state
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: keyword, name or tag (e.g. Window, 0028,1050)")
        self.filter.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(_COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.header().setStretchLastSection(True)  # Value takes what Tag, Name and VR leave
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.setWidget(body)
        self.truncated = False

        # Filtering walks every sequence item: wait until typing pauses.
        self._filter_timer = QTimer(self, singleShot=True, interval=200)
        self._filter_timer.timeout.connect(self.rebuild)
        self.filter.textChanged.connect(self._filter_timer.start)
        self.tree.itemExpanded.connect(self._on_expanded)
        self.tree.itemExpanded.connect(lambda _item: self._fit_columns())
        state.document_changed.connect(lambda _document: self.rebuild())
        self.rebuild()

    # ------------------------------------------------------------- building
    def rebuild(self, *_: object) -> None:
        """Rebuild the tree for the current document and filter."""
        self.tree.clear()
        self.truncated = False
        document = self.state.document
        if document is None:
            return
        needle = self.filter.text().strip().lower()
        roots = []
        meta = getattr(document.dataset, "file_meta", None)
        if meta is not None and len(meta):
            roots.append(("File Meta Information", meta))
        roots.append(("Dataset", document.dataset))
        for title, dataset in roots:
            top = QTreeWidgetItem([title, "", "", ""])
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)  # a heading, not a tag: it must not widen the Tag column
            if needle:
                budget = [MAX_FILTER_MATCHES]
                self._add_matching(top, dataset, needle, budget)
                self.truncated = self.truncated or budget[0] <= 0
            else:
                self._add_elements(top, dataset)
            top.setExpanded(True)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Tag, Name and VR as wide as what is shown in them; Value stretches over the rest."""
        for column in range(len(_COLUMNS) - 1):
            self.tree.resizeColumnToContents(column)

    def preferred_width(self) -> int:
        """The dock width that shows Tag, Name and VR in full and leaves Value room to read."""
        header = self.tree.header()
        columns = sum(header.sectionSize(column) for column in range(len(_COLUMNS) - 1))
        chrome = 2 * self.tree.frameWidth() + self.tree.verticalScrollBar().sizeHint().width() + 8
        text = self.filter.fontMetrics().horizontalAdvance(self.filter.placeholderText()) + 3 * self.filter.height()
        return max(columns + VALUE_COLUMN_WIDTH, text) + chrome

    def _element_item(self, parent: QTreeWidgetItem, dataset: Dataset, tag: int) -> tuple[QTreeWidgetItem, list | None]:
        vr, text, items = describe_value(dataset, tag)
        item = QTreeWidgetItem(parent, [tag_text(tag), element_name(tag), vr, text])
        item.setToolTip(3, text)
        return item, items

    def _lazy_per_frame(self, dataset: Dataset, tag: int) -> int:
        """Number of per-frame items the document parses on demand for this element, else 0."""
        document = self.state.document
        if tag != PER_FRAME_TAG or document is None or dataset is not document.dataset:
            return 0
        element = pydicom_adapter.raw_element(dataset, tag)
        if element is None or not isinstance(pydicom_adapter.stored_value(element), MappedValue):
            return 0
        return document.geometry.number_of_frames if document.geometry is not None else 0

    def _add_elements(self, parent: QTreeWidgetItem, dataset: Dataset) -> None:
        for tag in sorted(dataset.keys()):
            item, items = self._element_item(parent, dataset, int(tag))
            lazy = self._lazy_per_frame(dataset, int(tag))
            if lazy:
                item.setText(3, f"{lazy} items, parsed when expanded; {item.text(3)}")
                for index in range(min(lazy, MAX_LAZY_ITEMS)):
                    child_item = QTreeWidgetItem(item, [f"Item {index + 1}", "", "", ""])
                    child_item.setData(0, _FRAME_ITEM_ROLE, index)
                    child_item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
                if lazy > MAX_LAZY_ITEMS:
                    QTreeWidgetItem(item, [f"… {lazy - MAX_LAZY_ITEMS} more", "", "", ""])
            for number, child in enumerate(items or [], start=1):
                child_item = QTreeWidgetItem(item, [f"Item {number}", "", "", ""])
                child_item.setData(0, _DATASET_ROLE, child)
                if len(child):
                    child_item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)

    def _on_expanded(self, item: QTreeWidgetItem) -> None:
        dataset = item.data(0, _DATASET_ROLE)
        frame_item = item.data(0, _FRAME_ITEM_ROLE)
        if frame_item is not None and item.childCount() == 0 and self.state.document is not None:
            dataset = self.state.document.per_frame_groups(int(frame_item))
        if isinstance(dataset, Dataset) and item.childCount() == 0:
            self._add_elements(item, dataset)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicatorWhenChildless)

    def _add_matching(self, parent: QTreeWidgetItem, dataset: Dataset, needle: str, budget: list[int]) -> bool:
        """Add the elements of `dataset` that match, and the path to nested matches."""
        found = False
        for key in sorted(dataset.keys()):
            if budget[0] <= 0:
                return found
            tag = int(key)
            hit = matches(tag, needle)
            vr, _, items = describe_value(dataset, tag)
            if not hit and not items:
                continue
            item, _ = self._element_item(parent, dataset, tag)
            nested = False
            for number, child in enumerate(items or [], start=1):
                child_item = QTreeWidgetItem(item, [f"Item {number}", "", "", ""])
                if self._add_matching(child_item, child, needle, budget):
                    nested = True
                    child_item.setExpanded(True)
                else:
                    item.removeChild(child_item)
            if hit or nested:
                found = True
                budget[0] -= 1 if hit else 0
                item.setExpanded(nested)
            else:
                parent.removeChild(item)
        return found

    # -------------------------------------------------------------- queries
    def iter_items(self) -> Iterator[QTreeWidgetItem]:
        """Every item built so far, depth first."""
        stack = _children(self.tree.invisibleRootItem())
        while stack:
            item = stack.pop(0)
            yield item
            stack[:0] = _children(item)


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [child for index in range(item.childCount()) if (child := item.child(index)) is not None]
