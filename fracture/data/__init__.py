"""Radiograph datasets: sources, decoding, inspection, preprocessing, augmentation and the
DataModule."""

from fracture.data.augmentation import Augmentation
from fracture.data.datamodule import FractureDataModule
from fracture.data.preprocessing import Preprocessing
from fracture.data.samples import SPLITS, Sample
from fracture.data.sources import scan_split_folders

__all__ = [
    "SPLITS",
    "Augmentation",
    "FractureDataModule",
    "Preprocessing",
    "Sample",
    "scan_split_folders",
]
