"""Radiograph datasets: folder layouts, preprocessing, augmentation and the DataModule."""

from fracture.data.augmentation import Augmentation
from fracture.data.datamodule import FractureDataModule
from fracture.data.folders import Sample, scan_split_folders
from fracture.data.preprocessing import Preprocessing

__all__ = ["Augmentation", "FractureDataModule", "Preprocessing", "Sample", "scan_split_folders"]
