"""FracAtlas (Abedeen et al., 2023): ``images/Fractured``, ``images/Non_fractured`` and
``dataset.csv`` whose ``fractured`` column (0/1) labels each ``image_id``.

FracAtlas has no official classification split and no patient ids, so it is split by seed
and ratios, stratified by label.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

from fracture.data.samples import Sample
from fracture.data.sources.base import Source
from fracture.data.sources.scanning import require_folder
from fracture.data.sources.splitting import split_samples
from fracture.errors import DataError

_FOLDERS = {1: "Fractured", 0: "Non_fractured"}


class FracAtlas(Source):
    """The FracAtlas dataset.

    Args:
        root: The unpacked ``FracAtlas`` folder (holding ``images/`` and ``dataset.csv``).
        ratios: Fractions for train, val and test.
        seed: Seed of the split.
    """

    def __init__(
        self, root: str | Path, ratios: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
    ):
        self.root = Path(root).expanduser()
        self.ratios = tuple(ratios)
        self.seed = seed

    def splits(self) -> dict[str, list[Sample]]:
        return split_samples(self.samples(), self.ratios, self.seed)

    def samples(self) -> list[Sample]:
        require_folder(self.root, "set data.root to the unpacked FracAtlas folder")
        table = self.root / "dataset.csv"
        if not table.is_file():
            raise DataError(
                f"{table} is missing; set data.root to the unpacked FracAtlas folder "
                "(it holds images/ and dataset.csv)"
            )
        with table.open(newline="", encoding="utf-8-sig") as file:
            return [
                self._sample(row, table, line) for line, row in enumerate(csv.DictReader(file), 2)
            ]

    def _sample(self, row: dict[str, str], table: Path, line: int) -> Sample:
        value = (row.get("fractured") or "").strip()
        if value not in ("0", "1"):
            raise DataError(f"{table}:{line}: 'fractured' is {value!r}, expected 0 or 1")
        label = int(value)
        # The folder follows the label; an image filed under the other folder is still found.
        for folder in (_FOLDERS[label], _FOLDERS[1 - label]):
            path = self.root / "images" / folder / row["image_id"]
            if path.exists():
                return Sample(path, label)
        return Sample(self.root / "images" / _FOLDERS[label] / row["image_id"], label)
