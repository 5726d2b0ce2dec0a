"""Globs (``d/**/*.png``) and folders expanded by one walker that visits each directory once.

Python 3.11's ``glob.glob(recursive=True)`` enters directory symlinks: a ``ln -s . a`` inside
the folder repeats every file ~40 times (until ELOOP), and two such links never finish. Here
directory symlinks are skipped unless ``follow_symlinks``; when followed, a link back into the
directory it sits in (a loop) is reported once and not entered.

Matching follows ``glob``: ``**`` is zero or more directories, ``*`` and ``?`` stay within one
name, and names starting with ``.`` match only a pattern part that starts with ``.``.
"""

import glob
import logging
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

log = logging.getLogger(__name__)

RECURSIVE = "**"


def glob_files(pattern: str, follow_symlinks: bool = False) -> list[Path]:
    """Files matching ``pattern`` (relative patterns give relative paths), sorted."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    walk = _Walk(parts[fixed:], follow_symlinks)
    return sorted(base / Path(*names) for names in walk.files(base)) if base.is_dir() else []


def files_below(folder: Path, follow_symlinks: bool = False) -> list[Path]:
    """Every file below ``folder`` (hidden ones too), sorted."""
    walk = _Walk((RECURSIVE, "*"), follow_symlinks, hidden=True)
    return sorted(folder / Path(*names) for names in walk.files(folder))


@dataclass
class _Walk:
    parts: tuple[str, ...]
    follow_symlinks: bool
    hidden: bool = False  # whether `*` and `**` match names starting with "."
    skipped: list[str] = field(default_factory=list)

    def files(self, base: Path) -> list[tuple[str, ...]]:
        found = []
        stack = [((), os.path.realpath(base))]
        while stack:
            names, real = stack.pop()
            for entry in _entries(base / Path(*names)):
                child = (*names, entry.name)
                if entry.is_dir():
                    stack.extend(self._descend(child, real, entry))
                elif entry.is_file() and _matches(child, self.parts, self.hidden):
                    found.append(child)
        self._report(base)
        return found

    def _descend(self, names: tuple[str, ...], parent_real: str, entry: os.DirEntry) -> list:
        if not self._may_hold_matches(names):
            return []
        if not entry.is_symlink():
            return [(names, os.path.join(parent_real, entry.name))]
        real = os.path.realpath(entry.path)
        if not self.follow_symlinks:
            self.skipped.append(entry.path)
            return []
        if Path(parent_real).is_relative_to(real):  # the link leads back up: a loop
            log.warning("inputs: %s is a symlink loop (to %s); not entered", entry.path, real)
            return []
        return [(names, real)]

    def _may_hold_matches(self, names: tuple[str, ...]) -> bool:
        # Prune early: below a fixed depth without `**`, or through a hidden directory.
        if RECURSIVE not in self.parts and len(names) >= len(self.parts):
            return False
        return self.hidden or not names[-1].startswith(".") or _explicit_dot(self.parts)

    def _report(self, base: Path) -> None:
        if self.skipped:
            log.warning(
                "inputs: %d directory symlink(s) below %s not followed (e.g. %s); "
                "follow_symlinks=true follows them",
                len(self.skipped),
                base,
                self.skipped[0],
            )


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError:  # unreadable or vanished: glob skips these too
        return []


def _explicit_dot(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") for part in parts)


def _matches(names: tuple[str, ...], parts: tuple[str, ...], hidden: bool) -> bool:
    if not parts:
        return not names
    if parts[0] == RECURSIVE:
        # `**` takes 0..n leading names (never hidden ones, as in glob), then the rest matches.
        for taken in range(len(names) + 1):
            if _matches(names[taken:], parts[1:], hidden):
                return True
            if taken < len(names) and names[taken].startswith(".") and not hidden:
                return False
        return False
    if not names or (names[0].startswith(".") and not hidden and not parts[0].startswith(".")):
        return False
    return fnmatchcase(names[0], parts[0]) and _matches(names[1:], parts[1:], hidden)
