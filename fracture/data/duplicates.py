"""Exact and near-duplicate radiographs, leakage between splits, and a leak-free selection.

Semantics (pure logic on fingerprints; nothing here reads or touches image files):

* **Exact duplicates** are files with equal SHA-256. ``DuplicateReport.exact`` lists every
  group of two or more such files.
* **Near duplicates** are files where the original perceptual fingerprint of one differs
  in at most ``near_distance`` bits (``NEAR_DISTANCE`` by default) from any fingerprint of
  the other: its original or one of its ``variants`` (fingerprints of rotated and cropped
  versions of the image). Variants are compared with originals only, never with each
  other: two transformed images could otherwise meet halfway. Clusters are the connected
  components of that relation (union-find), so a chain ``a~b~c`` is one cluster even when
  ``a`` and ``c`` are further apart. Byte-identical files join the same component (the
  search compares each distinct content once). ``DuplicateReport.near`` lists the
  components of two or more files that are not all byte-identical (those are already in
  ``exact``). With the default fingerprints this catches re-encoded, resized and
  contrast-changed copies, rotations up to 5 degrees and crops up to 5 % per side, but
  misses most crops off one side only (see ``NEAR_DISTANCE`` for the measured rates).
* **Leakage** is counted per pair of splits, keyed ``"<evaluation side>-<other>"`` in the
  order test, val, train: ``"test-train"``, ``"test-val"``, ``"val-train"``. Every pair of
  splits present in the input has a key, with zeros when clean. ``exact`` counts the files
  of the first split that have a byte-identical file in the second; ``near`` counts the
  files of the first split that have a near duplicate (an original within the threshold
  of any fingerprint of the other, not via a chain) in the second but no byte-identical
  one there. A file counts once per pair.
* **Conflicting labels**: duplicate clusters (exact groups or near components) whose
  members carry different labels.
Training records the leakage of every run from the same search (``fracture.data.leakage``);
the audit builds its clean split on the clusters (``fracture.audit.clean``).

Splits must be ``"train"``, ``"val"`` or ``"test"``; paths must be unique.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from fracture.data.hashing import NEAR_DISTANCE, fingerprint_words

EVALUATION_ORDER = ("test", "val", "train")  # leakage keys name the evaluation side first
# Elements per XOR block: 2**20 uint64 = 8 MiB of temporaries whatever the set size (twice as
# fast as 32 MiB on the 2-core CPU: fewer cache misses).
# Measured 2026-11-27 on the 2-core CPU: find_duplicates on 10,000 random 512-bit fingerprints
# with 6 variants each and 1,000 near copies among them takes 3.7 s (0.55 s without
# variants; resolve_leakage 0.02 s). The search grows as files x fingerprints.
_BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """What the audit knows about one image file.

    Args:
        path: Unique file path (or any unique key).
        split: ``"train"``, ``"val"`` or ``"test"``.
        label: 0 (not fractured) or 1 (fractured).
        sha256: ``content_hash`` of the file.
        phash: ``perceptual_hash`` of the decoded image.
        group: Patient or study id when the dataset has one.
        variants: The variant fingerprints of ``perceptual_hashes`` (any iterable, stored
            as a tuple); empty compares the original only.
    """

    path: str
    split: str
    label: int
    sha256: str
    phash: int
    group: str | None = None
    variants: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Keeps the frozen dataclass hashable when a list comes in (e.g. from JSON).
        object.__setattr__(self, "variants", tuple(self.variants))


@dataclass
class DuplicateReport:
    """Duplicates and cross-split leakage found by :func:`find_duplicates`.

    Args:
        exact: Sorted groups (>= 2 sorted paths) of byte-identical files.
        near: Sorted near-duplicate clusters that are not all byte-identical.
        leakage: ``{"test-train": {"exact": n, "near": m}, ...}``, see the module docstring.
        conflicting_labels: Sorted duplicate clusters whose members carry different labels.
    """

    exact: list[list[str]]
    near: list[list[str]]
    leakage: dict[str, dict[str, int]]
    conflicting_labels: list[list[str]]

    def to_dict(self) -> dict:
        """JSON-ready plain-dict form."""
        return asdict(self)


def find_duplicates(
    prints: Sequence[Fingerprint], near_distance: int = NEAR_DISTANCE
) -> DuplicateReport:
    """Finds exact and near duplicates, cross-split leakage and label conflicts.

    Args:
        prints: One fingerprint per file.
        near_distance: Largest Hamming distance between fingerprints of near duplicates.

    Returns:
        The report; see the module docstring for what each field counts.

    Raises:
        ValueError: Duplicate paths, an unknown split, or a malformed fingerprint.
    """
    check_prints(prints)
    contents = _contents(prints)
    # One search row per distinct file content: thousands of byte-identical copies add
    # no near pairs, and the hash of a copy is the hash of its original.
    firsts = [prints[files[0]] for files in contents]
    words = fingerprint_words([fp.phash for fp in firsts])
    variants = fingerprint_words([v for fp in firsts for v in fp.variants])
    owners = np.array([c for c, fp in enumerate(firsts) for _ in fp.variants], dtype=np.int64)
    pairs = near_pairs(words, near_distance, variants, owners).tolist()
    near = [_files(contents, c) for c in connected_components(len(contents), pairs)]
    in_near = {i for cluster in near for i in cluster}
    exact = [files for files in contents if len(files) > 1]
    clusters = near + [files for files in exact if files[0] not in in_near]
    return DuplicateReport(
        exact=_paths(prints, exact),
        near=_paths(prints, near),
        leakage=_leakage(prints, contents, pairs),
        conflicting_labels=_paths(prints, [c for c in clusters if _labels(prints, c) > 1]),
    )


def near_pairs(
    words: np.ndarray,
    max_distance: int,
    variants: np.ndarray | None = None,
    owners: np.ndarray | None = None,
) -> np.ndarray:
    """All pairs of rows near each other, directly or through a variant, vectorised.

    Args:
        words: ``(n, w)`` ``uint64`` original fingerprints, as from ``fingerprint_words``.
        max_distance: Largest Hamming distance that counts as near.
        variants: ``(m, w)`` ``uint64`` variant fingerprints, compared with the originals
            of the other rows only; ``None`` compares originals only.
        owners: ``(m,)`` row of ``words`` each variant belongs to.

    Returns:
        ``(p, 2)`` int64 array of row pairs ``i < j``, sorted, where the original of one
        row is within ``max_distance`` bits of the original or a variant of the other.
    """
    words = np.asarray(words, dtype=np.uint64)
    rows = np.ascontiguousarray(words.T)  # (w, n): one contiguous row per word
    columns, owner = _targets(words, variants, owners)
    step = max(1, _BLOCK_ELEMENTS // max(len(owner), 1))
    keys = [
        _block_keys(rows[:, start : start + step], start, columns, owner, max_distance)
        for start in range(0, len(words), step)
    ]
    keys = np.unique(np.concatenate([np.empty(0, dtype=np.int64), *keys]))
    return np.stack(np.divmod(keys, max(len(owner), 1)), axis=1)


def check_prints(prints: Sequence[Fingerprint]) -> None:
    """Refuse duplicate paths and unknown splits (``ValueError``)."""
    paths = [fp.path for fp in prints]
    if len(set(paths)) != len(paths):
        raise ValueError("fingerprint paths must be unique")
    unknown = {fp.split for fp in prints} - set(EVALUATION_ORDER)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; use train, val or test")


def _targets(words: np.ndarray, variants, owners) -> tuple[np.ndarray, np.ndarray]:
    """``(w, n + m)`` originals then variants, one contiguous row per word, and their rows."""
    if variants is None:
        variants, owners = words[:0], np.empty(0, dtype=np.int64)
    targets = np.concatenate([words, np.asarray(variants, dtype=np.uint64)])
    owner = np.concatenate([np.arange(len(words)), np.asarray(owners, dtype=np.int64)])
    return np.ascontiguousarray(targets.T), owner


def _block_keys(rows, start: int, columns, owner: np.ndarray, max_distance: int) -> np.ndarray:
    """Distinct ``i * len(owner) + j`` keys of the pairs ``i < j`` of rows from ``start``."""
    # The last half (the pHash) of distinct radiographs differs almost like random bits, so
    # few fingerprints are near on it, and only those get their first half compared.
    half = len(rows) // 2
    partial = _distances(rows[half:], columns[half:])
    i, column = np.nonzero(partial <= max_distance)
    rest = np.bitwise_count(rows[:half, i] ^ columns[:half, column]).sum(0, dtype=np.uint16)
    near = partial[i, column] + rest <= max_distance
    i, j = i[near] + start, owner[column[near]]
    keep = i != j  # a file is near its own original and variants
    low, high = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    return np.unique(low * len(owner) + high)  # one key per pair, however many fingerprints


def _distances(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``(r, c)`` Hamming distances between ``(w, r)`` and ``(w, c)`` word-major fingerprints."""
    distance = np.zeros((rows.shape[1], columns.shape[1]), dtype=np.uint16)
    for row_word, column_word in zip(rows, columns, strict=True):  # temporaries stay 2-D
        distance += np.bitwise_count(row_word[:, None] ^ column_word[None, :])
    return distance


