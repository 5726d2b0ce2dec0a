"""Every format reaches the same convention: exact uint8 grayscale values, facts, and reasons."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageFile
from pydicom import dcmread, uid
from pydicom.dataset import Dataset

import fracture.data.decode as decode_module
from fracture.data.decode import DEFAULT_MAX_PIXELS, decode, is_dicom, read_radiograph
from fracture.errors import UnreadableImage
from tests import formats

SHAPE = (16, 24)  # rows, columns
DICOM_SHAPE = (32, 48)  # JPEG 2000 needs 32 px per side for its 6 resolution levels
RNG = np.random.default_rng(7)


def pixels(path, **kwargs) -> np.ndarray:
    decoded = decode(path, **kwargs)
    assert decoded.image.mode == "L"
    return np.asarray(decoded.image)


def round_half_up(values) -> np.ndarray:
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma in Pillow's fixed-point form: (19595 R + 38470 G + 7471 B) / 65536."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16


def over_black(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return round_half_up(colour.astype(np.float64) * alpha[..., None] / 255)


def dicom_linear(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR window with output range 0..255."""
    c, w = center - 0.5, width - 1
    y = ((x - c) / w + 0.5) * 255
    y = np.where(x <= c - w / 2, 0, np.where(x > c + w / 2, 255, y))
    return round_half_up(y)


def reason(path, **kwargs) -> str:
    with pytest.raises(UnreadableImage) as caught:
        decode(path, **kwargs)
    assert caught.value.path is not None
    return caught.value.reason


def gray8(shape=SHAPE) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def stored(bits: int, shape=SHAPE) -> np.ndarray:
    """Random values of exactly ``bits`` bits: the maximum 2**bits - 1 is always present."""
    arr = RNG.integers(0, 2**bits, shape, dtype=np.uint16)
    arr[0, 0] = 2**bits - 1
    return arr


def as_float(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float64)  # uint16 * 255 would wrap around


# --- Pillow formats ----------------------------------------------------------------------------


def test_png8_is_unchanged_with_facts(tmp_path):
    arr = gray8()
    decoded = decode(formats.write_png8(tmp_path, arr))
    assert (decoded.format, decoded.mode, decoded.width, decoded.height) == ("PNG", "L", 24, 16)
    np.testing.assert_array_equal(np.asarray(decoded.image), arr)


def test_read_radiograph_is_the_decoded_image(tmp_path):
    arr = gray8()
    image = read_radiograph(formats.write_png8(tmp_path, arr))
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), arr)


@pytest.mark.parametrize("bits", [8, 10, 12, 14, 16])
@pytest.mark.parametrize(
    ("writer", "fmt", "mode"),
    [
        (formats.write_png16, "PNG", "I;16"),
        (formats.write_tiff16, "TIFF", "I;16"),
        (lambda d, a: formats.write_tiff16(d, a, big_endian=True), "TIFF", "I;16B"),
    ],
)
def test_sixteen_bit_maps_from_the_stored_bit_depth(tmp_path, writer, fmt, mode, bits):
    arr = stored(bits)
    decoded = decode(writer(tmp_path, arr))
    assert (decoded.format, decoded.mode, decoded.width, decoded.height) == (fmt, mode, 24, 16)
    expected = round_half_up(as_float(arr) * 255 / (2**bits - 1))
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)


def test_full_range_sixteen_bit_maps_like_division_by_257(tmp_path):
    arr = stored(16)
    arr[0, 1] = 257 * 100
    out = pixels(formats.write_png16(tmp_path, arr))
    np.testing.assert_array_equal(out, round_half_up(arr / 257))
    assert out[0, 0] == 255 and out[0, 1] == 100


def test_32_bit_integer_tiff_uses_32_bits_and_clips_negatives(tmp_path):
    arr = RNG.integers(0, 2**31 - 1, SHAPE, dtype=np.int64)
    arr[0, 0], arr[0, 1] = 2**31 - 1, -5
    decoded = decode(formats.write_tiff_int32(tmp_path, arr))
    assert decoded.mode == "I"
    expected = round_half_up(np.clip(arr, 0, None) * 255 / (2**32 - 1))
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)
    assert np.asarray(decoded.image)[0, 1] == 0


def test_float_tiff_is_min_max_stretched(tmp_path):
    arr = RNG.uniform(-3.0, 5.0, SHAPE).astype(np.float32)
    decoded = decode(formats.write_tiff_float(tmp_path, arr))
    assert (decoded.format, decoded.mode) == ("TIFF", "F")
    v = arr.astype(np.float64)
    expected = round_half_up((v - v.min()) * 255 / (v.max() - v.min()))
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)


