"""Leakage groups: the files that must share a split, whatever split they were given.

A group is a connected component (union-find, across all splits) of these links between
readable files:

* byte-identical files (equal SHA-256);
* near duplicates (``fracture.data.duplicates``), which include identical decoded pixels
  (fingerprint distance 0) and the rotated, cropped and re-encoded copies it measures;
* name families: files of one class whose names differ only by a copy or augmentation
  suffix, as public sets make them: ``12-rotated1.jpg``, ``12-rotated1-rotated2.jpg``,
  ``12 (2).jpg``, ``12 - Copy.jpg``, ``12_copy.jpg`` all belong to family ``12``. Families
  are per class: equal numbers in different class folders are usually different images;
* patient (``group``) and study ids where the data has them.

Every readable file is in exactly one group; a file with no link is a group of one.
"""

import re
from collections.abc import Sequence

from fracture.data.duplicates import (
    DuplicateReport,
    Fingerprint,
    connected_components,
    group_edges,
)
from fracture.data.samples import Sample

# Stripped from the end of a file stem, repeatedly, to find its family.
_SUFFIX = re.compile(r"([\s_-]*(rotated|flipped|flip|rot|copy|aug)\d*|\s*\(\d+\)|\s+-\s+copy)$")


def name_family(stem: str) -> str:
    """The family of a file stem: its name without copy and augmentation suffixes."""
    family, previous = stem.strip().lower(), None
    while family != previous:
        previous, family = family, _SUFFIX.sub("", family).strip()
    return family or stem.lower()


def leakage_groups(
    prints: Sequence[Fingerprint], report: DuplicateReport, samples: dict[str, Sample]
) -> list[int]:
    """The group number of each fingerprint (``0..n_groups-1``, in order of first file).

    Args:
        prints: Fingerprints of the readable files.
        report: ``find_duplicates(prints)``.
        samples: The sample of each fingerprint's path (for its name, patient and study).
    """
    index = {fp.path: i for i, fp in enumerate(prints)}
    links = [[index[p] for p in cluster] for cluster in (*report.exact, *report.near)]
    for key in (_family, _patient, _study):
        links += _shared(prints, samples, key)
    component = {}
    for number, members in enumerate(connected_components(len(prints), group_edges(links))):
        component.update(dict.fromkeys(members, number))
    numbers: dict = {}
    return [
        numbers.setdefault(component.get(i, ("alone", i)), len(numbers)) for i in range(len(prints))
    ]


def _family(fp: Fingerprint, sample: Sample):
    return fp.label, name_family(sample.path.stem)


def _patient(fp: Fingerprint, sample: Sample):
    return sample.group


def _study(fp: Fingerprint, sample: Sample):
    return sample.study


def _shared(prints, samples: dict[str, Sample], key) -> list[list[int]]:
    """Indices of the files sharing each value of ``key`` (``None`` shares nothing)."""
    members: dict = {}
    for i, fp in enumerate(prints):
        value = key(fp, samples[fp.path])
        if value is not None:
            members.setdefault(value, []).append(i)
    return [m for m in members.values() if len(m) > 1]
