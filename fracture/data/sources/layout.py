"""Which data source a folder (or file) is, for tools given just a path."""

from pathlib import Path

from fracture.data.sources.split_folders import SPLIT_ALIASES
from fracture.errors import DataError


def detect_layout(root: Path) -> str:
    """The ``data=`` config name for ``root``: csv, mura, fracatlas, folder or class_folders."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return "csv"
    if not root.is_dir():
        raise DataError(f"{root} is neither a dataset folder nor a manifest CSV; check the path")
    if (root / "train_image_paths.csv").is_file():
        return "mura"
    if (root / "dataset.csv").is_file() and (root / "images").is_dir():
        return "fracatlas"
    if any((root / name).is_dir() for name in SPLIT_ALIASES["train"]):
        return "folder"
    return "class_folders"