def test_palette_transparency_is_composited_over_black(tmp_path):
    palette = np.array([[10, 20, 30], [200, 100, 50], [0, 0, 255], [255, 255, 255]], np.uint8)
    indices = RNG.integers(0, 4, SHAPE, dtype=np.uint8)
    decoded = decode(formats.write_palette_png(tmp_path, indices, palette, transparent=2))
    assert (decoded.format, decoded.mode) == ("PNG", "P")
    expected = luma(palette[indices])
    expected[indices == 2] = 0  # the transparent entry shows the black background
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)
    assert (indices == 2).any()


def test_rgba_is_composited_over_black_then_luma(tmp_path):
    rgba = RNG.integers(0, 256, (*SHAPE, 4), dtype=np.uint8)
    rgba[0, 0] = [255, 255, 255, 0]  # fully transparent white must become black
    decoded = decode(formats.write_rgba_png(tmp_path, rgba))
    assert decoded.mode == "RGBA"
    expected = luma(over_black(rgba[..., :3], rgba[..., 3]))
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)
    assert np.asarray(decoded.image)[0, 0] == 0


def test_adobe_cmyk_jpeg_becomes_luma_of_its_rgb(tmp_path):
    inks = np.array([[200, 30, 60, 40], [0, 0, 0, 255], [10, 100, 250, 0]], np.uint8)
    cmyk = np.repeat(inks, 8, axis=0)[None].repeat(16, axis=0)  # uniform 8x8 blocks: exact JPEG
    decoded = decode(formats.write_cmyk_jpeg(tmp_path, cmyk))
    assert (decoded.format, decoded.mode) == ("JPEG", "CMYK")
    cmy, k = cmyk[..., :3].astype(np.float64), cmyk[..., 3:].astype(np.float64)
    rgb = round_half_up((255 - cmy) * (255 - k) / 255)
    out = np.asarray(decoded.image).astype(np.int64)
    assert np.abs(out - luma(rgb)).max() <= 1  # Pillow's CMYK->RGB rounds once more
    assert out[0, 8] == 0  # full black ink


@pytest.mark.parametrize(
    "writer", [formats.write_exif_rotated_jpeg, formats.write_exif_rotated_png]
)
@pytest.mark.parametrize(("orientation", "turns"), [(6, -1), (8, 1)])
def test_exif_orientation_is_applied(tmp_path, writer, orientation, turns):
    arr = np.zeros(SHAPE, np.uint8)
    arr[:8, :8] = 255  # bright top-left block, 8x8-aligned so the JPEG keeps it exact
    decoded = decode(writer(tmp_path, arr, orientation))
    out = np.asarray(decoded.image).astype(np.int64)
    assert (decoded.width, decoded.height) == (24, 16)  # stored size
    assert out.shape == (24, 16)  # displayed: rotated a quarter turn
    np.testing.assert_allclose(out, np.rot90(arr, turns), atol=2)
    corner = out[0, -1] if orientation == 6 else out[-1, 0]  # where the block must land
    assert corner >= 250 and out[0, 0] <= 5


def test_gif_named_jpg_is_decoded_by_content(tmp_path):
    arr = gray8()
    path = formats.write_gif_named_jpg(tmp_path, arr)
    decoded = decode(path)
    assert path.suffix == ".jpg" and decoded.format == "GIF"
    np.testing.assert_array_equal(np.asarray(decoded.image), arr)


def test_multiframe_tiff_gives_the_first_frame(tmp_path):
    first, second = gray8(), gray8()
    decoded = decode(formats.write_multiframe_tiff(tmp_path, [first, second]))
    assert decoded.format == "TIFF"
    np.testing.assert_array_equal(np.asarray(decoded.image), first)


def test_bmp(tmp_path):
    arr = gray8()
    decoded = decode(formats.write_bmp(tmp_path, arr))
    assert decoded.format == "BMP"
    np.testing.assert_array_equal(np.asarray(decoded.image), arr)


# --- failures ----------------------------------------------------------------------------------


def test_zero_bytes(tmp_path):
    assert reason(formats.write_zero_byte(tmp_path)) == "zero bytes"


def test_text_named_png_is_not_an_image(tmp_path):
    assert reason(formats.write_text_as_png(tmp_path)) == "not an image (text/unknown content)"


