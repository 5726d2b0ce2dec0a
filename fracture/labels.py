"""Class names and the normalisation of folder / CSV label names.

The positive class *fractured* is always index 1, whatever the folder names are
and however they sort: ``fractured`` sorts before ``not fractured``, so a plain
``ImageFolder`` would make it index 0 and silently flip every metric.
"""

import re

from fracture.errors import DataError

CLASS_NAMES = ("not_fractured", "fractured")
NOT_FRACTURED, FRACTURED = 0, 1

# Spellings seen in public fracture datasets (Kaggle folders, FracAtlas, MURA study suffixes),
# compared after lower-casing and collapsing spaces, dashes and underscores to one space.
_ALIASES = {
    FRACTURED: {"fractured", "fracture", "fractures", "positive", "abnormal", "1", "yes"},
    NOT_FRACTURED: {
        "not fractured",
        "non fractured",
        "nonfractured",
        "unfractured",
        "no fracture",
        "normal",
        "negative",
        "0",
        "no",
    },
}
_LOOKUP = {alias: index for index, aliases in _ALIASES.items() for alias in aliases}


def _canonical(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def label_index(name: str) -> int:
    """Return the class index of a folder or CSV label name.

    Args:
        name: A label as found in the data, e.g. ``"Not Fractured"`` or ``"abnormal"``.

    Raises:
        DataError: When the name is not a known spelling of either class.
    """
    index = _LOOKUP.get(_canonical(name))
    if index is None:
        raise DataError(
            f"unknown class name {name!r}; use one of {accepted_names()} "
            "(case, spaces, '-' and '_' do not matter)"
        )
    return index


def accepted_names() -> str:
    """The accepted label spellings, for error messages."""
    return ", ".join(
        f"{CLASS_NAMES[index]}: {'/'.join(sorted(aliases))}" for index, aliases in _ALIASES.items()
    )
