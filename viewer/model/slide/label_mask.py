"""Black out a slide's label (and a rectangle of its overview) in place, through the journaled save.

The label, a photograph of the glass slide's paper label, often shows the
patient's name: blacking it out is the standard step before sharing a slide.

* Native labels go through the document's edit session
  (:meth:`viewer.model.Document.apply_mask` then ``save``).
* Compressed labels (JPEG, JPEG 2000, JPEG-LS) are decoded, masked and
  re-encoded; the new codestream is written over the old one in the same
  fragment item(s), followed by zero bytes (decoders stop at the end-of-image
  marker). A masked image compresses smaller; if it does not fit, nothing is
  written and the outcome says so.
* Every change of one file goes through
  :func:`viewer.model.editing.journal.journaled_write`: after a crash the
  file holds all its old bytes or all its new ones. All files of a slide are
  planned (decoded, re-encoded, checked to fit) before any is written.
* Burned In Annotation and Specimen Label In Image become NO only for an
  image blacked out whole (the label), and only when the new value fits in
  the element's bytes on disk. The overview's are left as they are: a
  rectangle may not cover all of the label.

This does not de-identify the slide: every file's header still holds the
patient's name, IDs, dates and the label's text and barcode.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pydicom

from viewer.model.editing.journal import RegionBatch, journaled_write
from viewer.model.errors import DicomError, FileChangedError, UnsupportedError
from viewer.model.slide.decode import TileDecoder
from viewer.model.slide.instance import DescriptorPool, TiledInstance
from viewer.model.slide.scan import InstanceHeader, scan_file, series_in_folder

NOT_DEIDENTIFIED = (
    "This does not de-identify the slide: the patient's name, IDs and dates, and the label's text and barcode, "
    "remain in the header of every file."
)
_JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
_J2K = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
_JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}


@dataclass
class MaskOutcome:
    """What happened to one image file."""

    path: str
    image: str  # LABEL or OVERVIEW
    written: bool = False
    bytes_written: int = 0
    header_changes: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class SlideMaskReport:
    """What :func:`mask_slide_label` did to one slide."""

    folder: str
    outcomes: list[MaskOutcome] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(outcome.written for outcome in self.outcomes)


@dataclass
class _Plan:
    header: InstanceHeader
    rect: tuple[int, int, int, int] | None  # None: the whole image
    outcome: MaskOutcome
    ranges: list[tuple[int, bytes]] = field(default_factory=list)  # encapsulated: (offset, new bytes)
    patches: list[tuple[int, bytes, str]] = field(default_factory=list)  # (offset, bytes, description)


def mask_slide_label(
    path: str | os.PathLike[str],
    *,
    overview_rect: tuple[int, int, int, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SlideMaskReport:
    """Black out the label of the slide at `path` (a folder or any file of the series), in place.

    Parameters
    ----------
    overview_rect : (x, y, width, height), optional
        Also black out this rectangle of the overview (in its pixels).
    progress : callable, optional
        Called with a short message before each step.

    Returns
    -------
    SlideMaskReport
        One outcome per image; ``error`` says why nothing was written, if so.
    """
    say = progress or (lambda message: None)
    folder, images = _associated(os.fspath(path))
    report = SlideMaskReport(folder)
    wanted = [("LABEL", None)] + ([("OVERVIEW", overview_rect)] if overview_rect is not None else [])
    plans = []
    try:
        for flavour, rect in wanted:
            header = images.get(flavour)
            if header is None:
                raise UnsupportedError(folder, f"the slide has no {flavour.lower()} image")
            say(f"preparing the {flavour.lower()} ({os.path.basename(header.path)})")
            plans.append(_plan(header, rect))
    except DicomError as exc:
        report.error = f"nothing was written: {exc}"
        return report
    for plan in plans:
        say(f"writing the {plan.outcome.image.lower()} ({os.path.basename(plan.header.path)})")
        try:
            _write(plan)
        except DicomError as exc:
            plan.outcome.message = f"not written: {exc}"
        report.outcomes.append(plan.outcome)
    return report


def preview_label_mask(path: str | os.PathLike[str], overview_rect: tuple[int, int, int, int] | None = None
                       ) -> dict[str, np.ndarray]:
    """The label (and overview) as they would look after :func:`mask_slide_label`; nothing is written."""
    _, images = _associated(os.fspath(path))
    previews = {}
    for flavour, rect in (("LABEL", None), ("OVERVIEW", overview_rect)):
        header = images.get(flavour)
        if header is None or (flavour == "OVERVIEW" and rect is None):
            continue
        image = _whole_image(header)
        _black_out(image, _clip(rect, header) if rect is not None else (0, 0, header.width, header.height), 0, 0)
        previews[flavour] = image
    return previews


def associated_images(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The slide's LABEL and OVERVIEW images as they are now, ``(rows, cols, samples)`` (those it has).

    Read with positional reads and closed at once: nothing stays open that a
    later :func:`mask_slide_label` would write under.
    """
    _, images = _associated(os.fspath(path))
    return {flavour: _whole_image(header) for flavour, header in images.items()}