@pytest.mark.parametrize("writer", [formats.write_truncated_jpeg, formats.write_truncated_png])
def test_truncated_files_fail_instead_of_being_padded(tmp_path, writer):
    assert reason(writer(tmp_path, gray8())) == "truncated image data"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_jpeg_claiming_more_pixels_than_its_data_fails(tmp_path):
    # A 128 px JPEG whose header claims 9000 x 9000: libjpeg would fill it with grey.
    path = formats.write_jpeg_claiming(tmp_path, gray8((128, 128)), 9000, 9000)
    assert reason(path).startswith("truncated image data")


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_claiming_more_blocks_than_its_bytes_can_code_fails(tmp_path, progressive):
    # Every 8 x 8 block costs at least a bit: 5 KB cannot code 2000 x 2000 pixels.
    image = Image.fromarray(gray8((64, 64)))
    path = tmp_path / "small.jpg"
    image.save(path, quality=90, progressive=progressive)
    data = path.read_bytes()
    sof = data.index(b"\xff\xc2" if progressive else b"\xff\xc0") + 5
    path.write_bytes(data[:sof] + (2000).to_bytes(2, "big") * 2 + data[sof + 4 :])
    assert reason(path).startswith("truncated image data: ")


def test_half_a_jpeg_with_an_end_marker_fails(tmp_path):
    path = formats.write_half_jpeg_with_end_marker(tmp_path, gray8((128, 128)))
    assert reason(path) == "truncated image data"


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_strict_jpeg_decoding_keeps_complete_files_exact(tmp_path, progressive, subsampling):
    rgb = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    path = tmp_path / "colour.jpg"
    Image.fromarray(rgb).save(path, progressive=progressive, subsampling=subsampling)
    with Image.open(path) as reference:  # Pillow's own decoding of the untouched file
        expected = np.asarray(reference.convert("L"))
    np.testing.assert_array_equal(pixels(path), expected)


@pytest.mark.parametrize("fmt", ["TGA", "PCX", "SGI", "XBM", "EPS", "PPM"])
def test_formats_outside_the_readme_list_are_unsupported(tmp_path, fmt):
    path = formats.write_pillow_format(tmp_path, fmt, f"image.{fmt.lower()}")
    assert reason(path).startswith(f"unsupported format {fmt}: convert it to one of PNG, JPEG")


def test_one_bit_png_becomes_0_and_255_without_an_rgb_copy(tmp_path, monkeypatch):
    bits = RNG.integers(0, 2, SHAPE, dtype=np.uint8).astype(bool)
    path = tmp_path / "bits.png"
    Image.fromarray(bits).save(path)
    converted = []
    original = Image.Image.convert
    monkeypatch.setattr(
        Image.Image,
        "convert",
        lambda im, mode=None, *a, **k: converted.append(mode) or original(im, mode, *a, **k),
    )
    np.testing.assert_array_equal(pixels(path), np.where(bits, 255, 0))
    assert "RGB" not in converted  # 4 bytes per pixel: 400 MB for a 100 Mpx bitmap


def test_refuses_to_run_when_truncated_loading_was_switched_on(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert "LOAD_TRUNCATED_IMAGES" in reason(formats.write_png8(tmp_path, gray8()))


def test_missing_file_and_directory(tmp_path):
    assert reason(tmp_path / "nope.png") == "file not found"
    assert reason(tmp_path) == "not a regular file"


def test_too_many_pixels_is_refused_before_decoding(tmp_path):
    path = formats.write_png8(tmp_path, gray8())
    assert reason(path, max_pixels=100) == (
        "too many pixels: 24x16 = 384 > max_pixels=100; "
        "raise data.max_pixels if the file is genuine"
    )
    decode(path, max_pixels=384)  # the limit itself is allowed


def test_header_only_bomb_is_refused_without_pillow_warning(tmp_path):
    # 96 Mpx is above Pillow's warning threshold (89 Mpx) but below its hard limit.
    path = formats.write_huge_png_header(tmp_path, 12_000, 8_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert reason(path, max_pixels=50_000_000).startswith(
            "too many pixels: 12000x8000 = 96,000,000 > max_pixels=50,000,000"
        )
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_pillow_hard_limit_is_reported_as_our_reason(tmp_path):
    path = formats.write_huge_png_header(tmp_path, 20_000, 10_000)
    assert reason(path).startswith("too many pixels: 200,000,000 > max_pixels=100,000,000")
    assert "Pillow's limit" in reason(path, max_pixels=300_000_000)
    assert Image.MAX_IMAGE_PIXELS < DEFAULT_MAX_PIXELS  # we never raised Pillow's global


# --- DICOM -------------------------------------------------------------------------------------

SLOPE, INTERCEPT, WINDOW = 2.0, -1024.0, (1000, 2000)
LOSSLESS = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.RLELossless,
    uid.JPEGLSLossless,
    uid.JPEG2000Lossless,
]


@pytest.fixture(scope="module")
def dicom12() -> np.ndarray:
    arr = stored(12, DICOM_SHAPE)
    arr[0, 1] = 0
    return arr


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda u: u.keyword)
def test_dicom_rescale_and_window_for_every_lossless_syntax(tmp_path, dicom12, syntax):
    path = formats.write_dicom(
        tmp_path, dicom12, slope=SLOPE, intercept=INTERCEPT, window=WINDOW, transfer_syntax=syntax
    )
    decoded = decode(path)
    assert (decoded.format, decoded.mode, decoded.width, decoded.height) == (
        "DICOM",
        "MONOCHROME2",
        48,
        32,
    )
    expected = dicom_linear(dicom12 * SLOPE + INTERCEPT, *WINDOW)
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)
    assert {0, 255} <= set(np.unique(expected)) and len(np.unique(expected)) > 50


