"""Structure-aware mutators: each turns a real file into a plausibly broken one.

Every mutator takes ``(rng, data, layout)`` and returns ``(mutant, label)``,
or None when it does not apply to the file (no pixel data, no offset
table, ...). The label is short and file-name safe; it says what was done,
so a failure report alone tells where to look.
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import Callable

from fuzz.layout import DEFLATED, ITEM, Element, Layout, parse_layout

Mutation = tuple[bytes, str]
Mutator = Callable[[random.Random, bytes, Layout], "Mutation | None"]

# Group 0028 (and the pixel-relevant rest): keyword, tag, VR.
IMAGE_PIXEL_US = {
    "SamplesPerPixel": 0x00280002,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "HighBit": 0x00280102,
    "PixelRepresentation": 0x00280103,
    "PlanarConfiguration": 0x00280006,
}
NUMBER_OF_FRAMES = 0x00280008
PHOTOMETRIC = 0x00280004
TRANSFER_SYNTAX = 0x00020010
EXTENDED_OFFSETS = 0x7FE00001
EXTENDED_LENGTHS = 0x7FE00002
ABSURD_US = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 63, 64, 128, 255, 256, 4096, 32768, 65535]
ABSURD_IS = [
    b"0", b"1", b"-1", b"-2147483648", b"2", b"3", b"7", b"100", b"65536", b"2147483647", b"2147483648",
    b"4294967296", b"99999999999999999999", b"abc", b"", b" ", b"1.5", b"1e3", b"3\\4", b"\x00\x00", b"0x10",
    b"+5 ", b"NaN", b"inf",
]
PHOTOMETRICS = [
    b"MONOCHROME1", b"MONOCHROME2", b"RGB", b"YBR_FULL", b"YBR_FULL_422", b"YBR_RCT", b"YBR_ICT",
    b"YBR_PARTIAL_420", b"PALETTE COLOR", b"HSV", b"ARGB", b"CMYK", b"", b"\x00\x00", b"RGB\\RGB", b"rgb",
]
SYNTAXES = [
    b"1.2.840.10008.1.2", b"1.2.840.10008.1.2.1", b"1.2.840.10008.1.2.2", b"1.2.840.10008.1.2.1.99",
    b"1.2.840.10008.1.2.5", b"1.2.840.10008.1.2.4.50", b"1.2.840.10008.1.2.4.51", b"1.2.840.10008.1.2.4.57",
    b"1.2.840.10008.1.2.4.70", b"1.2.840.10008.1.2.4.80", b"1.2.840.10008.1.2.4.81", b"1.2.840.10008.1.2.4.90",
    b"1.2.840.10008.1.2.4.91", b"1.2.840.10008.1.2.4.201", b"1.2.840.10008.1.2.1.98", b"1.2.3.4", b"",
    b"1.2.840.10008.1.2.4.100",
]


def _lying_lengths(rng: random.Random, honest: int, limit: int = 0xFFFFFFFF) -> int:
    choices = [0, 1, 2, 3, honest - 2, honest - 1, honest + 1, honest + 2, honest * 2, honest + 8, honest // 2,
               limit - 1, limit - 2, 0x7FFFFFFF, 0x80000000, rng.randrange(limit + 1)]
    return rng.choice([c for c in choices if 0 <= c <= limit] or [0])


# ------------------------------------------------------------------ byte tools
def _pack_int(element: Element, value: int, size: int) -> bytes:
    order = "<" if element.little_endian else ">"
    return struct.pack(order + {2: "H", 4: "I", 8: "Q"}[size], value & ((1 << 8 * size) - 1))


def set_length(data: bytes, element: Element, length: int) -> bytes:
    """Rewrite `element`'s length field (the value stays where it is)."""
    field = _pack_int(element, min(length, (1 << 8 * element.length_size) - 1), element.length_size)
    return data[: element.length_offset] + field + data[element.length_offset + element.length_size :]


def set_value(data: bytes, element: Element, value: bytes) -> bytes:
    """Replace `element`'s value by `value` (padded to even length), fixing its length."""
    if len(value) % 2:
        value += b"\x00" if element.vr in (b"UI", b"OB") else b" "
    if element.length is None:
        return data
    head = set_length(data[: element.value_offset], element, len(value))
    return head + value + data[element.end :]


