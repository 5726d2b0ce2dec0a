"""Data sources: each turns a dataset as users have it into train / val / test samples.

Every source is a ``Source`` (``sources.base``) with ``prepare()`` (only the synthetic set
creates anything) and ``splits() -> {"train": [Sample], "val": [...], "test": [...]}``.
Each is a ``data.source`` choice built by Hydra through ``_target_``.
"""

from fracture.data.sources.base import Source
from fracture.data.sources.class_folders import ClassFolders
from fracture.data.sources.fracatlas import FracAtlas
from fracture.data.sources.manifest import CsvManifest, write_manifest
from fracture.data.sources.mura import Mura
from fracture.data.sources.split_folders import SplitFolders, scan_split_folders

__all__ = [
    "ClassFolders",
    "CsvManifest",
    "FracAtlas",
    "Mura",
    "Source",
    "SplitFolders",
    "scan_split_folders",
    "write_manifest",
]