def test_dicom_monochrome1_is_inverted(tmp_path, dicom12):
    path = formats.write_dicom(
        tmp_path, dicom12, "MONOCHROME1", SLOPE, INTERCEPT, WINDOW, uid.RLELossless
    )
    expected = 255 - dicom_linear(dicom12 * SLOPE + INTERCEPT, *WINDOW)
    np.testing.assert_array_equal(pixels(path), expected)
    assert decode(path).mode == "MONOCHROME1"


def test_dicom_without_window_stretches_the_rescaled_range(tmp_path, dicom12):
    path = formats.write_dicom(tmp_path, dicom12, slope=SLOPE, intercept=INTERCEPT)
    x = dicom12 * SLOPE + INTERCEPT
    expected = round_half_up((x - x.min()) * 255 / (x.max() - x.min()))
    np.testing.assert_array_equal(pixels(path), expected)


def test_dicom_multi_valued_window_uses_the_first(tmp_path, dicom12):
    window = ([1000, 40], [2000, 400])
    path = formats.write_dicom(tmp_path, dicom12, slope=SLOPE, intercept=INTERCEPT, window=window)
    np.testing.assert_array_equal(pixels(path), dicom_linear(dicom12 * SLOPE + INTERCEPT, *WINDOW))


def test_dicom_voi_lut_sequence_is_preferred_to_the_window(tmp_path, dicom12):
    lut = round_half_up(np.sqrt(np.arange(4096) / 4095) * 255)  # 8-bit entries, max 255
    path = formats.write_dicom(tmp_path, dicom12, window=WINDOW, name="voi.dcm")
    _add_voi_lut(path, [4096, 0, 8], lut)
    np.testing.assert_array_equal(pixels(path), lut[dicom12])


def test_dicom_voi_lut_range_is_its_own_maximum_and_first_value_offsets(tmp_path, dicom12):
    # Declared 16-bit but holding 12-bit entries, as some CR devices write; starts at 500.
    first, lut = 500, np.arange(3000)[::-1] + 1095  # 4094..1095, max 4094
    path = formats.write_dicom(tmp_path, dicom12, name="voi16.dcm")
    _add_voi_lut(path, [3000, first, 16], lut)
    mapped = lut[np.clip(dicom12.astype(np.int64) - first, 0, 2999)]
    np.testing.assert_array_equal(pixels(path), round_half_up(mapped * 255 / 4094))
    assert pixels(path)[0, 1] == 255  # stored 0 is below the first mapped value: entry 0


def test_multiframe_dicom_gives_the_first_frame(tmp_path, dicom12):
    frames = np.stack([dicom12, 4095 - dicom12])
    path = formats.write_dicom(tmp_path, frames, window=WINDOW, transfer_syntax=uid.RLELossless)
    decoded = decode(path)
    assert (decoded.width, decoded.height) == (48, 32)
    np.testing.assert_array_equal(np.asarray(decoded.image), dicom_linear(dicom12, *WINDOW))


def test_colour_dicom_becomes_luma(tmp_path):
    rgb = RNG.integers(0, 256, (*DICOM_SHAPE, 3), dtype=np.uint8)
    decoded = decode(formats.write_dicom(tmp_path, rgb, photometric="RGB"))
    assert decoded.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(decoded.image), luma(rgb))


