"""Deterministic, stratified and grouped train / val / test splits of an unsplit dataset.

Samples that share a ``group`` (patient or study id) always land in the same split, so one
patient's radiographs can never be both trained on and tested on. Stratification is by the
group's majority label, so both classes keep roughly the dataset's balance in every split.
"""

import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from fracture.data.samples import SPLITS, Sample
from fracture.errors import ConfigError


def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Three non-negative fractions that sum to one, or a one-line error."""
    values = tuple(float(r) for r in ratios)
    if len(values) != 3 or min(values) < 0 or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"split ratios {list(ratios)} must be three non-negative fractions (train, val, "
            "test) that sum to 1, e.g. data.source.ratios=[0.7,0.15,0.15]"
        )
    return values  # type: ignore[return-value]


def split_samples(
    samples: Sequence[Sample],
    ratios: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    unit: Callable[[Sample], str | None] | None = None,
) -> dict[str, list[Sample]]:
    """Split ``samples`` by ``ratios`` (train, val, test), stratified and grouped.

    The same samples, ratios and seed always give the same split, whatever order the
    samples come in.

    Args:
        samples: What to split.
        ratios: Fractions of the images for train, val and test.
        seed: Seed of the shuffle of the units.
        unit: The key of the unit a sample must share its split with; default its ``group``
            (``None``: a unit of its own). The audit passes leakage groups here.
    """
    bounds = _cumulative(check_ratios(ratios))
    splits: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    for units in _strata(samples, unit or (lambda s: s.group)).values():
        random.Random(seed).shuffle(units)
        _assign(units, bounds, splits)
    return {split: sorted(members, key=lambda s: s.path) for split, members in splits.items()}


def _cumulative(ratios: tuple[float, float, float]) -> tuple[float, float]:
    return ratios[0], ratios[0] + ratios[1]


def _strata(samples: Sequence[Sample], unit: Callable) -> dict[int, list[list[Sample]]]:
    """Units (a group's samples, or one ungrouped sample) by majority label, in a fixed order."""
    units: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        key = unit(sample)
        units[key if key is not None else f"\0{sample.path}"].append(sample)
    strata: dict[int, list[list[Sample]]] = defaultdict(list)
    for key in sorted(units):
        members = units[key]
        strata[int(2 * sum(s.label for s in members) >= len(members))].append(members)
    return strata


def _assign(units: list[list[Sample]], bounds: tuple[float, float], splits: dict) -> None:
    """Walk the shuffled units; each goes where the middle of its images falls."""
    total = sum(len(unit) for unit in units)
    seen = 0
    for unit in units:
        middle = (seen + len(unit) / 2) / total
        split = "train" if middle < bounds[0] else "val" if middle < bounds[1] else "test"
        splits[split].extend(unit)
        seen += len(unit)


def with_groups_from_pattern(
    samples: Sequence[Sample], root: Path, pattern: str | None
) -> list[Sample]:
    """Set each sample's group from a regex on its path relative to ``root``.

    The first capture group is the key (the whole match when there is none); samples whose
    path does not match keep their group.
    """
    if not pattern:
        return list(samples)
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"group pattern {pattern!r} is not a valid regex: {error}") from None
    return [_grouped(sample, root, regex) for sample in samples]


def _grouped(sample: Sample, root: Path, regex: re.Pattern) -> Sample:
    # Relative to the root when the file is under it (manifests may list files elsewhere).
    path = sample.path.relative_to(root) if sample.path.is_relative_to(root) else sample.path
    match = regex.search(path.as_posix())
    if match is None:
        return sample
    return replace(sample, group=match.group(1) if regex.groups else match.group(0))
