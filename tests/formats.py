"""Writers for every kind of image file the decoder meets, good and broken.

Each function writes one file into ``directory`` from a numpy array and returns its path, so
tests of decoding, auditing and training on broken files share the same fixtures.
"""

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import (
    UID,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    generate_uid,
)

# Pillow's EXIF tag for orientation; 6 means "rotate 90 degrees clockwise to display".
EXIF_ORIENTATION = 0x0112


def write_png8(directory, arr: np.ndarray, name: str = "gray8.png") -> Path:
    return _save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name, format="PNG")


def write_png16(directory, arr16: np.ndarray, name: str = "gray16.png") -> Path:
    return _save(Image.fromarray(arr16.astype(np.uint16)), directory, name)  # mode "I;16"


def write_palette_png(
    directory, indices: np.ndarray, palette: np.ndarray, transparent: int, name="palette.png"
) -> Path:
    """Palette image; entry ``transparent`` is fully transparent (a PNG tRNS chunk)."""
    image = Image.fromarray(indices.astype(np.uint8), "P")
    image.putpalette(palette.astype(np.uint8).ravel().tolist())
    return _save(image, directory, name, transparency=transparent)


def write_rgba_png(directory, rgba: np.ndarray, name: str = "rgba.png") -> Path:
    return _save(Image.fromarray(rgba.astype(np.uint8), "RGBA"), directory, name)


def write_cmyk_jpeg(directory, cmyk: np.ndarray, name: str = "cmyk.jpg") -> Path:
    """CMYK JPEG; Pillow writes it Adobe-style (inverted). Use 8x8-uniform blocks for exactness."""
    return _save(Image.fromarray(cmyk.astype(np.uint8), "CMYK"), directory, name, quality=100)


def write_exif_rotated_jpeg(
    directory, arr: np.ndarray, orientation: int = 6, name: str = "rotated.jpg"
) -> Path:
    """Grayscale JPEG stored as ``arr`` with an EXIF orientation tag (6: display = rot 90 CW)."""
    return _save_with_orientation(arr, directory, name, orientation, quality=100)


def write_exif_rotated_png(
    directory, arr: np.ndarray, orientation: int = 6, name: str = "rotated.png"
) -> Path:
    """Grayscale PNG (lossless) stored as ``arr`` with an EXIF orientation (eXIf chunk)."""
    return _save_with_orientation(arr, directory, name, orientation)


def write_multiframe_tiff(directory, frames: list[np.ndarray], name: str = "pages.tif") -> Path:
    images = [Image.fromarray(f.astype(np.uint8), "L") for f in frames]
    return _save(images[0], directory, name, save_all=True, append_images=images[1:])


def write_gif_named_jpg(directory, arr: np.ndarray, name: str = "really_a_gif.jpg") -> Path:
    return _save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name, format="GIF")


def write_bmp(directory, arr: np.ndarray, name: str = "gray.bmp") -> Path:
    return _save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name)


def write_tiff16(
    directory, arr16: np.ndarray, name: str = "gray16.tif", big_endian: bool = False
) -> Path:
    dtype = ">u2" if big_endian else "<u2"  # Pillow modes "I;16B" / "I;16"
    return _save(Image.fromarray(arr16.astype(dtype)), directory, name)


def write_tiff_int32(directory, arr: np.ndarray, name: str = "int32.tif") -> Path:
    return _save(Image.fromarray(arr.astype(np.int32)), directory, name)  # mode "I"


def write_tiff_float(directory, arr: np.ndarray, name: str = "float.tif") -> Path:
    return _save(Image.fromarray(arr.astype(np.float32)), directory, name)  # mode "F"


def write_truncated_jpeg(directory, arr: np.ndarray, name: str = "truncated.jpg") -> Path:
    return _truncate(_save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name))


def write_truncated_png(directory, arr: np.ndarray, name: str = "truncated.png") -> Path:
    return _truncate(_save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name))


def write_jpeg_claiming(
    directory, arr: np.ndarray, width: int, height: int, name: str = "padded.jpg"
) -> Path:
    """A baseline JPEG of ``arr`` whose frame header claims ``width`` x ``height``."""
    path = _save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name, quality=90)
    data = path.read_bytes()
    sof = data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1), then height, width
    path.write_bytes(data[:sof] + struct.pack(">HH", height, width) + data[sof + 4 :])
    return path


def write_half_jpeg_with_end_marker(
    directory, arr: np.ndarray, progressive: bool = False, name: str = "half.jpg"
) -> Path:
    """The first half of a JPEG, then an end-of-image marker, as if it were complete."""
    image = Image.fromarray(arr.astype(np.uint8), "L")
    path = _save(image, directory, name, quality=90, progressive=progressive)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    return path


def write_pillow_format(directory, fmt: str, name: str) -> Path:
    """A small valid image in a format Pillow reads but README does not list (TGA, EPS...)."""
    mode = "1" if fmt == "XBM" else "L"
    return _save(Image.new(mode, (10, 10)), directory, name, format=fmt)


