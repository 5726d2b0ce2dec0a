"""A map-style dataset of radiograph files."""

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from fracture.data.decode import DEFAULT_MAX_PIXELS, read_radiograph
from fracture.data.samples import Sample


class RadiographDataset(Dataset):
    """Images and labels of one split; ``transform`` turns a grayscale PIL image into a tensor.

    The files were inspected before training (see ``fracture.data.inspection``), so a decode
    error here means a file changed during the run, and it is raised rather than hidden.
    """

    def __init__(
        self, samples: Sequence[Sample], transform: Callable, max_pixels: int = DEFAULT_MAX_PIXELS
    ):
        self.samples = list(samples)
        self.transform = transform
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        return self.transform(read_radiograph(sample.path, self.max_pixels)), sample.label
