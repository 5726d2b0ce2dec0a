"""The unit every data source produces: one image file with its label and grouping keys."""

from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One image file.

    Args:
        path: The image file.
        label: Class index; 1 is *fractured*.
        group: Patient (or other) id that must not cross splits, when the dataset has one.
        study: Study id whose images are aggregated into one study-level prediction (MURA).
    """

    path: Path
    label: int
    group: str | None = None
    study: str | None = None
