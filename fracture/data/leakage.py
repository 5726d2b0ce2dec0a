"""The leakage of a training run: copies and near copies of its files across splits.

Found from the file facts training computes anyway (SHA-256 and perceptual fingerprints,
cached), with the audit's search (``fracture.data.duplicates``), so no file is read again.
``data.on_leakage`` decides what a leaking run does: ``warn`` (default: one console line),
``error`` (refuse to train) or ``ignore`` (no search, nothing recorded).

The record, ``metrics.json`` ``data/leakage``::

    {"pairs": {"test-train": {"exact": n, "near": m}, "test-val": ..., "val-train": ...},
     "exact": sum of the pairs' exact counts, "near": sum of their near counts,
     "examples": [[path, path], ...] (at most 5 cross-split pairs), "near_distance": d}

A pair ``"test-train"`` counts the test files with a byte-identical copy (``exact``) or only
a near copy (``near``) in train, as ``fracture-audit`` does.
"""

import logging
from collections.abc import Sequence

from fracture.data.duplicates import NEAR_DISTANCE, DuplicateReport, Fingerprint, find_duplicates
from fracture.data.facts import FileFacts
from fracture.data.samples import Sample
from fracture.errors import ConfigError, DataError

log = logging.getLogger(__name__)

ON_LEAKAGE = ("warn", "error", "ignore")
_EXAMPLES = 5


def check_on_leakage(value: str) -> str:
    """``value`` when it is one of ``ON_LEAKAGE``, else a one-line error."""
    if value not in ON_LEAKAGE:
        raise ConfigError(f"data.on_leakage={value!r}: use one of {', '.join(ON_LEAKAGE)}")
    return value


def leakage_record(splits: dict[str, Sequence[Sample]], facts: dict) -> dict:
    """The ``data/leakage`` record of the readable files of ``splits``.

    Args:
        splits: The run's samples per split.
        facts: ``{sample path: FileFacts}`` for every sample.
    """
    prints = [
        fingerprint(split, sample, facts[sample.path])
        for split, samples in splits.items()
        for sample in samples
        if facts[sample.path].readable
    ]
    report = find_duplicates(prints)
    return {
        "pairs": report.leakage,
        "exact": sum(counts["exact"] for counts in report.leakage.values()),
        "near": sum(counts["near"] for counts in report.leakage.values()),
        "examples": _examples(prints, report),
        "near_distance": NEAR_DISTANCE,
    }


def act_on_leakage(record: dict, on_leakage: str, source) -> None:
    """Warn in one line, or raise ``DataError``, when ``record`` shows cross-split copies."""
    if not record["exact"] and not record["near"]:
        return
    found = ", ".join(
        f"{pair}: {c['exact']} exact, {c['near']} near" for pair, c in record["pairs"].items()
    )
    message = (
        f"the splits of {source} leak (files with a copy in another split: {found}); "
        "fracture-audit <root> --write-clean-manifest clean.csv writes a clean split"
    )
    if on_leakage == "error":
        raise DataError(f"{message}, or set data.on_leakage=warn")
    log.warning("%s (recorded in metrics.json data/leakage)", message)


def fingerprint(split: str, sample: Sample, facts: FileFacts) -> Fingerprint:
    """What the duplicate search needs of one readable file."""
    return Fingerprint(
        str(sample.path),
        split,
        sample.label,
        facts.sha256,
        facts.phash,
        sample.group,
        variants=facts.phash_variants or (),
    )


def _examples(prints: list[Fingerprint], report: DuplicateReport) -> list[list[str]]:
    """A few pairs of files in different splits, exact copies first."""
    split = {fp.path: fp.split for fp in prints}
    pairs = []
    for cluster in (*report.exact, *report.near):
        first = cluster[0]
        other = next((p for p in cluster if split[p] != split[first]), None)
        if other is not None:
            pairs.append([first, other])
    return pairs[:_EXAMPLES]
