"""Structural checks on untrusted bytes, made before a decoder sees them.

Decoders are lenient in ways that hurt here: pydicom 3's ``get_j2k_parameters`` loops for
ever on a JP2 box of length 0 (``offset += 0``), and libjpeg only *warns* when a JPEG's scan
data ends early, filling the rest with grey, which Pillow never reports. Each check returns
``None`` for bytes that are fine, or a short reason.
"""

import struct

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_JP2_CODESTREAM_BOX = b"jp2c"
_JPEG_EOI = b"\xff\xd9"
# Huffman-coded frames (baseline, extended, progressive, lossless); arithmetic-coded frames
# (SOF9..SOF15) can code a flat block in less than one bit, so no size bound applies to them.
_HUFFMAN_SOF = (0xC0, 0xC1, 0xC2, 0xC3)
# Bytes after the scan when its end-of-image marker is taken away (see strict_jpeg_bytes).
_JPEG_PADDING = b"\x00" * 64


def jp2_box_problem(frame: bytes) -> str | None:
    """Why a JPEG 2000 frame's JP2 boxes cannot be walked safely, or None.

    A raw codestream (no JP2 signature) has no boxes and passes. Boxes are walked up to the
    codestream box (``jp2c``, which may legally have length 0: "to the end").
    """
    if not frame.startswith(_JP2_SIGNATURE):
        return None
    offset = len(_JP2_SIGNATURE)
    while offset + 8 <= len(frame):
        length, kind = struct.unpack_from(">I4s", frame, offset)
        if kind == _JP2_CODESTREAM_BOX:
            return None
        if length == 1 and offset + 16 <= len(frame):  # XLBox: a 64-bit length follows
            length = struct.unpack_from(">Q", frame, offset + 8)[0]
        if length < 8:
            return f"corrupt JPEG 2000 data: a box of length {length} at byte {offset}"
        if offset + length > len(frame):
            return f"corrupt JPEG 2000 data: a box at byte {offset} runs past the end"
        offset += length
    return "corrupt JPEG 2000 data: no codestream box"


def jpeg_size_problem(data: bytes, width: int, height: int, components) -> str | None:
    """Why a Huffman-coded JPEG is too short for the size its header declares, or None.

    Every 8 x 8 block of every component costs at least one bit (its DC code), so a 5 KB
    file cannot hold 9,000 x 9,000 pixels.

    Args:
        data: The whole file.
        width: Declared width.
        height: Declared height.
        components: Pillow's ``layer``: ``(id, h, v, qtable)`` per component.
    """
    if _sof_marker(data) not in _HUFFMAN_SOF or not components:
        return None
    h_max = max(h for _, h, _, _ in components)
    v_max = max(v for _, _, v, _ in components)
    # A component's size is the image's scaled by its sampling factors, rounded up (A.1.1).
    blocks = sum(
        _ceil(_ceil(width * h, h_max), 8) * _ceil(_ceil(height * v, v_max), 8)
        for _, h, v, _ in components
    )
    if len(data) * 8 < blocks:
        return (
            f"truncated image data: {len(data):,} bytes cannot fill the declared "
            f"{width}x{height} pixels"
        )
    return None


def strict_jpeg_bytes(data: bytes) -> bytes:
    """The JPEG with its end-of-image marker replaced by padding that is not a marker.

    libjpeg fills a scan that stops at a marker with grey and only warns. Without the
    marker, a decoder that needs more of the scan than the file holds runs out of data, which
    Pillow reports as truncated; a complete sequential scan decodes exactly as before (the
    decoder stops after the last row and never reads the padding). Progressive files are
    buffered to their end marker, so they are decoded as they are.
    """
    end = data.rfind(_JPEG_EOI)
    return (data[:end] if end > 0 else data) + _JPEG_PADDING


def _ceil(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _sof_marker(data: bytes) -> int | None:
    """The frame's SOFn marker byte, walking the segments after SOI; None if not found."""
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        offset += 2 + struct.unpack_from(">H", data, offset + 2)[0]
    return None
