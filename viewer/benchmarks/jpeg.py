"""A small JPEG Baseline (ISO 10918-1 process 1) encoder in numpy.

pydicom has no JPEG Baseline encoder and the project does not depend on one,
but ultrasound cines are mostly JPEG Baseline, so the benchmark encodes its
own. Colour images are converted to YCbCr (JFIF equations) and the chroma
subsampled 2:1 horizontally (4:2:2, DICOM's ``YBR_FULL_422``); grey images
are one component. Quantization and Huffman tables are the example tables
of Annex K; every step, Huffman coding and bit packing included, is
vectorized, so a 640x480 colour frame takes tens of milliseconds.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["encode_baseline"]

_LUMA_QUANT = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]).reshape(8, 8)
_CHROMA_QUANT = np.full((8, 8), 99)
_CHROMA_QUANT[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]

_DC_LUMA_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_DC_CHROMA_BITS = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
_AC_LUMA_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D]
_AC_CHROMA_BITS = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77]
# Annex K lists the AC symbols as these heads followed by every other symbol in
# ascending order.
_AC_LUMA_HEAD = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16,
]
_AC_CHROMA_HEAD = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1,
]
_AC_SYMBOLS = [0x00, 0xF0] + [run << 4 | size for run in range(16) for size in range(1, 11)]
_EOB, _ZRL = 0x00, 0xF0
_MAX_ITEM_BITS = 27  # a 16-bit code and up to 11 value bits


def _ac_values(head: list[int]) -> list[int]:
    return head + sorted(set(_AC_SYMBOLS) - set(head))


class _HuffmanTable:
    """Code and length of each symbol, built as in Annex C."""

    def __init__(self, bits: list[int], values: list[int]) -> None:
        if sum(bits) != len(values) or len(set(values)) != len(values):
            raise ValueError("inconsistent Huffman table")
        self.bits, self.values = bits, values
        self.code = np.zeros(256, dtype=np.uint32)
        self.length = np.zeros(256, dtype=np.uint32)
        code, position = 0, 0
        for length, count in enumerate(bits, start=1):
            for _ in range(count):
                self.code[values[position]], self.length[values[position]] = code, length
                code += 1
                position += 1
            code <<= 1

    def segment(self, table_class: int, table_id: int) -> bytes:
        body = bytes([table_class << 4 | table_id]) + bytes(self.bits) + bytes(self.values)
        return _marker(0xC4, body)


_TABLES = {
    "dc": (_HuffmanTable(_DC_LUMA_BITS, list(range(12))), _HuffmanTable(_DC_CHROMA_BITS, list(range(12)))),
    "ac": (_HuffmanTable(_AC_LUMA_BITS, _ac_values(_AC_LUMA_HEAD)),
           _HuffmanTable(_AC_CHROMA_BITS, _ac_values(_AC_CHROMA_HEAD))),
}


def _zigzag() -> np.ndarray:
    """Natural (row-major) index of each zigzag position."""
    cells = [(row, column) for row in range(8) for column in range(8)]
    cells.sort(key=lambda cell: (sum(cell), cell[0] if sum(cell) % 2 else -cell[0]))
    return np.array([row * 8 + column for row, column in cells])


_ZIGZAG = _zigzag()
_DCT = np.array([[np.sqrt((1 if u == 0 else 2) / 8) * np.cos((2 * x + 1) * u * np.pi / 16) for x in range(8)]
                 for u in range(8)], dtype=np.float32)


def _scaled_quant(table: np.ndarray, quality: int) -> np.ndarray:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((table * scale + 50) // 100, 1, 255).astype(np.float32)


def _marker(code: int, body: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", len(body) + 2) + body


def _blocks(plane: np.ndarray) -> np.ndarray:
    """(block rows, block columns, 8, 8) view of a plane whose sides are multiples of 8."""
    rows, columns = plane.shape
    return plane.reshape(rows // 8, 8, columns // 8, 8).swapaxes(1, 2)


def _quantized(plane: np.ndarray, quant: np.ndarray) -> np.ndarray:
    """Zigzag-ordered quantized DCT coefficients, shape (block rows, block columns, 64)."""
    coefficients = _DCT @ _blocks(plane.astype(np.float32) - 128) @ _DCT.T
    quantized = np.rint(coefficients / quant).astype(np.int32)
    return quantized.reshape(*quantized.shape[:2], 64)[..., _ZIGZAG]


def _pad(plane: np.ndarray, rows: int, columns: int) -> np.ndarray:
    return np.pad(plane, ((0, rows - plane.shape[0]), (0, columns - plane.shape[1])), mode="edge")


def _size_and_bits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """JPEG magnitude category and the value bits (ones' complement for negatives)."""
    magnitude = np.abs(values).astype(np.uint32)
    size = np.zeros(values.shape, dtype=np.uint32)
    nonzero = magnitude > 0
    size[nonzero] = np.floor(np.log2(magnitude[nonzero])).astype(np.uint32) + 1
    bits = np.where(values < 0, values + (1 << size.astype(np.int64)) - 1, values).astype(np.uint32)
    return size, bits


def _entropy_items(blocks: np.ndarray, component: np.ndarray, chroma: np.ndarray):
    """(order keys, code, code length, value bits, value length) of every symbol.

    Parameters
    ----------
    blocks : (n, 64) int32 zigzag coefficients in scan order.
    component : (n,) component index of each block (DC prediction is per component).
    chroma : (n,) bool, True for blocks coded with the chrominance tables.
    """
    count = len(blocks)
    dc = blocks[:, 0].astype(np.int64)
    diff = np.empty_like(dc)
    for index in np.unique(component):
        mine = component == index
        diff[mine] = np.diff(dc[mine], prepend=0)
    table = chroma.astype(np.intp)
    keys, codes, code_lengths, values, value_lengths = [], [], [], [], []

    def add(block: np.ndarray, slot: np.ndarray, symbol: np.ndarray, kind: str, size, bits) -> None:
        luma, chrom = _TABLES[kind]
        use_chroma = table[block] == 1
        keys.append(block.astype(np.int64) * 256 + slot)
        codes.append(np.where(use_chroma, chrom.code[symbol], luma.code[symbol]))
        code_lengths.append(np.where(use_chroma, chrom.length[symbol], luma.length[symbol]))
        values.append(bits)
        value_lengths.append(size)

    size, bits = _size_and_bits(diff)
    add(np.arange(count), np.zeros(count, dtype=np.int64), size, "dc", size, bits)

    block, position = np.nonzero(blocks[:, 1:])  # row-major: by block, then position
    first = np.ones(len(block), dtype=bool)
    first[1:] = block[1:] != block[:-1]
    previous = np.where(first, -1, np.roll(position, 1))
    run = position - previous - 1
    size, bits = _size_and_bits(blocks[:, 1:][block, position])
    zero_runs = run // 16
    zrl_block = np.repeat(block, zero_runs)
    zrl_slot = np.repeat(2 * position + 2, zero_runs).astype(np.int64)
    zrl_symbol = np.full(len(zrl_block), _ZRL, dtype=np.uint32)
    nothing = np.zeros(len(zrl_block), dtype=np.uint32)
    add(zrl_block, zrl_slot, zrl_symbol, "ac", nothing, nothing)
    symbol = ((run % 16) << 4 | size).astype(np.uint32)
    add(block, (2 * position + 3).astype(np.int64), symbol, "ac", size, bits)

    last_nonzero = np.full(count, -1)
    np.maximum.at(last_nonzero, block, position)
    eob_block = np.flatnonzero(last_nonzero < 62)
    none = np.zeros(len(eob_block), dtype=np.uint32)
    add(eob_block, np.full(len(eob_block), 255, dtype=np.int64), np.full(len(eob_block), _EOB, dtype=np.uint32),
        "ac", none, none)
    return [np.concatenate(parts) for parts in (keys, codes, code_lengths, values, value_lengths)]


def _pack_bits(keys, codes, code_lengths, values, value_lengths) -> bytes:
    """Concatenate the items' bits in key order, pad with ones, stuff 0xFF bytes."""
    order = np.argsort(keys, kind="stable")
    lengths = (code_lengths + value_lengths)[order].astype(np.int64)
    words = ((codes << value_lengths) | values)[order]  # at most 27 bits: fits uint32
    shifts = lengths[:, None] - 1 - np.arange(_MAX_ITEM_BITS)[None, :]
    valid = shifts >= 0
    bits = ((words[:, None] >> np.maximum(shifts, 0).astype(np.uint32)) & 1).astype(np.uint8)[valid]
    bits = np.concatenate([bits, np.ones(-len(bits) % 8, dtype=np.uint8)])
    data = np.packbits(bits)
    stuffed = np.insert(data, np.flatnonzero(data == 0xFF) + 1, 0)
    return stuffed.tobytes()


def encode_baseline(image: np.ndarray, quality: int = 90) -> bytes:
    """Encode an 8-bit grey or RGB image as a baseline JPEG (JFIF-less) stream.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8`` of shape (rows, columns) or (rows, columns, 3) RGB.
    quality : int, optional
        IJG quality 1-100 scaling the Annex K tables.

    Returns
    -------
    bytes
        SOI ... EOI. Colour is YCbCr 4:2:2 (DICOM ``YBR_FULL_422``).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"need uint8 (rows, columns) or (rows, columns, 3), not {image.dtype} {image.shape}")
    rows, columns = image.shape[:2]
    colour = image.ndim == 3
    luma_quant, chroma_quant = _scaled_quant(_LUMA_QUANT, quality), _scaled_quant(_CHROMA_QUANT, quality)
    mcu_columns = 16 if colour else 8
    padded_rows, padded_columns = -(-rows // 8) * 8, -(-columns // mcu_columns) * mcu_columns
    if colour:
        rgb = image.astype(np.float32)
        red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        luma = 0.299 * red + 0.587 * green + 0.114 * blue
        blue_diff = -0.168736 * red - 0.331264 * green + 0.5 * blue + 128
        red_diff = 0.5 * red - 0.418688 * green - 0.081312 * blue + 128
        luma = _quantized(_pad(luma, padded_rows, padded_columns), luma_quant)
        chroma = [
            _quantized(_pad(plane, padded_rows, padded_columns).reshape(padded_rows, -1, 2).mean(axis=2),
                       chroma_quant)
            for plane in (blue_diff, red_diff)
        ]
        block_rows, mcus = chroma[0].shape[:2]
        scan = np.concatenate(
            [luma.reshape(block_rows, mcus, 2, 64), chroma[0][:, :, None], chroma[1][:, :, None]], axis=2
        ).reshape(-1, 64)
        component = np.tile([0, 0, 1, 2], block_rows * mcus)
    else:
        scan = _quantized(_pad(image.astype(np.float32), padded_rows, padded_columns), luma_quant).reshape(-1, 64)
        component = np.zeros(len(scan), dtype=np.intp)
    entropy = _pack_bits(*_entropy_items(scan, component, component > 0))
    return _headers(rows, columns, colour, luma_quant, chroma_quant) + entropy + b"\xff\xd9"


def _headers(rows: int, columns: int, colour: bool, luma_quant: np.ndarray, chroma_quant: np.ndarray) -> bytes:
    quant = bytes([0]) + bytes(luma_quant.astype(np.uint8).reshape(64)[_ZIGZAG].tolist())
    tables = [_TABLES["dc"][0].segment(0, 0), _TABLES["ac"][0].segment(1, 0)]
    if colour:
        quant += bytes([1]) + bytes(chroma_quant.astype(np.uint8).reshape(64)[_ZIGZAG].tolist())
        tables += [_TABLES["dc"][1].segment(0, 1), _TABLES["ac"][1].segment(1, 1)]
        frame_components = bytes([1, 0x21, 0, 2, 0x11, 1, 3, 0x11, 1])
        scan_components = bytes([1, 0x00, 2, 0x11, 3, 0x11])
    else:
        frame_components, scan_components = bytes([1, 0x11, 0]), bytes([1, 0x00])
    count = 3 if colour else 1
    start_of_frame = _marker(0xC0, struct.pack(">BHHB", 8, rows, columns, count) + frame_components)
    start_of_scan = _marker(0xDA, bytes([count]) + scan_components + bytes([0, 63, 0]))
    return b"\xff\xd8" + _marker(0xDB, quant) + start_of_frame + b"".join(tables) + start_of_scan
