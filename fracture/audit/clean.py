"""The clean manifest: the dataset without unreadable files and without leakage.

It is a CSV manifest (``data=csv``); the user's files are never moved, renamed or deleted.
"""

from pathlib import Path

from fracture.audit.duplicates import DuplicateReport, Fingerprint, resolve_leakage
from fracture.data.samples import Sample
from fracture.data.sources import write_manifest


def write_clean_manifest(
    path: Path,
    splits: dict[str, list[Sample]],
    prints: list[Fingerprint],
    duplicates: DuplicateReport,
) -> dict:
    """Write the manifest; returns what went into it (for ``audit.json``)."""
    kept, dropped = resolve_leakage(prints, duplicates)
    by_path = {str(sample.path): sample for samples in splits.values() for sample in samples}
    clean = {split: [] for split in splits}
    for fingerprint in kept:
        clean[fingerprint.split].append(by_path[fingerprint.path])
    write_manifest(path, clean)
    return {"path": str(path), "kept": len(kept), "dropped": dropped}