def _contents(prints: Sequence[Fingerprint]) -> list[list[int]]:
    """Indices of the files of each distinct SHA-256, in order of first appearance."""
    by_hash = defaultdict(list)
    for index, fp in enumerate(prints):
        by_hash[fp.sha256].append(index)
    return list(by_hash.values())


def _files(contents: list[list[int]], content_ids: Iterable[int]) -> list[int]:
    return [i for c in content_ids for i in contents[c]]


def _labels(prints: Sequence[Fingerprint], cluster: Iterable[int]) -> int:
    return len({prints[i].label for i in cluster})


def group_edges(groups: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """Edges joining each member of each group to the group's first member."""
    return [(group[0], other) for group in groups for other in group[1:]]


def connected_components(n: int, edges: Iterable[Sequence[int]]) -> list[list[int]]:
    """Connected components of two or more of the nodes ``0..n-1``, by union-find."""
    parent = list(range(n))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps trees shallow
            node = parent[node]
        return node

    for a, b in edges:
        parent[root(a)] = root(b)
    members = defaultdict(list)
    for node in range(n):
        members[root(node)].append(node)
    return [m for m in members.values() if len(m) > 1]


def _paths(prints: Sequence[Fingerprint], clusters: Iterable[Sequence[int]]) -> list[list[str]]:
    return sorted(sorted(prints[i].path for i in c) for c in clusters)


def _leakage(prints, contents: list[list[int]], pairs: list[list[int]]) -> dict:
    splits = [s for s in EVALUATION_ORDER if any(fp.split == s for fp in prints)]
    exact_hits, near_hits = defaultdict(set), defaultdict(set)
    for files in contents:
        _add_hits(prints, files, files, exact_hits)
    for a, b in pairs:
        _add_hits(prints, contents[a], contents[b], near_hits)
        _add_hits(prints, contents[b], contents[a], near_hits)
    keys = [(a, b) for k, a in enumerate(splits) for b in splits[k + 1 :]]
    return {
        f"{a}-{b}": {
            "exact": len(exact_hits[a, b]),
            "near": len(near_hits[a, b] - exact_hits[a, b]),
        }
        for a, b in keys
    }


def _add_hits(prints, files: list[int], partners: list[int], hits: dict) -> None:
    """Adds each of ``files`` to ``hits[its split, s]`` for the later splits s of ``partners``."""
    partner_splits = {prints[j].split for j in partners}
    for i in files:
        rank = EVALUATION_ORDER.index(prints[i].split)
        for later in EVALUATION_ORDER[rank + 1 :]:
            if later in partner_splits:
                hits[prints[i].split, later].add(i)
