"""Read any radiograph file into one convention: an 8-bit grayscale PIL image (mode "L").

The format is found from the content, never the extension: DICOM by the ``DICM`` magic at
byte 128, everything else by Pillow, limited to the plugins of ``PILLOW_FORMATS`` (others are
"unsupported format ..."). The FULL pixel data is decoded, so truncated files fail instead of
being padded (``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False; decoding refuses to
run if something else set it); JPEGs are held to it too, though libjpeg only warns (see
``fracture.data.structure``), and JPEG 2000 frames in DICOM have their boxes checked before
pydicom walks them. Decoding has no deadline of its own: callers that decode untrusted files
run it in ``fracture.data.bounded``. Every failure raises
:class:`fracture.errors.UnreadableImage` with a short reason for the audit report.

Pixel conventions (``out`` is the uint8 result, rounding is half up):

- 8-bit grayscale ("L"): unchanged; "1" becomes 0/255.
- Colour and palette (RGB, CMYK incl. Adobe-inverted JPEGs, P, LA, RGBA, PA, ...): alpha,
  palette transparency included, is composited over BLACK, ``round(c * a / 255)``, because
  black is the radiograph background (air): a transparent margin must look like the film
  around the anatomy, not like bright bone. Then Pillow's ITU-R 601-2 luma, ``convert("L")``.
- 16/32-bit integer grayscale ("I;16", "I;16B", "I", ...): linear from the stored bit depth,
  ``out = round(v * 255 / (2**bits - 1))`` with ``bits`` the smallest of 8, 10, 12, 14, 16
  (32 above that) whose range holds the maximum value. 12-bit detector data in a 16-bit
  container would otherwise look black, and a full-range 16-bit image maps like ``v / 257``.
  Negative values ("I") are clipped to 0.
- 32-bit float ("F"): min-max stretch to 0..255 (no bit depth to read); NaN counts as 0 and
  a constant image becomes 0.
- EXIF orientation is applied (``ImageOps.exif_transpose``); ``width``/``height`` in
  :class:`Decoded` are the stored size, before rotation.
- Multi-frame files (GIF, TIFF, DICOM): the first frame only.
- DICOM grayscale (MONOCHROME1/2): the modality LUT (``apply_rescale``: Rescale
  Slope/Intercept), then the VOI as pydicom's ``apply_voi_lut(prefer_lut=True)`` chooses it:
  the first VOI LUT Sequence item, whose output range is taken as 0..max(LUT Data) (not
  0..2**n-1 from the LUT Descriptor, which some devices misdeclare); else the first Window
  Center/Width with the VOI LUT Function (LINEAR by default, PS3.3 C.11.2.1.2; LINEAR_EXACT
  and SIGMOID as pydicom implements them) maps into
  pydicom's ``[y_min, y_max]`` (the stored range from Bits Stored and Pixel Representation,
  rescaled), found by pushing -inf/+inf through pydicom's own windowing; else the min..max
  of the rescaled values. That range maps linearly to 0..255. MONOCHROME1 is then inverted,
  so bone is bright as in MONOCHROME2. Presentation LUT Shape is not applied.
- DICOM colour (RGB, YBR_* converted to RGB by pydicom, PALETTE COLOR via its LUT): scaled
  to 8 bits from Bits Stored (the LUT's entry size for palettes), then luma as above.

Decompression bombs: width x height from the header (DICOM Rows x Columns) is checked
against ``max_pixels`` before any pixel is decoded; Pillow's ``Image.open`` only reads the
header. Pillow's own ``DecompressionBombWarning`` is silenced locally (our guard is the
policy) and its ``DecompressionBombError`` becomes our reason. Pillow's global
``MAX_IMAGE_PIXELS`` is never changed, so its hard limit (2 x MAX_IMAGE_PIXELS, about 179
Mpx by default) still applies when ``max_pixels`` is set higher. ``warnings.catch_warnings``
is not thread-safe; decoding runs in worker processes, or in ``fracture-serve`` in its
inference threads, where the worst case is a warning shown or hidden in the wrong thread.
"""

import io
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from pydicom import dcmread
from pydicom.encaps import get_frame
from pydicom.pixels import apply_color_lut, apply_rescale, apply_voi_lut, get_decoder, pixel_array
from pydicom.uid import JPEG2000TransferSyntaxes

