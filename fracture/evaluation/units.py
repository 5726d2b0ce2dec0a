"""The resampling unit of every bootstrap interval, one rule for ``fracture-eval`` and
``fracture-compare`` alike: the patient (``group``), else the study, else the image.

The level is the first one that any file of the split has an id for. Images of one patient
(or study) are correlated, so they are drawn together; resampling them one by one would give
intervals that are too narrow. A file without an id at that level (partial coverage, e.g. a
group pattern that misses some paths) is its own unit, through its study when it has one,
and a warning says how many such files there are.
"""

import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)

LEVELS = ("patient", "study", "image")


def resampling_units(
    groups: Sequence[str | None], studies: Sequence[str | None], paths: Sequence[str]
) -> tuple[list[str], str]:
    """The unit key of each file and the level of the rule (``patient``, ``study`` or
    ``image``)."""
    level = "patient" if any(groups) else "study" if any(studies) else "image"
    keys = [_key(*ids, level) for ids in zip(groups, studies, paths, strict=True)]
    named = groups if level == "patient" else studies
    missing = sum(not value for value in named) if level != "image" else 0
    if missing:
        log.warning(
            "%d of %d files have no %s id: each is resampled as its own unit (its study, else "
            "the image), so the intervals are narrower than a full %s grouping would give",
            missing,
            len(paths),
            level,
            level,
        )
    return keys, level


def _key(group: str | None, study: str | None, path: str, level: str) -> str:
    if group and level == "patient":
        return f"patient:{group}"
    if study and level != "image":
        return f"study:{study}"
    return f"image:{path}"
