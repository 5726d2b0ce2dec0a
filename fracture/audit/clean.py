"""The clean manifest: the readable files, split so that no leakage group crosses splits.

Modes (``fracture-audit --splits``):

* ``auto`` (default): keep the given splits when no leakage group (``fracture.audit.groups``)
  crosses them, else re-split. On public sets whose test files are copies of train files,
  keeping the splits would leave almost nothing to test on.
* ``regroup``: always re-split: whole groups are assigned to train / val / test at the given
  ratios, stratified by each group's majority class (``split_samples``).
* ``keep``: keep the given splits and drop what leaks (``fracture.audit.keep_splits``).

In every mode the files of conflicting-label clusters are dropped, byte-identical copies
within a split are reduced to one, and every split must hold both classes: otherwise
:class:`~fracture.errors.DataError` says so in one line and no manifest is written. The
manifest is a CSV (``data=csv``); the user's files are never moved, renamed or deleted.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from fracture.audit.groups import leakage_groups
from fracture.audit.keep_splits import drop_exact_copies, resolve_leakage
from fracture.data.duplicates import DuplicateReport, Fingerprint
from fracture.data.samples import SPLITS, Sample
from fracture.data.sources import write_manifest
from fracture.data.sources.splitting import check_ratios, split_samples
from fracture.errors import DataError
from fracture.labels import CLASS_NAMES


def clean_split(
    splits: dict[str, list[Sample]],
    prints: list[Fingerprint],
    duplicates: DuplicateReport,
    mode: str = "auto",
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    unreadable: Sequence[dict] = (),
) -> tuple[dict[str, list[Sample]], dict]:
    """The clean splits of the readable files ``prints``, and what went into them.

    Args:
        splits: The given splits (all files, readable or not).
        prints: Fingerprints of the readable files.
        duplicates: ``find_duplicates(prints)``.
        mode: ``auto``, ``regroup`` or ``keep`` (see the module docstring).
        ratios: Train, val and test fractions of a re-split.
        seed: Seed of a re-split.
        unreadable: ``{"path", "split", "reason"}`` of the unreadable files, listed as dropped.

    Returns:
        The splits to write, and the record for ``audit.json``: mode, groups, per-split
        counts per class, files whose group crosses splits (given and written), dropped files.

    Raises:
        DataError: A split would lack a class.
    """
    by_path = {str(s.path): s for samples in splits.values() for s in samples}
    numbers = leakage_groups(prints, duplicates, by_path)
    group = dict(zip((fp.path for fp in prints), numbers, strict=True))
    crossing = _crossing({fp.path: fp.split for fp in prints}, group)
    regroup = mode == "regroup" or (mode == "auto" and crossing > 0)
    if regroup:
        placed, dropped = _regrouped(prints, duplicates, by_path, group, check_ratios(ratios), seed)
    else:
        # Leakage groups as the groups to keep together: name families and studies too.
        linked = [replace(fp, group=f"leakage-{group[fp.path]}") for fp in prints]
        kept, dropped = resolve_leakage(linked, duplicates)
        placed = {fp.path: fp.split for fp in kept}
    clean = {split: [] for split in SPLITS}
    for path, split in placed.items():
        clean[split].append(by_path[path])
    _require_both_classes(clean, len(set(group.values())))
    record = {
        "splits": "regrouped" if regroup else "kept",
        **({"ratios": list(ratios), "seed": seed} if regroup else {}),
        "readable": len(prints),
        "groups": len(set(group.values())),
        "given_splits_crossing": crossing,
        "crossing": _crossing(placed, group),
        "kept": len(placed),
        "counts": {split: _counts(samples) for split, samples in clean.items()},
        "dropped": sorted(
            [*dropped, *({**u, "reason": f"unreadable: {u['reason']}"} for u in unreadable)],
            key=lambda row: row["path"],
        ),
    }
    return clean, record


def write_clean_manifest(path: Path, clean: dict[str, list[Sample]], record: dict) -> dict:
    """Write the manifest; returns ``record`` with its path (for ``audit.json``)."""
    write_manifest(path, clean)
    return {"path": str(path), **record}


def _regrouped(prints, duplicates, by_path, group, ratios, seed) -> tuple[dict, list[dict]]:
    """Whole groups split anew; conflicting labels and byte-identical copies dropped first,
    so that the ratios count the files that stay (all copies of a file share its group)."""
    conflicting = {p for cluster in duplicates.conflicting_labels for p in cluster}
    dropped = {p: "conflicting labels" for p in conflicting}
    # One pseudo-split: copies anywhere are reduced to the first path in sort order.
    dropped |= drop_exact_copies([replace(fp, split="") for fp in prints if fp.path not in dropped])
    candidates = [by_path[fp.path] for fp in prints if fp.path not in dropped]
    splits = split_samples(candidates, ratios, seed, unit=lambda s: group[str(s.path)])
    placed = {str(s.path): split for split, samples in splits.items() for s in samples}
    given = {fp.path: fp.split for fp in prints}
    rows = [{"path": p, "split": given[p], "reason": r} for p, r in dropped.items()]
    return placed, sorted(rows, key=lambda row: row["path"])


def _crossing(split_of: dict[str, str], group: dict[str, int]) -> int:
    """Files whose leakage group has members in more than one split."""
    splits: dict[int, set[str]] = {}
    for path, split in split_of.items():
        splits.setdefault(group[path], set()).add(split)
    return sum(len(splits[group[path]]) > 1 for path in split_of)


def _counts(samples: list[Sample]) -> dict[str, int]:
    counter = Counter(CLASS_NAMES[s.label] for s in samples)
    return {**{name: counter[name] for name in CLASS_NAMES}, "total": len(samples)}


def _require_both_classes(clean: dict[str, list[Sample]], groups: int) -> None:
    for split, samples in clean.items():
        counts = _counts(samples)
        missing = [name for name in CLASS_NAMES if counts[name] == 0]
        if missing:
            raise DataError(
                f"the {groups} leakage groups cannot give every split both classes ({split} "
                f"would hold no {' and no '.join(missing)} image); no manifest written: add "
                "images of that class or change --ratios"
            )