from fracture.data.structure import jp2_box_problem, jpeg_size_problem, strict_jpeg_bytes
from fracture.errors import UnreadableImage

# Room for the largest genuine radiographs (stitched long-leg or spine images reach tens of
# megapixels) while bounding one decoded image to about 100 MB (8-bit) per worker.
DEFAULT_MAX_PIXELS = 100_000_000

_DICOM_GRAY = ("MONOCHROME1", "MONOCHROME2")
# pydicom's decoders return these as RGB (YBR_FULL/_422 converted, ICT/RCT undone by JPEG 2000).
_DICOM_RGB = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")
_PIXEL_DATA_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
# The Pillow plugins README promises, and no others: EPS would run Ghostscript, and formats
# nobody scans X-rays into (TGA, PCX, SGI, XBM, ...) only widen what untrusted bytes reach.
# (Pillow's JPEG plugin also opens MPO, the multi-picture JPEG some cameras write.)
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP")


@dataclass(frozen=True)
class Decoded:
    """A decoded image in the project's convention, with facts about its source.

    Attributes:
        image: Mode "L", uint8, EXIF orientation applied.
        format: What the content is ("PNG", "JPEG", "DICOM", ...), whatever the extension.
        mode: The source's PIL mode, or for DICOM its Photometric Interpretation.
        width: Stored width, before EXIF rotation.
        height: Stored height, before EXIF rotation.
    """

    image: Image.Image
    format: str
    mode: str
    width: int
    height: int