def summary(report: SlideMaskReport) -> tuple[str, list[str]]:
    """(headline, lines) saying what :func:`mask_slide_label` did and did not do, for people.

    The last line always says that the slide is not de-identified.
    """
    written = [outcome for outcome in report.outcomes if outcome.written]
    if report.error:
        headline = "Nothing was written"
    elif written and len(written) == len(report.outcomes):
        headline = " and ".join(_done_phrase(outcome) for outcome in written).capitalize()
    elif written:
        headline = "The slide was only partly masked"
    else:
        headline = "Nothing was written"
    lines = [report.error] if report.error else []
    for outcome in report.outcomes:
        name = os.path.basename(outcome.path)
        lines.append(f"{name}: {outcome.message}" + (f" ({outcome.bytes_written:,} bytes written)" if outcome.written else ""))
        if outcome.written and outcome.image == "LABEL":
            changed = ", ".join(outcome.header_changes)
            lines.append(f"{name}: header {changed}" if changed else
                         f"{name}: Burned In Annotation and Specimen Label In Image left as they were "
                         "(absent, already NO, or no room to change them in place)")
    lines.append(NOT_DEIDENTIFIED)
    return headline, lines


def _done_phrase(outcome: MaskOutcome) -> str:
    return "the label was blacked out" if outcome.image == "LABEL" else "a rectangle of the overview was blacked out"


def _associated(path: str) -> tuple[str, dict[str, InstanceHeader]]:
    if os.path.isdir(path):
        folder, instances = path, series_in_folder(path, None)
    else:
        first = scan_file(path)
        if first is None:
            raise DicomError(path, "not a VL Whole Slide Microscopy image")
        folder = os.path.dirname(os.path.abspath(path))
        instances = series_in_folder(folder, first.series_uid, first)
    images: dict[str, InstanceHeader] = {}
    for instance in instances:
        if instance.flavour in ("LABEL", "OVERVIEW"):
            images.setdefault(instance.flavour, instance)
    return folder, images


# ------------------------------------------------------------------ planning
def _plan(header: InstanceHeader, rect: tuple[int, int, int, int] | None) -> _Plan:
    outcome = MaskOutcome(header.path, header.flavour)
    plan = _Plan(header, rect, outcome)
    if rect is None:
        plan.patches = _header_patches(header.path)
    if pydicom.uid.UID(header.transfer_syntax).is_encapsulated:
        _plan_encapsulated(plan)
    return plan


def _plan_encapsulated(plan: _Plan) -> None:
    header = plan.header
    instance = TiledInstance(header, DescriptorPool(1))
    decoder = TileDecoder(header)
    area = _clip(plan.rect, header) if plan.rect is not None else (0, 0, header.width, header.height)
    for frame, (left, top) in enumerate(_tile_origins(instance)):
        if not _overlaps(area, left, top, header.tile_width, header.tile_height):
            continue
        tile = np.array(decoder.decode(instance.read_encoded(frame)))
        _black_out(tile, area, left, top)
        codestream = _encode_like(header, tile)
        ranges = instance.fragment_ranges(frame)
        room = sum(length for _, length in ranges)
        if len(codestream) > room:
            raise UnsupportedError(
                header.path,
                f"the masked {header.flavour.lower()} needs {len(codestream)} bytes where tile {frame} has {room}: "
                "it cannot be written in place",
            )
        padded = codestream + bytes(room - len(codestream))
        consumed = 0
        for offset, length in ranges:
            plan.ranges.append((offset, padded[consumed:consumed + length]))
            consumed += length
    instance._pool.close()


