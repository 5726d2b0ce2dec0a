"""Keeping the given splits (``fracture-audit --splits keep``): drop what leaks instead of
re-splitting.

``resolve_leakage`` picks the files a clean manifest keeps, deterministically:

1. every file of a conflicting-label cluster is dropped ("conflicting labels");
2. the remaining duplicate clusters, merged with files that share a ``group``
   (patient/study id: a group must stay in one split, with or without duplicates),
   are kept only in the split holding most of their members (ties: train, then val,
   then test); members elsewhere are dropped ("duplicate of a train image", "group X
   kept in train", or "linked to duplicates kept in train" for a file joined only
   through a chain of both);
3. within a split, byte-identical copies are reduced to the first path in sort order
   ("exact copy of <path>").

Kept files keep the input order; dropped ones are sorted by path. On a public set whose
test files are mostly copies of train files this leaves almost nothing to test on, which is
why the audit re-splits by default (``fracture.audit.clean``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from fracture.data.duplicates import (
    DuplicateReport,
    Fingerprint,
    check_prints,
    connected_components,
    group_edges,
)

KEEP_PREFERENCE = ("train", "val", "test")  # where a tied cross-split cluster is kept


def resolve_leakage(
    prints: Sequence[Fingerprint], report: DuplicateReport
) -> tuple[list[Fingerprint], list[dict]]:
    """Chooses the files a leak-free manifest keeps; never touches any file.

    Args:
        prints: The fingerprints ``report`` was made from.
        report: Output of :func:`find_duplicates` on ``prints``.

    Returns:
        ``(kept, dropped)``: kept fingerprints in input order, and one
        ``{"path", "split", "reason"}`` dict per dropped file, sorted by path.

    Raises:
        ValueError: Invalid ``prints``, or ``report`` names a path missing from them.
    """
    check_prints(prints)
    by_path = {fp.path: fp for fp in prints}
    _check_report_paths(report, by_path)
    dropped = {p: "conflicting labels" for c in report.conflicting_labels for p in c}
    remaining = [fp for fp in prints if fp.path not in dropped]
    dropped |= _drop_cross_split(remaining, report)
    dropped |= drop_exact_copies([fp for fp in remaining if fp.path not in dropped])
    kept = [fp for fp in prints if fp.path not in dropped]
    rows = [{"path": p, "split": by_path[p].split, "reason": r} for p, r in dropped.items()]
    return kept, sorted(rows, key=lambda row: row["path"])


def _drop_cross_split(prints: Sequence[Fingerprint], report: DuplicateReport) -> dict[str, str]:
    """Reasons for the members of cross-split clusters (and groups) outside their kept split."""
    index = {fp.path: i for i, fp in enumerate(prints)}
    clusters = [[index[p] for p in c if p in index] for c in (*report.exact, *report.near)]
    groups = _group_members(prints)
    units = connected_components(len(prints), group_edges([*clusters, *groups.values()]))
    cluster_splits = _splits_reached(prints, clusters)
    group_splits = {g: {prints[i].split for i in members} for g, members in groups.items()}
    dropped = {}
    for unit in units:
        winner = _majority_split([prints[i].split for i in unit])
        for i in (i for i in unit if prints[i].split != winner):
            reached = cluster_splits.get(i, set())
            dropped[prints[i].path] = _reason(prints[i], winner, reached, group_splits)
    return dropped


def _group_members(prints: Sequence[Fingerprint]) -> dict[str, list[int]]:
    groups = defaultdict(list)
    for i, fp in enumerate(prints):
        if fp.group is not None:
            groups[fp.group].append(i)
    return groups


def _splits_reached(prints, clusters: list[list[int]]) -> dict[int, set[str]]:
    """For each clustered file, the splits of the clusters it belongs to."""
    reached = defaultdict(set)
    for cluster in clusters:
        splits = {prints[i].split for i in cluster}
        for i in cluster:
            reached[i] |= splits
    return reached


def _majority_split(splits: list[str]) -> str:
    counts = {s: splits.count(s) for s in KEEP_PREFERENCE}
    return max(KEEP_PREFERENCE, key=lambda s: (counts[s], -KEEP_PREFERENCE.index(s)))


def _reason(fp: Fingerprint, winner: str, reached: set[str], group_splits: dict) -> str:
    # fp is not in the winner split, so reaching it means a duplicate there.
    if winner in reached:
        return f"duplicate of a {winner} image"
    if fp.group is not None and winner in group_splits[fp.group]:
        return f"group {fp.group} kept in {winner}"
    return f"linked to duplicates kept in {winner}"  # joined through a chain of the above


def drop_exact_copies(prints: Sequence[Fingerprint]) -> dict[str, str]:
    """Reasons for byte-identical copies within one split, all but the first path."""
    copies = defaultdict(list)
    for fp in prints:
        copies[fp.split, fp.sha256].append(fp.path)
    dropped = {}
    for paths in copies.values():
        first, *rest = sorted(paths)
        dropped |= {p: f"exact copy of {first}" for p in rest}
    return dropped


def _check_report_paths(report: DuplicateReport, by_path: dict) -> None:
    named = {p for c in (*report.exact, *report.near, *report.conflicting_labels) for p in c}
    missing = named - by_path.keys()
    if missing:
        raise ValueError(f"report names paths missing from the fingerprints: {sorted(missing)}")