def test_jpeg_baseline_dicom_decodes_like_the_same_jpeg(tmp_path):
    arr = np.tile(np.linspace(0, 255, DICOM_SHAPE[1]).astype(np.uint8), (DICOM_SHAPE[0], 1))
    path = formats.write_dicom_jpeg_baseline(tmp_path, arr)
    reference = np.asarray(Image.open(f"{path}.jpg")).astype(np.int64)
    out = pixels(path).astype(np.int64)
    assert np.abs(out - reference).max() <= 2  # libjpeg (pydicom) vs Pillow's IDCT rounding
    assert np.abs(out - arr).max() <= 8


def test_dicom_too_many_pixels(tmp_path, dicom12):
    path = formats.write_dicom(tmp_path, dicom12)
    assert reason(path, max_pixels=1000).startswith("too many pixels: 48x32 = 1,536 > max_pixels")


def test_dicom_without_pixel_data(tmp_path, dicom12):
    path = formats.write_dicom(tmp_path, dicom12, with_pixels=False)
    assert reason(path) == "DICOM without pixel data"


def test_jp2_box_of_length_zero_is_refused_before_pydicom_parses_it(tmp_path):
    path = formats.write_jp2_dicom_with_zero_box(tmp_path, gray8(DICOM_SHAPE))
    assert reason(path) == "corrupt JPEG 2000 data: a box of length 0 at byte 12"


def test_jp2_boxes_past_the_end_or_without_a_codestream_are_refused():
    from fracture.data.structure import jp2_box_problem

    signature = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
    assert "runs past the end" in jp2_box_problem(signature + b"\x00\x00\x01\x00ftyp")
    assert "no codestream box" in jp2_box_problem(signature + b"\x00\x00\x00\x08ftyp")
    assert jp2_box_problem(signature + b"\x00\x00\x00\x08ftyp\x00\x00\x00\x00jp2c") is None
    assert jp2_box_problem(b"\xff\x4f\xff\x51") is None  # a raw codestream has no boxes


@pytest.mark.parametrize("syntax", [uid.ExplicitVRLittleEndian, uid.RLELossless])
def test_truncated_dicom(tmp_path, dicom12, syntax):
    path = formats.write_truncated_dicom(tmp_path, dicom12, syntax)
    assert reason(path) == "truncated image data"


def test_dicom_syntax_without_any_decoder(tmp_path, dicom12):
    path = formats.write_dicom_encapsulated(tmp_path, dicom12, uid.MPEG2MPML, "video.dcm")
    assert reason(path).startswith(
        f"unsupported DICOM transfer syntax MPEG2 Main Profile / Main Level ({uid.MPEG2MPML})"
    )


def test_dicom_syntax_with_missing_plugin_names_what_to_install(tmp_path, dicom12, monkeypatch):
    missing = SimpleNamespace(
        is_available=False, missing_dependencies=["pylibjpeg - requires pylibjpeg-libjpeg"]
    )
    monkeypatch.setattr(decode_module, "get_decoder", lambda _uid: missing)
    path = formats.write_dicom(tmp_path, dicom12, transfer_syntax=uid.RLELossless)
    assert reason(path) == (
        f"unsupported DICOM transfer syntax RLE Lossless ({uid.RLELossless}): "
        "install pylibjpeg - requires pylibjpeg-libjpeg"
    )


def test_is_dicom_by_content(tmp_path, dicom12):
    assert is_dicom(formats.write_dicom(tmp_path, dicom12, name="scan.png"))
    assert not is_dicom(formats.write_png8(tmp_path, gray8(), name="image.dcm"))
    assert not is_dicom(formats.write_zero_byte(tmp_path))
    assert not is_dicom(tmp_path / "missing.dcm")


def test_dicom_without_preamble_is_named_in_the_reason(tmp_path, dicom12):
    path = formats.write_dicom_without_preamble(tmp_path, dicom12)
    assert not is_dicom(path)
    assert "DICOM without the 128-byte preamble" in reason(path)


def _add_voi_lut(path, descriptor: list[int], lut: np.ndarray) -> None:
    item = Dataset()
    item.add_new(0x00283002, "US", descriptor)  # LUT Descriptor: entries, first value, bits
    item.add_new(0x00283006, "US", [int(v) for v in lut])  # LUT Data
    ds = dcmread(path)
    ds.VOILUTSequence = [item]
    ds.save_as(path, enforce_file_format=True)
