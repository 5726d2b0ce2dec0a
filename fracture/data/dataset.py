"""A map-style dataset of radiograph files."""

from collections.abc import Callable, Sequence

import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from fracture.data.folders import Sample


def load_grayscale(path) -> Image.Image:
    """Open an image file as 8-bit grayscale, honouring EXIF orientation."""
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("L")


class RadiographDataset(Dataset):
    """Images and labels of one split; ``transform`` turns a PIL image into a tensor."""

    def __init__(self, samples: Sequence[Sample], transform: Callable):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        return self.transform(load_grayscale(sample.path)), sample.label
