"""The DataModule's tensors: shape, dtype, ImageNet normalisation and labels."""

from dataclasses import MISSING, fields

import numpy as np
import pytest
import torch
from PIL import Image

from fracture.data import Augmentation, FractureDataModule
from fracture.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from fracture.data.sampling import seeded
from fracture.data.sources import SplitFolders
from fracture.labels import FRACTURED
from tests.augmentation import shipped_augmentation


@pytest.fixture
def constant_root(tmp_path):
    """Uniform images: gray value 51 = fractured, 204 = not fractured, as L and RGB files."""
    for split in ("train", "val", "test"):
        for name, value in (("fractured", 51), ("not fractured", 204)):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            Image.fromarray(np.full((40, 50), value, np.uint8)).save(folder / "gray.png")
            rgb = np.full((30, 30, 3), value, np.uint8)
            Image.fromarray(rgb, "RGB").save(folder / "rgb.jpg", quality=100)
    return tmp_path


def expected_pixel(value: int) -> torch.Tensor:
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    return (value / 255 - mean) / std


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_batches_are_normalised_three_channel_float(constant_root, split):
    datamodule = FractureDataModule(
        SplitFolders(constant_root),
        image_size=16,
        resize_size=20,
        batch_size=4,
        num_workers=0,
        augment=shipped_augmentation(rotation=0),  # rotation would pad corners with black
    )
    datamodule.setup("fit")
    images, labels = next(iter(getattr(datamodule, f"{split}_dataloader")()))
    assert images.shape == (4, 3, 16, 16)
    assert images.dtype == torch.float32
    for image, label in zip(images, labels, strict=True):
        value = 51 if label == FRACTURED else 204
        expected = expected_pixel(value).view(3, 1, 1).expand_as(image)
        torch.testing.assert_close(image, expected, atol=0.02, rtol=0)


def test_train_augmentation_is_random_and_eval_is_not(tiny_root):
    datamodule = FractureDataModule(
        SplitFolders(tiny_root),
        image_size=32,
        resize_size=36,
        num_workers=0,
        augment=shipped_augmentation(),
    )
    datamodule.setup("fit")
    train_set = datamodule.train_dataloader().dataset
    val_set = datamodule.val_dataloader().dataset
    assert not torch.equal(train_set[0][0], train_set[0][0])
    assert torch.equal(val_set[0][0], val_set[0][0])


def test_generates_synthetic_set_on_first_use(tmp_path):
    from fracture.synth import SyntheticSpec

    spec = SyntheticSpec(seed=1, size=32, train=4, val=2, test=2)
    datamodule = FractureDataModule(
        SplitFolders(tmp_path / "synth", synthetic=spec),
        image_size=32,
        resize_size=32,
        num_workers=0,
        cache_dir=tmp_path / "cache",
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert [len(datamodule.samples[s]) for s in ("train", "val", "test")] == [4, 2, 2]


def test_augmentation_defaults_live_only_in_the_yaml():
    assert all(f.default is MISSING and f.default_factory is MISSING for f in fields(Augmentation))
    assert shipped_augmentation() == Augmentation(
        crop_scale=[0.7, 1.0], crop_ratio=[0.75, 1.333], hflip=0.5, rotation=10.0
    )


def test_rotation_interpolates_bilinearly():
    # Whole-image crop, no flip: only the rotation changes pixels. Nearest-neighbour keeps
    # the two input values; bilinear blends them along every rotated edge.
    stripes = torch.zeros(1, 32, 32, dtype=torch.uint8)
    stripes[:, :, ::4] = 255
    augment = Augmentation(crop_scale=(1, 1), crop_ratio=(1, 1), hflip=0, rotation=10)
    with seeded(3):
        image = augment.transform(Preprocessing(32, 32), uint8=True)(stripes)  # no resize
    inside = image[:, 8:24, 8:24]  # away from the black corners
    assert ((inside > 0) & (inside < 255)).float().mean() > 0.2