def decode(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode an image file of any supported format into an 8-bit grayscale image.

    Args:
        path: The image file (str or path-like), or a seekable binary file object such as an
            upload held in memory (its errors name it by ``str(path)``).
        max_pixels: Refuse images whose width x height exceeds this, before decoding.

    Returns:
        The grayscale image and facts about the source.

    Raises:
        UnreadableImage: For any failure, with a short ``reason``.
    """
    if _is_stream(path):
        _check_stream(path)
    else:
        path = Path(path)
        _check_file(path)
    if is_dicom(path):
        return _decode_dicom(path, max_pixels)
    return _decode_pillow(path, max_pixels)


def read_radiograph(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image file into an 8-bit grayscale PIL image (see :func:`decode`).

    Args:
        path: The image file (str or path-like).
        max_pixels: Refuse images whose width x height exceeds this, before decoding.

    Returns:
        A mode "L" image.

    Raises:
        UnreadableImage: For any failure, with a short ``reason``.
    """
    return decode(path, max_pixels).image


def is_dicom(path) -> bool:
    """Tell whether a file is DICOM Part 10, by the ``DICM`` magic at byte offset 128.

    Files without the preamble (raw ACR-NEMA style datasets) are not accepted: recognising them
    needs guessing from the first tag and ``dcmread(force=True)``, which turns almost any
    bytes into a "dataset". :func:`decode` names them in its reason instead.

    Args:
        path: Any file (str or path-like), or a seekable binary file object.

    Returns:
        True if the magic is there; False otherwise, also when the file cannot be read.
    """
    return _peek(path, 128, 4) == b"DICM"


def _is_stream(path) -> bool:
    return hasattr(path, "read")


def _peek(path, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` of a file or stream (its position kept); b"" if unreadable."""
    if _is_stream(path):
        position = path.tell()
        path.seek(offset)
        head = path.read(size)
        path.seek(position)
        return head
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(size)
    except OSError:
        return b""


def _check_stream(stream) -> None:
    # Decoders read from the current position, so rewind: the whole stream is the image.
    size = stream.seek(0, 2)
    stream.seek(0)
    if size == 0:
        raise UnreadableImage(stream, "zero bytes")


def _check_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UnreadableImage(path, "file not found") from None
    except OSError as error:
        raise UnreadableImage(path, f"cannot read: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableImage(path, "not a regular file")
    if info.st_size == 0:
        raise UnreadableImage(path, "zero bytes")


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise UnreadableImage(
            path,
            f"too many pixels: {width}x{height} = {width * height:,} > max_pixels={max_pixels:,}; "
            "raise data.max_pixels if the file is genuine",
        )


# --- Pillow formats ----------------------------------------------------------------------------


def _decode_pillow(path: Path, max_pixels: int) -> Decoded:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone set Pillow's global: truncated files would be padded with grey silently.
        raise UnreadableImage(path, "refusing to decode: PIL.ImageFile.LOAD_TRUNCATED_IMAGES=True")
    try:
        with warnings.catch_warnings():
            # Our max_pixels check is the policy; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _open_with_pillow(path, max_pixels)
    except UnreadableImage:
        raise
    except Exception as error:  # any decoder failure is a reason, not a crash
        raise UnreadableImage(path, _pillow_reason(path, error, max_pixels)) from error


def _open_with_pillow(path: Path, max_pixels: int) -> Decoded:
    with Image.open(path, formats=PILLOW_FORMATS) as source:
        _check_pixels(path, source.width, source.height, max_pixels)
        if source.format == "JPEG":
            return _decode_jpeg_strictly(path, source)
        return _decoded(source, source)


def _decoded(source: Image.Image, pixels: Image.Image) -> Decoded:
    # exif_transpose loads the full first frame and returns an independent copy.
    image = _to_gray(ImageOps.exif_transpose(pixels))
    return Decoded(image, source.format, source.mode, source.width, source.height)


def _decode_jpeg_strictly(path, source: Image.Image) -> Decoded:
    """A JPEG whose data cannot fill its declared size fails instead of turning grey."""
    data = _read_all(path)
    problem = jpeg_size_problem(data, source.width, source.height, source.layer)
    if problem:
        raise UnreadableImage(path, problem)
    if source.info.get("progressive"):
        return _decoded(source, source)
    with Image.open(io.BytesIO(strict_jpeg_bytes(data)), formats=["JPEG"]) as strict:
        return _decoded(source, strict)


def _read_all(path) -> bytes:
    if _is_stream(path):
        path.seek(0)
        return path.read()
    return Path(path).read_bytes()


def _pillow_reason(path: Path, error: Exception, max_pixels: int) -> str:
    if isinstance(error, Image.DecompressionBombError):
        return _pillow_bomb_reason(error, max_pixels)
    if isinstance(error, UnidentifiedImageError):
        return _unsupported_format_reason(path) or _unknown_content_reason(path)
    if isinstance(error, OSError) and error.errno is not None:
        return f"cannot read: {error.strerror}"
    if "truncated" in str(error).lower():
        return "truncated image data"
    return f"corrupt image data ({type(error).__name__}: {str(error)[:80]})"


def _pillow_bomb_reason(error: Exception, max_pixels: int) -> str:
    # Pillow refuses in Image.open, before our check; its message holds the pixel count.
    found = re.search(r"\((\d+) pixels\)", str(error))
    count = f"{int(found[1]):,}" if found else "more than Pillow's limit"
    limit = 2 * Image.MAX_IMAGE_PIXELS
    if found and int(found[1]) > max_pixels:
        return (
            f"too many pixels: {count} > max_pixels={max_pixels:,}; "
            "raise data.max_pixels if the file is genuine"
        )
    return f"too many pixels: {count} > Pillow's limit {limit:,} (2 x PIL.Image.MAX_IMAGE_PIXELS)"


def _unsupported_format_reason(path) -> str | None:
    """Names a format Pillow knows but we do not decode; only its header is read."""
    if _is_stream(path):
        path.seek(0)
    try:
        with Image.open(path) as image:
            found = image.format
    except Exception:  # not any image format at all
        return None
    supported = ", ".join([*PILLOW_FORMATS, "DICOM"])
    return f"unsupported format {found}: convert it to one of {supported}"


def _unknown_content_reason(path: Path) -> str:
    head = _peek(path, 0, 2)
    # A preamble-less DICOM dataset starts with a group 0002 or 0008 tag (little endian).
    if head in (b"\x02\x00", b"\x08\x00"):
        return "not an image (maybe DICOM without the 128-byte preamble and DICM; re-save it)"
    return "not an image (text/unknown content)"


def _to_gray(image: Image.Image) -> Image.Image:
    if image.mode == "L":
        return image
    if image.mode == "1":  # straight to 0/255: via RGB a 100 Mpx bitmap would take 400 MB
        return image.convert("L")
    if image.mode == "F":
        return Image.fromarray(_stretch(np.asarray(image)))
    if image.mode.startswith("I"):
        return Image.fromarray(_scale_by_bit_depth(np.asarray(image)))
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return Image.fromarray(_over_black(np.asarray(image.convert("RGBA")))).convert("L")
    return image.convert("RGB").convert("L")


def _over_black(rgba: np.ndarray) -> np.ndarray:
    colour = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:].astype(np.uint32)
    # Integer round(c * a / 255); c * a / 255 is never exactly k + 0.5, so no tie rule needed.
    return ((colour * alpha + 127) // 255).astype(np.uint8)


def _scale_by_bit_depth(values: np.ndarray, bits: int | None = None) -> np.ndarray:
    values = np.clip(values.astype(np.int64), 0, None)
    if bits is None:
        peak = int(values.max(initial=0))
        bits = next((b for b in (8, 10, 12, 14, 16) if peak < 2**b), 32)
    top = 2**bits - 1
    # Exact integer form of round_half_up(v * 255 / top).
    return ((values * 510 + top) // (2 * top)).astype(np.uint8)


def _stretch(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values.astype(np.float64), nan=0.0)
    return _to_uint8(values, float(values.min(initial=0)), float(values.max(initial=0)))


def _to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of [low, high] onto 0..255, rounding half up; low == high gives 0."""
    if high == low:
        return np.zeros(values.shape, np.uint8)
    scaled = (values.astype(np.float64) - low) * (255 / (high - low))
    return np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)


# --- DICOM -------------------------------------------------------------------------------------


def _decode_dicom(path: Path, max_pixels: int) -> Decoded:
    with warnings.catch_warnings(record=True) as caught:
        # pydicom warns about non-conformant files it still reads; only a truncation matters.
        warnings.simplefilter("always")
        ds = _read_dataset(path)
        if any("end of file" in str(warning.message).lower() for warning in caught):
            raise UnreadableImage(path, "truncated image data")  # pydicom drops the pixel data
        rows, columns, photometric = _dicom_geometry(path, ds)
        _check_pixels(path, columns, rows, max_pixels)
        _check_transfer_syntax(path, ds)
        _check_encapsulated_frame(path, ds)
        pixels = _dicom_to_uint8(path, _first_frame(path, ds), ds, photometric)
    return Decoded(Image.fromarray(pixels), "DICOM", photometric, columns, rows)


def _read_dataset(path: Path):
    # No force=True: is_dicom already saw the DICM magic, so a standard read must work.
    try:
        return dcmread(path)
    except Exception as error:  # pydicom raises many kinds on broken headers
        raise UnreadableImage(path, _dicom_reason("corrupt DICOM header", error)) from error


def _first_frame(path: Path, ds) -> np.ndarray:
    try:
        return pixel_array(ds, index=0)
    except Exception as error:  # decoder errors of any kind become a reason
        raise UnreadableImage(path, _dicom_reason("corrupt DICOM pixel data", error)) from error


def _dicom_reason(what: str, error: Exception) -> str:
    text = str(error)
    if "less than expected" in text or "truncated" in text.lower():
        return "truncated image data"
    return f"{what} ({type(error).__name__}: {text[:80]})"


def _dicom_geometry(path: Path, ds) -> tuple[int, int, str]:
    if not any(tag in ds for tag in _PIXEL_DATA_TAGS):
        raise UnreadableImage(path, "DICOM without pixel data")
    try:
        return int(ds.Rows), int(ds.Columns), str(ds.PhotometricInterpretation)
    except (AttributeError, TypeError, ValueError):
        raise UnreadableImage(
            path, "DICOM without Rows/Columns/PhotometricInterpretation"
        ) from None


def _check_transfer_syntax(path: Path, ds) -> None:
    uid = ds.file_meta.get("TransferSyntaxUID")
    if uid is None:
        raise UnreadableImage(path, "DICOM without a transfer syntax")
    label = uid.name if uid.name == str(uid) else f"{uid.name} ({uid})"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise UnreadableImage(
            path,
            f"unsupported DICOM transfer syntax {label}: pydicom has no decoder for it; "
            "convert the file to an uncompressed syntax (e.g. gdcmconv --raw)",
        ) from None
    if not decoder.is_available:
        plugins = "; or ".join(decoder.missing_dependencies) or "a pydicom decoding plugin"
        raise UnreadableImage(path, f"unsupported DICOM transfer syntax {label}: install {plugins}")


def _check_encapsulated_frame(path: Path, ds) -> None:
    # pydicom parses a JPEG 2000 frame's boxes itself, before any decoder, and never returns
    # from a box of length 0.
    if ds.file_meta.TransferSyntaxUID not in JPEG2000TransferSyntaxes:
        return
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        frame = get_frame(ds.PixelData, 0, number_of_frames=frames)
    except Exception as error:  # broken fragment items
        raise UnreadableImage(path, _dicom_reason("corrupt DICOM pixel data", error)) from error
    problem = jp2_box_problem(frame)
    if problem:
        raise UnreadableImage(path, problem)


def _dicom_to_uint8(path: Path, frame: np.ndarray, ds, photometric: str) -> np.ndarray:
    try:
        if photometric in _DICOM_GRAY:
            return _dicom_gray(frame, ds, invert=photometric == "MONOCHROME1")
        if photometric == "PALETTE COLOR":
            rgb = apply_color_lut(frame, ds)
            return _luma(_scale_by_bit_depth(rgb, 8 * rgb.itemsize))
        if photometric in _DICOM_RGB and frame.ndim == 3:
            return _luma(_scale_by_bit_depth(frame, int(ds.BitsStored)))
    except Exception as error:  # bad LUT or window values in the header
        raise UnreadableImage(path, f"bad DICOM LUT/window ({str(error)[:80]})") from error
    raise UnreadableImage(path, f"unsupported DICOM PhotometricInterpretation {photometric}")


def _dicom_gray(frame: np.ndarray, ds, invert: bool) -> np.ndarray:
    values = apply_rescale(frame, ds)
    windowed, (low, high) = _apply_voi(values, ds)
    out = _to_uint8(windowed, low, high)
    return 255 - out if invert else out


def _apply_voi(values: np.ndarray, ds) -> tuple[np.ndarray, tuple[float, float]]:
    """VOI LUT or window (pydicom's choice with prefer_lut=True) and its output range."""
    if _has_voi_lut(ds):
        return _apply_voi_lut_sequence(values, ds)
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        low, high = apply_voi_lut(np.array([-np.inf, np.inf]), ds, prefer_lut=True)
        return apply_voi_lut(values, ds, prefer_lut=True), (float(low), float(high))
    return values, (float(values.min()), float(values.max()))


def _apply_voi_lut_sequence(values: np.ndarray, ds) -> tuple[np.ndarray, tuple[float, float]]:
    # Applied here, not by pydicom 3.0's apply_voi: for 8-bit entries it indexes through a
    # uint8 array, so inputs above 255 wrap around.
    item = ds.VOILUTSequence[0]
    entries, first = int(item.LUTDescriptor[0]) or 2**16, int(item.LUTDescriptor[1])
    table = _lut_table(item, ds)[:entries]
    index = np.floor(values.astype(np.float64) + 0.5).astype(np.int64) - first
    # Range 0..max(table), not 0..2**bits-1: devices (notably Agfa CR) declare 16 bits for
    # 12-bit entries; Horos and Cornerstone read the table's own maximum too.
    return table[np.clip(index, 0, len(table) - 1)], (0.0, float(table.max()))


def _lut_table(item, ds) -> np.ndarray:
    data = item.LUTData
    if isinstance(data, bytes):  # OW: 16-bit words in the file's byte order
        order = "<" if ds.original_encoding[1] is not False else ">"
        return np.frombuffer(data, dtype=f"{order}u2").astype(np.int64)
    return np.atleast_1d(np.asarray(data, dtype=np.int64))


def _has_voi_lut(ds) -> bool:
    # The same validity test pydicom's apply_voi_lut uses before it prefers the LUT.
    items = ds.get("VOILUTSequence")
    return bool(items) and all(items[0].get(k) is not None for k in ("LUTDescriptor", "LUTData"))


def _luma(rgb8: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb8, "RGB").convert("L"))
