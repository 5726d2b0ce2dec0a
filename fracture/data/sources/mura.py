"""MURA v1.1 (Rajpurkar et al., 2017): ``train_image_paths.csv`` and
``valid_image_paths.csv`` list images under ``<part>/patientNNNNN/studyN_{positive,negative}/``.

MURA's own test set is not public, so its ``valid`` split is our test split and its ``train``
split is divided into train and val by patient (a patient never crosses splits). Each image
carries its study, so evaluation can also report study-level metrics, as MURA's leaderboard
does.
"""

import re
from collections.abc import Sequence
from pathlib import Path

from fracture.data.samples import Sample
from fracture.data.sources.base import Source
from fracture.data.sources.scanning import require_folder
from fracture.data.sources.splitting import split_samples
from fracture.errors import DataError
from fracture.labels import label_index

_STUDY = re.compile(r"(XR_[A-Z]+)/(patient\d+)/(study\d+)_(positive|negative)/")


class Mura(Source):
    """The MURA musculoskeletal radiograph dataset.

    Args:
        root: The unpacked ``MURA-v1.1`` folder.
        val_fraction: Fraction of the training patients held out for validation.
        seed: Seed of that hold-out.
        body_parts: Restrict to these study types, e.g. ``[XR_WRIST, XR_HAND]``; all if empty.
    """

    def __init__(
        self,
        root: str | Path,
        val_fraction: float = 0.1,
        seed: int = 0,
        body_parts: Sequence[str] | None = None,
    ):
        self.root = Path(root).expanduser()
        self.val_fraction = val_fraction
        self.seed = seed
        self.body_parts = {part.upper() for part in body_parts or ()}

    def splits(self) -> dict[str, list[Sample]]:
        train = split_samples(
            self._listed("train"), (1 - self.val_fraction, self.val_fraction, 0), self.seed
        )
        return {"train": train["train"], "val": train["val"], "test": self._listed("valid")}

    def _listed(self, name: str) -> list[Sample]:
        require_folder(self.root, "set data.root to the unpacked MURA-v1.1 folder")
        listing = self.root / f"{name}_image_paths.csv"
        if not listing.is_file():
            raise DataError(f"{listing} is missing; set data.root to the unpacked MURA-v1.1 folder")
        lines = listing.read_text(encoding="utf-8").split()
        samples = [self._sample(line, listing) for line in lines]
        return [
            s for s in samples if not self.body_parts or s.study.split("/")[0] in self.body_parts
        ]

    def _sample(self, line: str, listing: Path) -> Sample:
        match = _STUDY.search(line)
        if match is None:
            raise DataError(
                f"{listing}: {line!r} is not a MURA image path (<part>/patient/study_label/)"
            )
        part, patient, study, label = match.groups()
        # Listed paths start with the dataset folder's name ("MURA-v1.1/train/..."), which
        # the unpacked folder may no longer have: drop whatever precedes train/ or valid/.
        parts = line.split("/")
        relative = "/".join(parts[1:]) if parts[1:2] in (["train"], ["valid"]) else line
        return Sample(
            self.root / relative,
            label_index(label),
            group=patient,
            study=f"{part}/{patient}/{study}",
        )
