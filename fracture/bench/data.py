"""Images/s of the data path: torchvision ImageFolder + PIL against fracture's cached path."""

import time

from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from torchvision import transforms as T
from torchvision.datasets import ImageFolder

from fracture.data import Preprocessing


def imagefolder_rates(folder, preprocessing: Preprocessing, batch_size: int, workers: int):
    """Images/s of two epochs of the usual baseline: ``ImageFolder`` (PIL decode to RGB) with
    the equivalent eval transform, on the original files."""
    transform = T.Compose(
        [
            T.Resize(preprocessing.resize_size),
            T.CenterCrop(preprocessing.image_size),
            T.ToTensor(),
            T.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )
    return epoch_rates(_loader(ImageFolder(folder, transform), batch_size, workers), epochs=2)


def fracture_rates(cfg: DictConfig) -> dict:
    """fracture's train loader (eval transform) on a fresh cache: setup (the one-off file
    inspection), then images/s of a cold first epoch and a warm second one."""
    datamodule = instantiate(cfg.data, augment=None)
    started = time.perf_counter()
    datamodule.prepare_data()
    datamodule.setup("fit")
    setup_s = time.perf_counter() - started
    cold, warm = epoch_rates(datamodule.train_dataloader(), epochs=2)
    return {"setup_s": setup_s, "cold_images_per_s": cold, "warm_images_per_s": warm}


def epoch_rates(loader: DataLoader, epochs: int) -> list[float]:
    """Images/s of each of ``epochs`` full passes over ``loader`` (batches are only counted)."""
    rates = []
    for _ in range(epochs):
        started, images = time.perf_counter(), 0
        for batch in loader:
            images += len(batch[0])
        rates.append(images / (time.perf_counter() - started))
    return rates


def _loader(dataset, batch_size: int, workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,  # as data.prefetch_factor
    )
