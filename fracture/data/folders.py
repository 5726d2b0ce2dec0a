"""Read a split-folder dataset: ``root/{train,val,test}/<class>/**/<image>``.

Every problem is reported as one line naming the path and the fix, before any
training starts.
"""

from dataclasses import dataclass
from pathlib import Path

from fracture.errors import DataError
from fracture.labels import CLASS_NAMES, accepted_names, label_index

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
_LAYOUT_HINT = "expected root/{train,val,test}/{fractured,not_fractured}/<images>"


@dataclass(frozen=True)
class Sample:
    """One image and its class index (1 = fractured)."""

    path: Path
    label: int


def scan_split_folders(root: str | Path) -> dict[str, list[Sample]]:
    """List the images of every split, checking the layout first.

    Args:
        root: Directory holding ``train/``, ``val/`` and ``test/``.

    Returns:
        The samples of each split, sorted by path so runs are reproducible.

    Raises:
        DataError: When the root, a split folder or a class folder is missing, a class
            folder holds no images, or a folder name is not a known class name.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist; set data.root to it ({_LAYOUT_HINT})")
    return {split: _scan_split(root / split) for split in SPLITS}


def _scan_split(split_dir: Path) -> list[Sample]:
    if not split_dir.is_dir():
        raise DataError(f"split folder {split_dir} is missing; {_LAYOUT_HINT}")
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    samples = []
    for class_dir in class_dirs:
        label = _folder_label(class_dir)
        samples += [Sample(path, label) for path in _images_in(class_dir)]
    found = {sample.label for sample in samples}
    for index, name in enumerate(CLASS_NAMES):
        if index not in found:
            raise DataError(
                f"no images of class {name!r} in {split_dir} (class folders found: "
                f"{[p.name for p in class_dirs] or 'none'}); add a {name}/ folder with images"
            )
    return samples


def _folder_label(class_dir: Path) -> int:
    try:
        return label_index(class_dir.name)
    except DataError:
        raise DataError(
            f"unknown class folder {class_dir}; rename it to a class name ({accepted_names()})"
        ) from None


def _images_in(class_dir: Path) -> list[Path]:
    images = sorted(
        path
        for path in class_dir.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not path.name.startswith(".")
    )
    if not images:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DataError(f"class folder {class_dir} holds no images ({suffixes}); add images to it")
    return images
