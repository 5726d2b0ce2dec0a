"""``predictions.csv``: one format for every tool that writes one.

``fracture-eval`` and training's evaluation (labelled images of a split) and
``fracture-predict`` (new files, some perhaps unreadable) write the same columns, so a
``predictions.csv`` reads the same wherever it came from:

``path,label,probability,prediction,error,group,study`` then ``overlay`` when Grad-CAM
overlays were written and ``member_<i>`` per member of an ensemble. ``label`` is the true
class (empty for new files), ``prediction`` the class at the decision threshold, ``error``
why a file gave no prediction (its ``probability`` and ``prediction`` are then empty).
Text cells a spreadsheet would run as formulas are written with a leading ``'``
(:mod:`fracture.spreadsheet`) and read back without it.
"""

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fracture.spreadsheet import read_cell, safe_row

COLUMNS = ("path", "label", "probability", "prediction", "error", "group", "study")


@dataclass
class PredictionRow:
    """One image of a ``predictions.csv``; empty strings for what is not known."""

    path: str | Path
    probability: float | None
    prediction: str = ""
    label: str = ""
    error: str = ""
    group: str = ""
    study: str = ""
    overlay: str = ""
    members: Sequence[float] | None = field(default=None)


def write_prediction_table(
    path: Path, rows: Iterable[PredictionRow], members: int = 0, overlays: bool = False
) -> None:
    """Write ``rows`` with the ``overlay`` column if ``overlays`` and ``members`` member columns."""
    header = [*COLUMNS, *(["overlay"] * overlays), *(f"member_{i}" for i in range(members))]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            writer.writerow(safe_row(_cells(row, members, overlays)))


def _cells(row: PredictionRow, members: int, overlays: bool) -> list:
    probability = "" if row.probability is None else f"{row.probability:.6f}"
    cells = [row.path, row.label, probability, row.prediction, row.error, row.group, row.study]
    if overlays:
        cells.append(row.overlay)
    if members:
        cells += [f"{p:.6f}" for p in row.members] if row.members else [""] * members
    return cells


def read_prediction_table(path: Path) -> list[dict[str, str]]:
    """The rows of a ``predictions.csv`` as column → text (formula quoting removed); columns a
    file written before this format lacks read as empty."""
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return [{k: read_cell(v or "") for k, v in row.items()} for row in rows]
