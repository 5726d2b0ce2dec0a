"""Split folders: ``root/{train,val,test}/<class>/**/<image>``.

``val`` may also be called ``valid`` or ``validation`` (Kaggle and Roboflow exports), and
class folders may use any accepted spelling (``not fractured``, ``normal``, ``positive``, ...).
"""

from pathlib import Path

from fracture.data.samples import SPLITS, Sample
from fracture.data.sources.base import Source
from fracture.data.sources.scanning import (
    class_folders,
    folder_label,
    images_in,
    require_folder,
)
from fracture.errors import DataError
from fracture.labels import CLASS_NAMES
from fracture.synth import SyntheticSpec, ensure_dataset

SPLIT_ALIASES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}
_LAYOUT_HINT = "expected root/{train,val,test}/{fractured,not_fractured}/<images>"


class SplitFolders(Source):
    """A dataset already split into folders.

    Args:
        root: Directory holding the split folders.
        synthetic: When given, the embedded synthetic set is generated into ``root`` by
            :meth:`prepare` (once; reused afterwards).
    """

    def __init__(self, root: str | Path, synthetic: SyntheticSpec | None = None):
        self.root = Path(root).expanduser()
        self.synthetic = synthetic

    def prepare(self) -> None:
        if self.synthetic is not None:
            ensure_dataset(self.root, self.synthetic)

    def splits(self) -> dict[str, list[Sample]]:
        return scan_split_folders(self.root)


def scan_split_folders(root: str | Path) -> dict[str, list[Sample]]:
    """List the images of every split, checking the layout first.

    Raises:
        DataError: When the root, a split folder or a class folder is missing, a class
            folder holds no images, or a folder name is not a known class name.
    """
    root = Path(root).expanduser()
    require_folder(root, f"set data.root to the dataset folder ({_LAYOUT_HINT})")
    return {split: _scan_split(split_folder(root, split)) for split in SPLITS}


def split_folder(root: Path, split: str) -> Path:
    """The folder of ``split`` under any of its accepted names."""
    for name in SPLIT_ALIASES[split]:
        if (root / name).is_dir():
            return root / name
    names = "/".join(SPLIT_ALIASES[split])
    raise DataError(f"split folder {root / split} is missing (tried {names}); {_LAYOUT_HINT}")


def _scan_split(split_dir: Path) -> list[Sample]:
    folders = class_folders(split_dir)
    samples = [Sample(path, folder_label(folder)) for folder in folders for path in _some(folder)]
    require_both_classes(samples, split_dir, [p.name for p in folders])
    return samples


def _some(folder: Path) -> list[Path]:
    images = images_in(folder)
    if not images:
        raise DataError(f"class folder {folder} holds no images; add images to it")
    return images


def require_both_classes(samples: list[Sample], where, found: list[str]) -> None:
    """A split without one of the classes cannot be trained or evaluated: say so up front."""
    labels = {sample.label for sample in samples}
    for index, name in enumerate(CLASS_NAMES):
        if index not in labels:
            raise DataError(
                f"no images of class {name!r} in {where} (classes found: {found or 'none'}); "
                f"add {name} images to it"
            )