def write_jp2_dicom_with_zero_box(directory, arr: np.ndarray, name: str = "zero_box.dcm") -> Path:
    """A JPEG 2000 DICOM whose frame is wrapped in JP2 boxes, one of them of length 0.

    pydicom 3's ``get_j2k_parameters`` adds the box length to its offset and never
    advances: decoding this file without a pre-check loops for ever.
    """
    path = write_dicom(directory, arr, transfer_syntax=JPEG2000Lossless, name=name)
    ds = dcmread(path)
    codestream = get_frame(ds.PixelData, 0, number_of_frames=1)
    boxes = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x00ftyp"
    ds.PixelData = encapsulate([boxes + codestream])
    return _save_dicom(ds, directory, name)


def write_zero_byte(directory, name: str = "empty.png") -> Path:
    path = Path(directory) / name
    path.write_bytes(b"")
    return path


def write_text_as_png(directory, name: str = "notes.png") -> Path:
    path = Path(directory) / name
    path.write_text("patient 12: left wrist, see report\n")
    return path


def write_huge_png_header(directory, width: int, height: int, name: str = "huge.png") -> Path:
    """A PNG whose header claims ``width`` x ``height`` 1-bit pixels, with no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path = Path(directory) / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b""))
    return path


def write_dicom(
    directory,
    arr: np.ndarray,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    bits_stored: int | None = None,
    name: str = "image.dcm",
    with_pixels: bool = True,
) -> Path:
    """A Digital X-Ray DICOM file; ``window`` is (center, width), each a number or a list.

    Compressed transfer syntaxes are encoded by ``Dataset.compress`` (RLE natively, JPEG-LS
    via pyjpegls, JPEG 2000 via pylibjpeg-openjpeg, which needs at least 32x32 pixels for its
    6 resolution levels). ``bits_stored`` defaults to 8 for uint8 data and 12 for uint16.
    """
    ds = _dicom_dataset(arr, photometric, bits_stored)
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = slope, intercept or 0, "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if UID(transfer_syntax).is_compressed:
        ds.compress(transfer_syntax)
    else:  # native: pydicom writes the dataset in that encoding
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    if not with_pixels:
        del ds.PixelData
    return _save_dicom(ds, directory, name)


def write_dicom_without_preamble(directory, arr: np.ndarray, name: str = "raw.dcm") -> Path:
    """A DICOM file with its 128-byte preamble and ``DICM`` magic cut off."""
    path = write_dicom(directory, arr, name=name)
    path.write_bytes(path.read_bytes()[132:])
    return path


def write_truncated_dicom(
    directory, arr: np.ndarray, transfer_syntax=ExplicitVRLittleEndian, name: str = "truncated.dcm"
) -> Path:
    """A DICOM file cut 100 bytes short, inside its pixel data."""
    path = write_dicom(directory, arr, transfer_syntax=transfer_syntax, name=name)
    path.write_bytes(path.read_bytes()[:-100])
    return path


def write_dicom_jpeg_baseline(directory, arr: np.ndarray, name: str = "baseline.dcm") -> Path:
    """MONOCHROME2 8-bit DICOM whose pixel data is a (lossy) baseline JPEG made by Pillow."""
    ds = _dicom_dataset(arr.astype(np.uint8), "MONOCHROME2", 8)
    jpeg = Path(directory) / f"{name}.jpg"
    Image.fromarray(arr.astype(np.uint8), "L").save(jpeg, quality=90)
    ds.PixelData = encapsulate([jpeg.read_bytes()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return _save_dicom(ds, directory, name)


def write_dicom_encapsulated(directory, arr: np.ndarray, transfer_syntax: str, name: str) -> Path:
    """A DICOM claiming ``transfer_syntax`` with junk encapsulated data (for unsupported ones)."""
    ds = _dicom_dataset(arr, "MONOCHROME2", None)
    ds.PixelData = encapsulate([b"\x00" * 16])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    return _save_dicom(ds, directory, name)


def _dicom_dataset(arr: np.ndarray, photometric: str, bits_stored: int | None) -> Dataset:
    allocated = 8 * arr.dtype.itemsize
    colour = arr.ndim == 3 and photometric == "RGB"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = arr.shape[:2] if colour else arr.shape[-2:]
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    elif arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or (8 if allocated == 8 else 12)
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    return ds


def _save_dicom(ds: Dataset, directory, name: str) -> Path:
    path = Path(directory) / name
    ds.save_as(path, enforce_file_format=True)
    return path


def _save_with_orientation(arr, directory, name: str, orientation: int, **options) -> Path:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return _save(Image.fromarray(arr.astype(np.uint8), "L"), directory, name, exif=exif, **options)


def _save(image: Image.Image, directory, name: str, **options) -> Path:
    path = Path(directory) / name
    image.save(path, **options)
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
