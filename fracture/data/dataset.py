"""A map-style dataset of radiograph files."""

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from fracture.data.decode import DEFAULT_MAX_PIXELS, read_radiograph
from fracture.data.pixel_cache import PixelCache
from fracture.data.samples import Sample
from fracture.data.sampling import seeded


class RadiographDataset(Dataset):
    """Images and labels of one split; ``transform`` turns a grayscale image into a tensor.

    The files were inspected before training (see ``fracture.data.inspection``), so a decode
    error here means a file changed during the run, and it is raised rather than hidden.

    Args:
        samples: The split's files and labels.
        transform: torchvision v2 transform of a grayscale image: a PIL image (mode "L"), or
            with ``pixel_cache`` a uint8 (1, H, W) tensor already at the cache's resize size.
        max_pixels: Decompression-bomb limit of the decoder.
        pixel_cache: Decoded, resized images on disk; ``None`` decodes every file each time.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Callable,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        pixel_cache: PixelCache | None = None,
    ):
        self.samples = list(samples)
        self.transform = transform
        self.max_pixels = max_pixels
        self.pixel_cache = pixel_cache

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        # EpochSampler's keys are (index, augmentation seed); eval loaders pass the index.
        index, seed = key if isinstance(key, tuple) else (key, None)
        sample = self.samples[index]
        image = self._image(sample.path)
        with seeded(seed):
            return self.transform(image), sample.label

    def _image(self, path) -> Image.Image | torch.Tensor:
        if self.pixel_cache is None:
            return read_radiograph(path, self.max_pixels)
        return torch.from_numpy(self.pixel_cache.load(path))[None]  # (1, H, W) uint8
