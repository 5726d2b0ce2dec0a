"""The audit of a dataset: counts, unreadable files, duplicates, leakage and shortcuts.

``audit.json`` schema (``AUDIT_FORMAT`` = 2):

- ``source``: the data source audited; ``files``: files listed; ``seconds``, ``images_per_second``.
- ``counts``: ``{split: {"not_fractured": n, "fractured": n, "total": n,
  "fractured_fraction": f, "unreadable": n}}`` — readable images per class, unreadable apart.
- ``unreadable``: ``[{"path", "split", "reason"}]``.
- ``duplicates``: ``{"exact": [[path, ...]], "near": [[path, ...]], "conflicting_labels":
  [[path, ...]], "near_distance": d}`` — clusters over all splits.
- ``leakage``: ``{"test-train": {"exact": n, "near": m}, "test-val": ..., "val-train": ...}``
  — files of the first split with a byte-identical (``exact``) or only a near (``near``)
  duplicate in the second split.
- ``distributions``: ``{"size"|"mode"|"format": {class: {value: count}}}``.
- ``shortcuts``: ``{feature: balanced accuracy on val+test of a per-value majority rule
  learnt on train, or null}``.
- ``warnings``: human-readable findings, most serious first.
- ``clean_manifest`` (with ``--write-clean-manifest``): the record of
  ``fracture.audit.clean.clean_split`` plus ``path``, or ``{"error"}`` when none was written.
"""

import time
from collections import Counter, defaultdict
from collections.abc import Sequence

from fracture.audit.shortcuts import Observation, shortcut_scores, shortcut_warnings
from fracture.data.duplicates import (
    NEAR_DISTANCE,
    DuplicateReport,
    Fingerprint,
    find_duplicates,
)
from fracture.data.inspection import DEFAULT_DECODE_TIMEOUT_S, inspect_files
from fracture.data.leakage import fingerprint
from fracture.data.samples import Sample
from fracture.labels import CLASS_NAMES

AUDIT_FORMAT = 2  # 2: clean_manifest records leakage groups, counts and crossing files


def audit_splits(
    splits: dict[str, list[Sample]],
    cache_dir,
    max_pixels: int,
    workers: int | None = None,
    progress: bool = True,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
) -> tuple[dict, list[Fingerprint], DuplicateReport]:
    """Inspect every file of ``splits`` and build the audit report.

    Returns:
        The report (``audit.json``'s content without ``source``), and the fingerprints of the
        readable files with their duplicates, which a clean manifest is resolved from.
    """
    started = time.perf_counter()
    listed = [(split, sample) for split, samples in splits.items() for sample in samples]
    paths = [s.path for _, s in listed]
    facts = inspect_files(paths, cache_dir, max_pixels, workers, progress, timeout_s)
    rows = list(zip(listed, facts, strict=True))
    prints = [fingerprint(split, s, f) for (split, s), f in rows if f.readable]
    duplicates = find_duplicates(prints)
    seconds = time.perf_counter() - started
    report = {
        "format": AUDIT_FORMAT,
        "files": len(rows),
        "seconds": round(seconds, 2),
        "images_per_second": round(len(rows) / seconds, 1) if seconds else None,
        "counts": _counts(rows),
        "unreadable": [
            {"path": str(s.path), "split": split, "reason": f.error}
            for (split, s), f in rows
            if not f.readable
        ],
        "duplicates": {
            "exact": duplicates.exact,
            "near": duplicates.near,
            "conflicting_labels": duplicates.conflicting_labels,
            "near_distance": NEAR_DISTANCE,
        },
        "leakage": duplicates.leakage,
        "distributions": _distributions(rows),
        "shortcuts": shortcut_scores(_observations(rows)),
    }
    report["warnings"] = _warnings(report)
    return report, prints, duplicates


def _counts(rows: Sequence) -> dict[str, dict]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for (split, sample), facts in rows:
        counts[split][CLASS_NAMES[sample.label] if facts.readable else "unreadable"] += 1
    return {split: _split_counts(counter) for split, counter in counts.items()}


def _split_counts(counter: Counter) -> dict:
    total = sum(counter[name] for name in CLASS_NAMES)
    fraction = counter[CLASS_NAMES[1]] / total if total else None
    return {
        **{name: counter[name] for name in CLASS_NAMES},
        "total": total,
        "fractured_fraction": round(fraction, 4) if fraction is not None else None,
        "unreadable": counter["unreadable"],
    }


def _observations(rows: Sequence) -> list[Observation]:
    return [
        Observation(split, s.label, f"{f.width}x{f.height}", f.mode, f.format)
        for (split, s), f in rows
        if f.readable
    ]


def _distributions(rows: Sequence) -> dict[str, dict[str, dict[str, int]]]:
    tables: dict[str, dict[str, Counter]] = {
        k: defaultdict(Counter) for k in ("size", "mode", "format")
    }
    for observation in _observations(rows):
        for feature, table in tables.items():
            table[CLASS_NAMES[observation.label]][getattr(observation, feature)] += 1
    return {
        feature: {name: dict(table[name].most_common()) for name in CLASS_NAMES}
        for feature, table in tables.items()
    }


def _warnings(report: dict) -> list[str]:
    found = []
    for pair, counts in report["leakage"].items():
        if counts["exact"] or counts["near"]:
            first, second = pair.split("-")
            found.append(
                f"leakage {pair}: {counts['exact']} {first} file(s) have a byte-identical copy "
                f"and {counts['near']} a near duplicate in {second}"
            )
    if report["duplicates"]["conflicting_labels"]:
        count = len(report["duplicates"]["conflicting_labels"])
        found.append(f"{count} duplicate cluster(s) carry conflicting labels")
    if report["unreadable"]:
        found.append(f"{len(report['unreadable'])} unreadable file(s) are excluded from training")
    found += shortcut_warnings(report["shortcuts"])
    for split, counts in report["counts"].items():
        fraction = counts["fractured_fraction"]
        if fraction is not None and not 0.2 <= fraction <= 0.8:
            found.append(
                f"{split} is imbalanced ({fraction:.0%} fractured): consider data.balance=sampler"
            )
    return found
