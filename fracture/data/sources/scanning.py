"""Listing image files and reading class folder names, shared by the folder-based sources."""

from pathlib import Path

from fracture.data.decode import is_dicom
from fracture.errors import DataError
from fracture.labels import accepted_names, label_index

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".dcm", ".dicom"}
)


def is_image_file(path: Path) -> bool:
    """An image by suffix, or a suffix-less DICOM file as PACS exports write them."""
    if path.name.startswith(".") or not path.is_file():
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    return path.suffix == "" and is_dicom(path)


def require_folder(root: Path, fix: str) -> None:
    """A one-line error unless ``root`` is a folder; it says whether it is missing or a file."""
    if not root.is_dir():
        state = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(f"data root {root} {state}; {fix}")


def images_in(folder: Path) -> list[Path]:
    """All image files below ``folder``, sorted so that runs are reproducible."""
    return sorted(path for path in folder.rglob("*") if is_image_file(path))


def class_folders(parent: Path) -> list[Path]:
    """The visible sub-folders of ``parent``, sorted."""
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_label(class_dir: Path) -> int:
    """The class index of a class folder, or a one-line error naming the folder."""
    try:
        return label_index(class_dir.name)
    except DataError:
        raise DataError(
            f"unknown class folder {class_dir}; rename it to a class name ({accepted_names()})"
        ) from None
