"""CSV manifests: one row per image with ``path`` and ``label``, optional ``split``, ``group``
and ``study`` columns. Relative paths are relative to the CSV's folder.

The audit's clean manifest is written in the same format, so it is directly a data source.
"""

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from fracture.data.samples import SPLITS, Sample
from fracture.data.sources.base import Source
from fracture.data.sources.split_folders import SPLIT_ALIASES, require_both_classes
from fracture.data.sources.splitting import split_samples, with_groups_from_pattern
from fracture.errors import DataError
from fracture.labels import label_index
from fracture.spreadsheet import read_cell, safe_row

REQUIRED_COLUMNS = ("path", "label")
_SPLIT_NAMES = {alias: split for split, aliases in SPLIT_ALIASES.items() for alias in aliases}


class CsvManifest(Source):
    """A dataset listed in a CSV file.

    Args:
        csv: The manifest file.
        ratios: Fractions for train, val and test when the CSV has no ``split`` column.
        seed: Seed of that split.
        group_pattern: Regex on the path giving the group when there is no ``group`` column.
    """

    def __init__(
        self,
        csv: str | Path,
        ratios: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
        group_pattern: str | None = None,
    ):
        self.csv = self.root = Path(csv).expanduser()
        self.ratios = tuple(ratios)
        self.seed = seed
        self.group_pattern = group_pattern

    def splits(self) -> dict[str, list[Sample]]:
        rows = read_rows(self.csv)
        samples = [_sample(row, self.csv, line) for line, row in rows]
        if any(row.get("split") for _, row in rows):
            return _given_splits(samples, rows, self.csv)
        samples = with_groups_from_pattern(samples, self.csv.parent, self.group_pattern)
        return split_samples(samples, self.ratios, self.seed)


def read_rows(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of a manifest with their line numbers, after checking its header."""
    if not csv_path.is_file():
        raise DataError(f"manifest {csv_path} does not exist; set data.source.csv to a CSV file")
    with csv_path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"manifest {csv_path} lacks column(s) {missing} (header: {reader.fieldnames}); "
                "it needs path,label and optionally split,group,study"
            )
        return [(line, row) for line, row in enumerate(reader, start=2)]


def _sample(row: dict[str, str], csv_path: Path, line: int) -> Sample:
    try:
        label = label_index(row["label"])
    except DataError as error:
        raise DataError(f"{csv_path}:{line}: {error}") from None
    path = Path(read_cell(row["path"]))
    return Sample(
        path if path.is_absolute() else csv_path.parent / path,
        label,
        group=read_cell(row.get("group") or "") or None,
        study=read_cell(row.get("study") or "") or None,
    )


def _given_splits(samples: list[Sample], rows: list, csv_path: Path) -> dict[str, list[Sample]]:
    splits: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    for sample, (line, row) in zip(samples, rows, strict=True):
        split = _SPLIT_NAMES.get((row.get("split") or "").strip().lower())
        if split is None:
            raise DataError(
                f"{csv_path}:{line}: split {row.get('split')!r} is not one of train, val, test"
            )
        splits[split].append(sample)
    for split, members in splits.items():
        require_both_classes(members, f"the {split} rows of {csv_path}", [])
    return splits


def write_manifest(path: str | Path, splits: dict[str, Sequence[Sample]]) -> Path:
    """Write ``splits`` as a manifest whose paths are relative to its own folder."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "label", "split", "group", "study"])
        for split, samples in splits.items():
            for s in samples:
                relative = os.path.relpath(s.path.resolve(), path.parent.resolve())
                row = [relative, s.label, split, s.group or "", s.study or ""]
                writer.writerow(safe_row(row))
    temporary.replace(path)
    return path