def encode_element(layout: Layout, tag: int, vr: bytes, value: bytes, meta: bool = False) -> bytes:
    """An element encoded as the dataset (or the file meta) is encoded."""
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB", b"OW", b"OV") else b" "
    little = meta or layout.little_endian
    order = "<" if little else ">"
    head = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF)
    if layout.implicit and not meta:
        return head + struct.pack(order + "I", len(value)) + value
    if vr in (b"OB", b"OW", b"OV", b"OF", b"OD", b"OL", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        return head + vr + b"\x00\x00" + struct.pack(order + "I", len(value)) + value
    return head + vr + struct.pack(order + "H", len(value)) + value


def insert_element(data: bytes, layout: Layout, tag: int, encoded: bytes) -> bytes:
    """Insert an encoded element at its place in tag order among the top-level elements."""
    position = layout.header_end
    for element in layout.elements:
        if element.tag >= tag:
            position = element.header_offset
            break
    return data[:position] + encoded + data[position:]


_LE = Element(0, None, 0, 0, 4, 0, 0, 0, little_endian=True, implicit=True)


def _us(layout: Layout, value: int) -> bytes:
    return struct.pack("<H" if layout.little_endian else ">H", value)


# ------------------------------------------------------------------- mutators
def truncate_random(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    cut = rng.randrange(len(data)) if data else 0
    return data[:cut], f"truncate-{cut}"


def truncate_near_pixels(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    pixel = layout.pixel
    if pixel is None:
        return None
    points = [pixel.header_offset + k for k in range(0, 13)] + [pixel.value_offset + k for k in (1, 2, 4, 7, 8, 9)]
    if layout.items:
        item = rng.choice(layout.items)
        points += [item.header_offset + k for k in range(0, 9)] + [item.end - 1, item.end, item.end + 4]
    if pixel.length:
        points += [pixel.value_offset + pixel.length // 2, pixel.end - 1, pixel.end - 2]
    cut = min(rng.choice(points), len(data))
    return data[:cut], f"truncate-pixels-{cut}"


def flip_header_bytes(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    end = max(1, min(len(data), layout.header_end + 16))
    mutant = bytearray(data)
    targets = [e for e in layout.meta + layout.elements if e.header_offset < end]
    flipped = []
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        if targets and rng.random() < 0.6:
            element = rng.choice(targets)
            position = rng.randrange(element.header_offset, min(element.value_offset + 2, len(data)))
        else:
            position = rng.randrange(end)
        if position >= len(mutant):
            continue
        mutant[position] = rng.choice([mutant[position] ^ (1 << rng.randrange(8)), 0x00, 0xFF, rng.randrange(256)])
        flipped.append(position)
    return bytes(mutant), "flip-" + "-".join(map(str, flipped))


def absurd_image_pixel(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    keyword = rng.choice(list(IMAGE_PIXEL_US))
    tag = IMAGE_PIXEL_US[keyword]
    value = rng.choice(ABSURD_US)
    element = layout.find(tag)
    if element is None:
        encoded = encode_element(layout, tag, b"US", _us(layout, value))
        return insert_element(data, layout, tag, encoded), f"add-{keyword}-{value}"
    if element.length == 2 and rng.random() < 0.85:
        mutant = data[: element.value_offset] + _us(layout, value) + data[element.end :]
        return mutant, f"{keyword}-{value}"
    if rng.random() < 0.5:
        return set_value(data, element, _us(layout, value) * rng.choice([0, 2, 3])), f"{keyword}-multi-{value}"
    return set_length(data, element, _lying_lengths(rng, element.length or 0, 0xFFFF)), f"{keyword}-length-lie"


def absurd_number_of_frames(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    value = rng.choice(ABSURD_IS)
    label = value.decode("latin-1").strip().replace("\\", "_").replace("\x00", "nul") or "empty"
    label = "".join(c if c.isalnum() or c in "-+._" else "x" for c in label)
    element = layout.find(NUMBER_OF_FRAMES)
    if element is None:
        encoded = encode_element(layout, NUMBER_OF_FRAMES, b"IS", value)
        return insert_element(data, layout, NUMBER_OF_FRAMES, encoded), f"add-NumberOfFrames-{label}"
    return set_value(data, element, value), f"NumberOfFrames-{label}"


def absurd_photometric(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    value = rng.choice(PHOTOMETRICS)
    label = "".join(c if c.isalnum() else "_" for c in value.decode("latin-1")) or "empty"
    element = layout.find(PHOTOMETRIC)
    if element is None:
        return insert_element(data, layout, PHOTOMETRIC, encode_element(layout, PHOTOMETRIC, b"CS", value)), (
            f"add-Photometric-{label}"
        )
    return set_value(data, element, value), f"Photometric-{label}"


def delete_image_pixel(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    tags = set(IMAGE_PIXEL_US.values()) | {NUMBER_OF_FRAMES, PHOTOMETRIC}
    present = [e for e in layout.elements if e.tag in tags]
    if not present:
        return None
    element = rng.choice(present)
    return data[: element.header_offset] + data[element.end :], f"delete-{element.tag:08X}"


def swap_transfer_syntax(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    element = layout.find(TRANSFER_SYNTAX)
    if element is None:
        return None
    value = rng.choice(SYNTAXES)
    return set_value(data, element, value), "syntax-" + (value.decode().replace(".", "_") or "empty")


def lie_pixel_length(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    pixel = layout.pixel
    if pixel is None:
        return None
    if pixel.length is None:  # encapsulated: give it a defined length
        return set_length(data, pixel, _lying_lengths(rng, len(data) - pixel.value_offset, 0xFFFFFFFE)), (
            "encapsulated-pixel-length"
        )
    honest = pixel.length
    length = rng.choice([_lying_lengths(rng, honest), 0xFFFFFFFF]) if pixel.length_size == 4 else _lying_lengths(
        rng, honest, 0xFFFF
    )
    return set_length(data, pixel, length), f"pixel-length-{length}"


def lie_basic_offsets(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    if not layout.items:
        return None
    table = layout.items[0]
    fragments_size = sum(item.end - item.header_offset for item in layout.items[1:])
    if table.length and rng.random() < 0.7:
        entry = table.value_offset + 4 * rng.randrange(table.length // 4)
        value = rng.choice([0, 1, 2, 4, 8, fragments_size, fragments_size + 8, 0x7FFFFFFF, 0xFFFFFFFF,
                            0xFFFFFFF8, rng.randrange(fragments_size + 16)])
        mutant = data[:entry] + _pack_int(table, value, 4) + data[entry + 4 :]
        return mutant, f"bot-entry-{value}"
    count = rng.choice([1, 2, 3, 7, 64])
    entries = [rng.choice([0, 0, 8, fragments_size, 0xFFFFFFFF, rng.randrange(fragments_size + 16)])
               for _ in range(count)]
    if rng.random() < 0.5:
        entries.sort()
    new_table = b"".join(_pack_int(table, value, 4) for value in entries)
    if rng.random() < 0.3:
        new_table = new_table[:-1]  # not a multiple of 4
    mutant = set_length(data[: table.value_offset], table, len(new_table)) + new_table + data[table.end :]
    return mutant, f"bot-table-{count}"


def lie_fragment_length(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    if len(layout.items) < 2:
        return None
    item = rng.choice(layout.items[1:] if rng.random() < 0.8 else layout.items[:1])
    length = _lying_lengths(rng, item.length or 0)
    if rng.random() < 0.2:  # break the item tag instead
        tag = rng.choice([b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0", b"\x00\x00\x00\x00", b"\xe0\x7f\x10\x00"])
        return data[: item.header_offset] + tag + data[item.header_offset + 4 :], f"item-tag-{tag.hex()}"
    return set_length(data, item, length), f"fragment-length-{length}"


def lie_extended_offsets(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    if layout.pixel is None or layout.pixel.length is not None or len(layout.items) < 2:
        return None
    fragments = layout.items[1:]
    base = fragments[0].header_offset
    honest = [(item.header_offset - base, item.length or 0) for item in fragments]
    count = rng.choice([len(honest), len(honest) + 1, max(0, len(honest) - 1), 1, 1000])
    offsets, lengths = [], []
    for k in range(count):
        offset, length = honest[k % len(honest)]
        if rng.random() < 0.4:
            offset = rng.choice([0, 2**63, 2**64 - 1, offset + 1, offset + 2**32, rng.randrange(2**20)])
        if rng.random() < 0.4:
            length = rng.choice([0, 1, 2**63, 2**64 - 1, length + 1, length * 3, rng.randrange(2**20)])
        offsets.append(offset)
        lengths.append(length)
    pack = "<Q" if layout.little_endian else ">Q"
    table = b"".join(struct.pack(pack, v % 2**64) for v in offsets)
    sizes = b"".join(struct.pack(pack, v % 2**64) for v in lengths)
    if rng.random() < 0.2:
        sizes = sizes[:-8]
    existing = layout.find(EXTENDED_OFFSETS)
    if existing is not None:
        return set_value(data, existing, table), f"eot-replace-{count}"
    vr = rng.choice([b"OV"] * 6 + [b"OB", b"UN", b"UL", b"FD", b"US", b"SQ", b"IS"])  # the wrong VR, sometimes
    encoded = encode_element(layout, EXTENDED_OFFSETS, vr, table) + encode_element(
        layout, EXTENDED_LENGTHS, b"OV", sizes
    )
    position = layout.pixel.header_offset
    return data[:position] + encoded + data[position:], f"eot-add-{vr.decode()}-{count}"


def lie_element_length(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    candidates = [e for e in layout.meta + layout.elements if e is not layout.pixel]
    if not candidates:
        return None
    element = rng.choice(candidates)
    limit = (1 << 8 * element.length_size) - 1
    length = _lying_lengths(rng, element.length if element.length is not None else 16, limit)
    return set_length(data, element, length), f"length-{element.tag:08X}-{length}"


def append_junk(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    kind = rng.choice(["random", "zeros", "element", "pixel", "item"])
    if kind == "random":
        junk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 3, 8, 100])))
    elif kind == "zeros":
        junk = b"\x00" * rng.choice([1, 2, 8, 4096])
    elif kind == "element":
        junk = encode_element(layout, 0xFFFCFFFC, b"OB", b"")  # ends in a 4-byte length
        junk = junk[:-4] + _pack_int(layout.pixel or _LE, rng.choice([0xFFFFFFF0, 0x7FFFFFFF, 10]), 4)
    elif kind == "pixel":
        junk = encode_element(layout, 0x7FE00010, b"OB", b"\x01\x02" * rng.choice([1, 8]))
    else:
        junk = b"\xfe\xff\x00\xe0" + struct.pack("<I", rng.choice([0, 8, 0xFFFFFFFF, 1 << 30])) + b"\xff\xd9"
    return data + junk, f"junk-{kind}"


def duplicate_element(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    candidates = [e for e in layout.elements if e.length is not None and e.end <= len(data)]
    if not candidates:
        return None
    preferred = [e for e in candidates if e.group == 0x0028 or e is layout.pixel]
    element = rng.choice(preferred if preferred and rng.random() < 0.7 else candidates)
    copy = data[element.header_offset : element.end]
    if element is layout.pixel or rng.random() < 0.5:
        return data[: element.end] + copy + data[element.end :], f"duplicate-{element.tag:08X}"
    # A second copy with a different value, out of order, at the end of the header.
    position = layout.header_end
    return data[:position] + copy + data[position:], f"misplace-{element.tag:08X}"


def swap_pixel_vr(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    pixel = layout.pixel
    if pixel is None or pixel.vr is None or pixel.length_size != 4:
        return None
    vr = rng.choice([b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ"])
    start = pixel.header_offset + 4
    return data[:start] + vr + data[start + 2 :], f"pixel-vr-{vr.decode()}"


def swap_pixel_tag(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    pixel = layout.pixel
    if pixel is None:
        return None
    tag = rng.choice([0x7FE00008, 0x7FE00009, 0x7FE00010, 0x7FE00011, 0x60003000])
    head = struct.pack("<HH" if pixel.little_endian else ">HH", tag >> 16, tag & 0xFFFF)
    return data[: pixel.header_offset] + head + data[pixel.header_offset + 4 :], f"pixel-tag-{tag:08X}"


def lie_nested(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    """Lie inside a sequence: item and nested element lengths, tags, delimiters."""
    if not layout.nested:
        return None
    element = rng.choice(layout.nested)
    action = rng.choice(["length", "length", "undefined", "tag", "truncate"])
    if action == "truncate":
        cut = rng.randrange(element.header_offset, min(element.end, len(data)) + 1)
        return data[:cut], f"nested-truncate-{cut}"
    if action == "tag":
        tag = rng.choice([b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0", b"\xfe\xff\x00\xe0", b"\x00\x00\x00\x00",
                          b"\xe0\x7f\x10\x00", b"\x30\x92\x00\x52"])
        return data[: element.header_offset] + tag + data[element.header_offset + 4 :], (
            f"nested-tag-{element.header_offset}-{tag.hex()}"
        )
    limit = (1 << 8 * element.length_size) - 1
    if action == "undefined" and element.length_size == 4:
        length = limit
    else:
        length = _lying_lengths(rng, element.length if element.length is not None else 64, limit)
    return set_length(data, element, length), f"nested-length-{element.header_offset}-{length}"


def zero_run(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    """Zeroed bytes, as a damaged or preallocated file has: over the header, the pixel header, or appended."""
    size = rng.choice([8, 64, 512, 4096, 65536, 1 << 20])
    where = rng.choice(["overwrite", "insert", "append"])
    if where == "append":
        return data + b"\x00" * size, f"zeros-append-{size}"
    targets = [e.header_offset for e in layout.elements] + [rng.randrange(max(1, len(data)))]
    position = min(rng.choice(targets), len(data))
    if where == "insert":
        return data[:position] + b"\x00" * size + data[position:], f"zeros-insert-{position}-{size}"
    return data[:position] + b"\x00" * min(size, len(data) - position) + data[position + size :], (
        f"zeros-overwrite-{position}-{size}"
    )


def mutate_deflated(rng: random.Random, data: bytes, layout: Layout) -> Mutation | None:
    """Mutate inside a Deflated dataset: inflate, mutate the dataset, deflate again."""
    if layout.transfer_syntax != DEFLATED:
        return None
    try:
        dataset = zlib.decompress(data[layout.dataset_offset :], -zlib.MAX_WBITS)
    except zlib.error:
        return None
    bare = b"\x00" * 128 + b"DICM" + dataset  # a preamble, no file meta: the walker sees just the dataset
    inner = parse_layout(bare)
    mutant, label = mutate(rng, bare, inner, deflated=False)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = compressor.compress(mutant[132:]) + compressor.flush()
    if rng.random() < 0.1:  # or damage the compressed stream itself
        cut = rng.randrange(len(stream) + 1)
        stream, label = stream[:cut], f"{label}+stream-truncate-{cut}"
    return data[: layout.dataset_offset] + stream, f"inflated-{label}"


STRUCTURAL: list[tuple[Mutator, int]] = [
    (truncate_random, 3),
    (truncate_near_pixels, 3),
    (flip_header_bytes, 4),
    (absurd_image_pixel, 8),
    (absurd_number_of_frames, 4),
    (absurd_photometric, 2),
    (delete_image_pixel, 1),
    (swap_transfer_syntax, 2),
    (lie_pixel_length, 4),
    (lie_basic_offsets, 3),
    (lie_fragment_length, 3),
    (lie_extended_offsets, 2),
    (lie_element_length, 3),
    (append_junk, 1),
    (duplicate_element, 2),
    (swap_pixel_vr, 1),
    (swap_pixel_tag, 1),
    (lie_nested, 4),
    (zero_run, 1),
    (mutate_deflated, 40),  # applies to deflated seeds only; for them, nearly always chosen
]
"""Mutators and their weights."""


def mutate(rng: random.Random, data: bytes, layout: Layout, deflated: bool = True) -> Mutation:
    """One or (sometimes) two mutations of `data`; never returns the input unchanged."""
    chosen = [(f, w) for f, w in STRUCTURAL if deflated or f is not mutate_deflated]
    functions = [function for function, _ in chosen]
    weights = [weight for _, weight in chosen]
    labels = []
    mutant = data
    for _ in range(2 if rng.random() < 0.25 else 1):
        for _attempt in range(20):
            result = rng.choices(functions, weights)[0](rng, mutant, layout)
            if result is not None and result[0] != mutant:
                mutant, label = result
                labels.append(label)
                break
        # Later mutations use the original layout: only byte-level ones stay exact.
        functions = [truncate_random, flip_header_bytes, append_junk, truncate_near_pixels]
        weights = [1, 2, 1, 1]
    if not labels:
        mutant, label = data[: len(data) // 2], "truncate-half"
        labels.append(label)
    return mutant, "+".join(labels)


__all__ = ["ITEM", "STRUCTURAL", "mutate"]