def _tile_origins(instance: TiledInstance) -> list[tuple[int, int]]:
    header = instance.header
    instance.index()
    if header.tiling == "TILED_SPARSE" and instance.positions is not None:
        return [(int(column) - 1, int(row) - 1) for column, row in instance.positions]
    columns = -(-header.width // header.tile_width)
    return [((k % columns) * header.tile_width, (k // columns) * header.tile_height) for k in range(header.frames)]


def _clip(rect: tuple[int, int, int, int], header: InstanceHeader) -> tuple[int, int, int, int]:
    x, y, width, height = (int(value) for value in rect)
    if width <= 0 or height <= 0:
        raise DicomError(header.path, f"the rectangle {rect} is empty")
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(header.width, x + width), min(header.height, y + height)
    if x0 >= x1 or y0 >= y1:
        raise DicomError(header.path, f"the rectangle {rect} lies outside the {header.width} x {header.height} image")
    return x0, y0, x1 - x0, y1 - y0


def _overlaps(area, left: int, top: int, width: int, height: int) -> bool:
    x, y, w, h = area
    return x < left + width and left < x + w and y < top + height and top < y + h


def _black_out(tile: np.ndarray, area, left: int, top: int) -> None:
    x, y, w, h = area
    rows = slice(max(0, y - top), max(0, y + h - top))
    cols = slice(max(0, x - left), max(0, x + w - left))
    tile[rows, cols] = 0


def _encode_like(header: InstanceHeader, tile: np.ndarray) -> bytes:
    """The masked tile in the file's own transfer syntax and photometric interpretation."""
    syntax, photometric = header.transfer_syntax, header.photometric
    pixels = np.ascontiguousarray(tile[:, :, 0] if header.samples == 1 else tile)
    if syntax in _JPEG_LS and photometric in ("RGB", "MONOCHROME2"):
        import jpeg_ls

        return bytes(jpeg_ls.encode_array(pixels))
    from PIL import Image

    image = Image.fromarray(pixels, "L" if header.samples == 1 else "RGB")
    buffer = io.BytesIO()
    if syntax in _JPEG and photometric in ("YBR_FULL_422", "YBR_FULL", "MONOCHROME2") and header.bits_allocated == 8:
        image.save(buffer, "JPEG", quality=90, subsampling=1 if photometric == "YBR_FULL_422" else 0)
    elif syntax in _J2K and photometric in ("YBR_RCT", "YBR_ICT", "RGB", "MONOCHROME2"):
        image.save(buffer, "JPEG2000", no_jp2=True, irreversible=photometric == "YBR_ICT",
                   mct=1 if photometric in ("YBR_RCT", "YBR_ICT") else 0)
    else:
        raise UnsupportedError(
            header.path, f"cannot re-encode {header.transfer_syntax_name} {photometric} tiles in place"
        )
    return buffer.getvalue()


def _whole_image(header: InstanceHeader) -> np.ndarray:
    instance = TiledInstance(header, DescriptorPool(1))
    image = np.zeros((header.height, header.width, header.samples), np.uint8 if header.bits_allocated == 8 else np.uint16)
    decoder = TileDecoder(header) if pydicom.uid.UID(header.transfer_syntax).is_encapsulated else None
    for frame, (left, top) in enumerate(_tile_origins(instance)):
        tile = decoder.decode(instance.read_encoded(frame)) if decoder else instance.read_native(frame)
        bottom, right = min(header.height, top + header.tile_height), min(header.width, left + header.tile_width)
        image[top:bottom, left:right] = tile[:bottom - top, :right - left]
    instance._pool.close()
    return image


def _header_patches(path: str) -> list[tuple[int, bytes, str]]:
    """Same-length writes of Burned In Annotation and Specimen Label In Image "NO", where they fit."""
    dataset = pydicom.dcmread(path, stop_before_pixels=True, defer_size=4096)
    patches = []
    with open(path, "rb") as file:
        for keyword in ("BurnedInAnnotation", "SpecimenLabelInImage"):
            element = dataset.get(keyword) and dataset[keyword]
            offset = getattr(element, "file_tell", None) if element else None
            if element is None or offset is None or str(element.value).strip().upper() == "NO":
                continue
            file.seek(offset - 2)
            length = int.from_bytes(file.read(2), "little")  # explicit VR: the CS value's 16-bit length
            on_disk = file.read(length)
            if length < 2 or on_disk.decode("ascii", "replace").strip().upper() != str(element.value).strip().upper():
                continue  # not where we think, or no room: leave it
            patches.append((offset, b"NO".ljust(length, b" "), f"{keyword} {element.value} -> NO"))
    return patches


# ------------------------------------------------------------------- writing
def _write(plan: _Plan) -> None:
    header = plan.header
    if pydicom.uid.UID(header.transfer_syntax).is_encapsulated:
        _write_encapsulated(plan)
    else:
        _write_native(plan)
    plan.outcome.written = True
    plan.outcome.header_changes = [description for _, _, description in plan.patches]
    what = "blacked out" if plan.rect is None else f"rectangle {plan.rect} blacked out"
    plan.outcome.message = f"{header.flavour.lower()} {what}"


def _write_encapsulated(plan: _Plan) -> None:
    from viewer.model.storage.filelock import acquire_edit_lock

    header = plan.header
    changes = sorted([(offset, data) for offset, data in plan.ranges]
                     + [(offset, data) for offset, data, _ in plan.patches])
    try:
        fd = os.open(header.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DicomError(header.path, f"cannot open for writing: {exc.strerror}") from exc
    try:
        status = os.fstat(fd)
        if (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns) != header.identity:
            raise FileChangedError(header.path, "the file changed on disk while the label was being masked")
        lock = acquire_edit_lock(fd, header.path)
        try:
            stats = journaled_write(header.path, fd, lambda contents: _batches(fd, changes, contents))
        finally:
            lock.release()
    finally:
        os.close(fd)
    plan.outcome.bytes_written = stats.bytes_written


def _batches(fd: int, changes: list[tuple[int, bytes]], contents: str):
    from viewer.model.platform.positional import pread_exact

    offsets = np.array([offset for offset, _ in changes], np.int64)
    lengths = np.array([len(data) for _, data in changes], np.int64)
    if contents == "original":
        data = b"".join(bytes(pread_exact(fd, len(new), offset)) for offset, new in changes)
    else:
        data = b"".join(new for _, new in changes)
    yield RegionBatch(offsets, lengths, np.frombuffer(data, np.uint8))


def _write_native(plan: _Plan) -> None:
    from viewer.model.opening import open_document

    header = plan.header
    status = os.stat(header.path)
    if (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns) != header.identity:
        raise FileChangedError(header.path, "the file changed on disk while the label was being masked")
    area = _clip(plan.rect, header) if plan.rect is not None else (0, 0, header.width, header.height)
    instance = TiledInstance(header, DescriptorPool(1))
    origins = _tile_origins(instance)
    instance._pool.close()
    masked = 0
    with open_document(header.path) as document:
        document.set_writable(True)
        for frame, (left, top) in enumerate(origins):
            if _overlaps(area, left, top, header.tile_width, header.tile_height):
                mask = _area_mask(area, left, top, header)
                masked += int(mask.sum())
                document.apply_mask(mask, document.black_value, frames=frame, label=f"Mask {header.flavour.lower()}")
        edits = document.edits
        if edits is None:  # set_writable(True) raises rather than stay read-only
            raise DicomError(header.path, "the file could not be opened for writing")
        for offset, data, description in plan.patches:
            edits.set_header_patch(offset, data, label=description)
        document.save()
    pixel_bytes = header.samples * header.bits_allocated // 8
    plan.outcome.bytes_written = masked * pixel_bytes + sum(len(data) for _, data, _ in plan.patches)


def _area_mask(area, left: int, top: int, header: InstanceHeader) -> np.ndarray:
    mask = np.zeros((header.tile_height, header.tile_width), bool)
    x, y, w, h = area
    mask[max(0, y - top):max(0, y + h - top), max(0, x - left):max(0, x + w - left)] = True
    return mask
