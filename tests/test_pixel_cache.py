"""The pixel cache: cached images give the tensors fresh decoding gives, follow file changes,
and survive several builders at once."""

import multiprocessing
import os

import numpy as np
import pytest
import torch

from fracture.data import pixel_cache as pixel_cache_module
from fracture.data.decode import read_radiograph
from fracture.data.pixel_cache import PixelCache
from fracture.data.preprocessing import Preprocessing
from fracture.data.sampling import seeded
from tests import formats

PREPROCESSING = Preprocessing(image_size=40, resize_size=48)


def crop(resize_size: int) -> Preprocessing:
    """The default fit: the cache holds the image with its shortest side at resize_size."""
    return Preprocessing(image_size=resize_size, resize_size=resize_size)


def _gradient(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth ramp plus noise: resampling differences would show in it."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(height), np.arange(width)) * 255 / (height + width)
    return np.clip(ramp + rng.normal(0, 20, (height, width)), 0, 255)


WRITERS = {
    "png8_landscape": lambda d: formats.write_png8(d, _gradient(90, 130)),
    "png8_portrait": lambda d: formats.write_png8(d, _gradient(131, 77)),
    "png16": lambda d: formats.write_png16(d, _gradient(100, 100) * 257),
    "jpeg_exif_rotated": lambda d: formats.write_exif_rotated_jpeg(d, _gradient(64, 96)),
    "dicom": lambda d: formats.write_dicom(d, _gradient(120, 80).astype(np.uint16) * 16),
    "smaller_than_resize_size": lambda d: formats.write_png8(d, _gradient(20, 30)),
}


def _fresh(path, transform=None) -> torch.Tensor:
    return (transform or PREPROCESSING.eval_transform())(read_radiograph(path))


def _cached(cache: PixelCache, path, transform=None) -> torch.Tensor:
    image = torch.from_numpy(cache.load(path))[None]  # what RadiographDataset passes
    return (transform or PREPROCESSING.eval_transform())(image)


@pytest.mark.parametrize("kind", WRITERS)
def test_cached_eval_tensors_equal_freshly_decoded_ones(tmp_path, kind):
    path = WRITERS[kind](tmp_path)
    cache = PixelCache(tmp_path / "cache", PREPROCESSING)
    built, reread = _cached(cache, path), _cached(cache, path)  # miss, then hit
    assert cache.entry(path).is_file()
    assert min(cache.load(path).shape) == PREPROCESSING.resize_size  # upsampled when smaller
    # Exactly equal: the cache stores torchvision's own resize, and the eval Resize of an
    # image already at resize_size returns it untouched.
    assert torch.equal(built, _fresh(path))
    assert torch.equal(reread, _fresh(path))


def test_augmentation_of_cached_images_gives_model_sized_tensors(tmp_path):
    from tests.augmentation import shipped_augmentation

    path = WRITERS["png8_portrait"](tmp_path)
    cache = PixelCache(tmp_path / "cache", PREPROCESSING)
    train = shipped_augmentation().transform(PREPROCESSING)
    assert _cached(cache, path, train).shape == (3, 40, 40)
    uint8 = _cached(cache, path, shipped_augmentation().transform(PREPROCESSING, uint8=True))
    assert (uint8.shape, uint8.dtype) == ((1, 40, 40), torch.uint8)


def test_a_modified_file_is_decoded_again(tmp_path, monkeypatch):
    decoded = []
    monkeypatch.setattr(
        pixel_cache_module,
        "read_radiograph",
        lambda path, max_pixels: decoded.append(path) or read_radiograph(path, max_pixels),
    )
    path = formats.write_png8(tmp_path, _gradient(60, 60, seed=1), name="x.png")
    cache = PixelCache(tmp_path / "cache", crop(48))
    before = cache.load(path)
    cache.load(path)
    assert len(decoded) == 1  # the second load came from the cache

    formats.write_png8(tmp_path, 255 - _gradient(60, 60, seed=1), name="x.png")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = cache.load(path)
    assert len(decoded) == 2
    assert not np.array_equal(after, before)
    assert torch.equal(_cached(cache, path), _fresh(path))
    # The stale entry stays on disk, unused.
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


def test_settings_are_part_of_the_key(tmp_path):
    path = formats.write_png8(tmp_path, _gradient(60, 60))
    small, large = PixelCache(tmp_path / "c", crop(32)), PixelCache(tmp_path / "c", crop(48))
    assert small.entry(path) != large.entry(path)
    assert small.entry(path) != PixelCache(tmp_path / "c", crop(32), max_pixels=10**6).entry(path)
    assert min(small.load(path).shape) == 32 and min(large.load(path).shape) == 48


def test_a_damaged_entry_is_rebuilt(tmp_path):
    path = formats.write_png8(tmp_path, _gradient(60, 60))
    cache = PixelCache(tmp_path / "cache", crop(48))
    expected = cache.load(path)
    entry = cache.entry(path)
    entry.write_bytes(entry.read_bytes()[:100])  # e.g. cut short by a crash
    assert np.array_equal(cache.load(path), expected)
    assert np.array_equal(np.load(entry), expected)


def test_an_unwritable_cache_still_loads_images(tmp_path):
    path = formats.write_png8(tmp_path, _gradient(60, 60))
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    cache = PixelCache(tmp_path / "cache", crop(48))
    assert torch.equal(_cached(cache, path), _fresh(path))


def _build(root, paths, start) -> None:
    start.wait()  # both builders begin together, so they race for the same entries
    cache = PixelCache(root, crop(48))
    for path in paths:
        cache.load(path)


def test_two_processes_building_one_cache_at_once(tmp_path):
    paths = [
        formats.write_png8(tmp_path, _gradient(70, 90, seed=i), name=f"{i}.png") for i in range(50)
    ]
    root = tmp_path / "cache"
    # Two processes, like two runs of a sweep or two DataLoader workers (fork: starts fast).
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    builders = [context.Process(target=_build, args=(root, paths, start)) for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join(timeout=120)
    assert [builder.exitcode for builder in builders] == [0, 0]
    assert len(list(root.rglob("*.npy"))) == 50
    assert [p for p in root.rglob("*") if p.is_file() and p.suffix != ".npy"] == []
    cache = PixelCache(root, crop(48))
    for path in paths:
        assert torch.equal(_cached(cache, path), _fresh(path))


@pytest.mark.parametrize("fit", ["pad", "resize"])
@pytest.mark.parametrize("kind", ["png8_landscape", "png8_portrait", "smaller_than_resize_size"])
def test_every_fit_gives_the_same_tensors_cached_and_fresh(tmp_path, fit, kind):
    from tests.augmentation import shipped_augmentation

    path = WRITERS[kind](tmp_path)
    preprocessing = Preprocessing(image_size=40, resize_size=48, fit=fit)
    cache = PixelCache(tmp_path / "cache", preprocessing)
    assert cache.load(path).shape == (40, 40)  # the whole image, fitted to the square
    assert cache.entry(path) != PixelCache(tmp_path / "cache", PREPROCESSING).entry(path)
    evaluate = preprocessing.eval_transform()
    assert torch.equal(_cached(cache, path, evaluate), _fresh(path, evaluate))
    train = shipped_augmentation().transform(preprocessing)
    with seeded(5):
        fresh = _fresh(path, train)
    with seeded(5):
        assert torch.equal(_cached(cache, path, train), fresh)


def test_fresh_training_crops_draw_from_the_cached_resize(tmp_path):
    # fit=crop: a fresh image is resized like the cache entry before the random crop, so
    # the pixel cache changes nothing that training sees.
    from tests.augmentation import shipped_augmentation

    path = WRITERS["png8_landscape"](tmp_path)
    cache = PixelCache(tmp_path / "cache", PREPROCESSING)
    train = shipped_augmentation().transform(PREPROCESSING)
    with seeded(5):
        fresh = _fresh(path, train)
    with seeded(5):
        assert torch.equal(_cached(cache, path, train), fresh)
