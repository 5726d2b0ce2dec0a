"""One folder per class and no splits: ``root/<class>/**/<image>``, split by seed and ratios."""

from collections.abc import Sequence
from pathlib import Path

from fracture.data.samples import Sample
from fracture.data.sources.base import Source
from fracture.data.sources.scanning import (
    class_folders,
    folder_label,
    images_in,
    require_folder,
)
from fracture.data.sources.split_folders import require_both_classes
from fracture.data.sources.splitting import split_samples, with_groups_from_pattern
from fracture.errors import DataError


class ClassFolders(Source):
    """An unsplit dataset, split deterministically (stratified, and grouped when it can be).

    Args:
        root: Directory holding one folder per class.
        ratios: Fractions of images for train, val and test.
        seed: Seed of the split; the same seed always gives the same split.
        group_pattern: Regex on the path relative to ``root`` whose first capture group is
            the patient or study id, e.g. ``"(patient\\d+)"``; groups never cross splits.
    """

    def __init__(
        self,
        root: str | Path,
        ratios: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
        group_pattern: str | None = None,
    ):
        self.root = Path(root).expanduser()
        self.ratios = tuple(ratios)
        self.seed = seed
        self.group_pattern = group_pattern

    def splits(self) -> dict[str, list[Sample]]:
        samples = with_groups_from_pattern(
            scan_class_folders(self.root), self.root, self.group_pattern
        )
        return split_samples(samples, self.ratios, self.seed)


def scan_class_folders(root: Path) -> list[Sample]:
    """Every image under ``root/<class>/``, labelled by its class folder."""
    require_folder(root, "set data.root to a folder of class folders")
    folders = class_folders(root)
    if any(folder.name.lower() in ("train", "val", "valid", "test") for folder in folders):
        raise DataError(f"{root} is already split into folders; use data=folder for it")
    samples = [
        Sample(path, folder_label(folder)) for folder in folders for path in images_in(folder)
    ]
    require_both_classes(samples, root, [folder.name for folder in folders])
    return samples
