"""Duplicate, near-duplicate and leakage detection on real synthetic radiographs."""

import dataclasses
import hashlib
import itertools
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fracture.audit.keep_splits import resolve_leakage
from fracture.data import duplicates, hashing
from fracture.data.duplicates import Fingerprint, find_duplicates, near_pairs
from fracture.data.hashing import (
    FINGERPRINT_BITS,
    HASH_SIDE,
    NEAR_DISTANCE,
    VARIANTS,
    content_hash,
    fingerprint_words,
    perceptual_hash,
    perceptual_hashes,
)
from fracture.data.inspection import inspect_files
from fracture.synth import render_radiograph

SIZE = 256
# The closest distinct radiographs of SyntheticSpec(seed=0) (train images 172, 193, 249,
# all not fractured): 123-136 bits apart, variants included, yet 4-6 bits apart in a 64-bit
# pHash.
HARD_NEGATIVES = {"test/h172.png": 172, "train/h193.png": 193, "val/h249.png": 249}
LABELS = {
    "train/a.png": 1,
    "test/a_copy.png": 1,  # byte-identical
    "val/a_small.jpg": 1,  # resized 256 -> 150 px and re-encoded as JPEG q70
    "train/b.png": 0,
    "test/b_rot.png": 0,  # rotated 2 degrees
    "train/c.png": 0,
    "test/c_crop.png": 0,  # 2 % cut off each side
    "train/f.png": 1,
    "test/f_rot4.png": 1,  # rotated 4 degrees clockwise: only a variant of f matches it
    "train/g.png": 0,
    "val/g_crop4.png": 0,  # 4 % cut off each side: only a variant of g matches it
    "val/d.png": 1,
    "train/d_relabelled.png": 0,  # byte-identical, other label
    "train/e.png": 1,
    "train/e_copy.png": 1,  # byte-identical, same split
    **dict.fromkeys(HARD_NEGATIVES, 0),
}
COPIES = {"test/a_copy.png": "train/a.png", "train/d_relabelled.png": "val/d.png"}
COPIES["train/e_copy.png"] = "train/e.png"


def _render(key: list[int], fractured: bool) -> Image.Image:
    rng = np.random.default_rng(key)
    return Image.fromarray(render_radiograph(rng, SIZE, fractured, 0.15))


def _crop(image: Image.Image, share: float) -> Image.Image:
    cut = round(share * image.width)
    return image.crop((cut, cut, image.width - cut, image.height - cut))


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=0)


def _images() -> dict[str, Image.Image]:
    a, b, c = _render([1, 1], True), _render([1, 2], False), _render([1, 3], False)
    images = {
        "train/a.png": a,
        "val/a_small.jpg": a.resize((150, 150), Image.Resampling.LANCZOS),
        "train/b.png": b,
        "test/b_rot.png": _rotate(b, 2),
    }
    images |= {"train/c.png": c, "test/c_crop.png": _crop(c, 0.02)}
    f, g = _render([1, 6], True), _render([1, 7], False)
    images |= {"train/f.png": f, "test/f_rot4.png": _rotate(f, -4)}
    images |= {"train/g.png": g, "val/g_crop4.png": _crop(g, 0.04)}
    images |= {"val/d.png": _render([1, 4], True), "train/e.png": _render([1, 5], True)}
    # Drawn as SyntheticSpec(seed=0) draws its train images.
    return images | {rel: _render([0, 0, i], False) for rel, i in HARD_NEGATIVES.items()}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A directory holding every file of LABELS."""
    root = tmp_path_factory.mktemp("dups")
    for split in ("train", "val", "test"):
        (root / split).mkdir()
    for rel, image in _images().items():
        image.save(root / rel, quality=70)  # JPEG quality; PNG ignores it
    for rel, source in COPIES.items():
        shutil.copyfile(root / source, root / rel)
    return root


def _prints(root: Path, groups: dict[str, str] | None = None) -> list[Fingerprint]:
    groups = groups or {}
    prints = []
    for rel, label in sorted(LABELS.items()):
        phash, *variants = perceptual_hashes(Image.open(root / rel).convert("L"))
        split, sha256 = rel.split("/")[0], content_hash(root / rel)
        prints.append(Fingerprint(rel, split, label, sha256, phash, groups.get(rel), variants))
    return prints


def test_report_finds_copies_leakage_and_conflicts(root):
    report = find_duplicates(_prints(root))
    assert report.exact == [
        ["test/a_copy.png", "train/a.png"],
        ["train/d_relabelled.png", "val/d.png"],
        ["train/e.png", "train/e_copy.png"],
    ]
    assert report.near == [
        ["test/a_copy.png", "train/a.png", "val/a_small.jpg"],
        ["test/b_rot.png", "train/b.png"],
        ["test/c_crop.png", "train/c.png"],
        ["test/f_rot4.png", "train/f.png"],
        ["train/g.png", "val/g_crop4.png"],
    ]
    assert report.leakage == {
        "test-train": {"exact": 1, "near": 3},  # a_copy; b_rot, c_crop and f_rot4
        "test-val": {"exact": 0, "near": 1},  # a_copy ~ a_small
        "val-train": {"exact": 1, "near": 2},  # d; a_small and g_crop4
    }
    assert report.conflicting_labels == [["train/d_relabelled.png", "val/d.png"]]
    assert report.to_dict()["leakage"] == report.leakage


def test_larger_rotations_and_crops_need_the_variants(root):
    prints = [dataclasses.replace(fp, variants=()) for fp in _prints(root)]
    found = {p for cluster in find_duplicates(prints).near for p in cluster}
    assert {"test/b_rot.png", "test/c_crop.png"} <= found
    assert not found & {"test/f_rot4.png", "val/g_crop4.png"}


def test_distinct_look_alikes_stay_apart(root):
    hashes = [perceptual_hashes(Image.open(root / rel)) for rel in HARD_NEGATIVES]
    words, variants, owners = _search_input([h[0] for h in hashes], [h[1:] for h in hashes])
    assert near_pairs(words, NEAR_DISTANCE, variants, owners).size == 0
    # Not merely over the line: the threshold keeps a margin to the closest distinct pair.
    pairs = _brute_force([h[0] for h in hashes], [h[1:] for h in hashes], FINGERPRINT_BITS)
    assert min(distance for *_, distance in pairs) > NEAR_DISTANCE + 20


def test_resolve_keeps_one_split_and_one_copy(root):
    prints = _prints(root)
    kept, dropped = resolve_leakage(prints, find_duplicates(prints))
    assert [fp.path for fp in kept] == [
        "test/h172.png",
        "train/a.png",
        "train/b.png",
        "train/c.png",
        "train/e.png",
        "train/f.png",
        "train/g.png",
        "train/h193.png",
        "val/h249.png",
    ]
    assert {row["path"]: row["reason"] for row in dropped} == {
        "test/a_copy.png": "duplicate of a train image",  # a: one per split, tie -> train
        "test/b_rot.png": "duplicate of a train image",
        "test/c_crop.png": "duplicate of a train image",
        "test/f_rot4.png": "duplicate of a train image",
        "train/d_relabelled.png": "conflicting labels",
        "train/e_copy.png": "exact copy of train/e.png",
        "val/a_small.jpg": "duplicate of a train image",
        "val/d.png": "conflicting labels",
        "val/g_crop4.png": "duplicate of a train image",
    }
    assert [row["split"] for row in dropped] == ["test"] * 4 + ["train"] * 2 + ["val"] * 3


def test_resolve_keeps_patient_groups_in_one_split(root):
    groups = {"test/h172.png": "p1", "val/h249.png": "p1", "test/b_rot.png": "p2"}
    groups |= {"test/c_crop.png": "p2"}  # pulls b's cluster and c's cluster together
    prints = _prints(root, groups)
    kept, dropped = resolve_leakage(prints, find_duplicates(prints))
    reasons = {row["path"]: row["reason"] for row in dropped}
    # p1 has one test and one val image: the tie goes to val.
    assert reasons["test/h172.png"] == "group p1 kept in val"
    assert "val/h249.png" in {fp.path for fp in kept}
    # p2 joins b, b_rot, c, c_crop: two test images against two train ones -> train.
    assert reasons["test/b_rot.png"] == reasons["test/c_crop.png"] == "duplicate of a train image"


def _near(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def test_resolve_majority_split_wins_and_group_reasons():
    rng = random.Random(5)
    x, y, g = (rng.getrandbits(FINGERPRINT_BITS) for _ in range(3))
    prints = [
        Fingerprint("test/x1.png", "test", 1, "x1", x),
        Fingerprint("test/x2.png", "test", 1, "x2", _near(x, [1, 2, 3])),
        Fingerprint("train/x3.png", "train", 1, "x3", _near(x, [4, 5])),
        Fingerprint("train/y1.png", "train", 0, "y1", y, group="p2"),
        Fingerprint("test/y2.png", "test", 0, "y2", _near(y, [7])),
        Fingerprint("test/y3.png", "test", 0, "y3", g, group="p2"),
        Fingerprint("val/y4.png", "val", 0, "y4", _near(g, range(0, 300, 2)), group="p2"),
    ]
    report = find_duplicates(prints)
    x_cluster = ["test/x1.png", "test/x2.png", "train/x3.png"]
    assert report.near == [x_cluster, ["test/y2.png", "train/y1.png"]]
    kept, dropped = resolve_leakage(prints, report)
    assert {row["path"]: row["reason"] for row in dropped} == {
        "train/x3.png": "duplicate of a test image",  # two test copies against one
        "train/y1.png": "duplicate of a test image",  # p2 + y2: two test, one train, one val
        "val/y4.png": "group p2 kept in test",
    }
    assert [fp.path for fp in kept] == ["test/x1.png", "test/x2.png", "test/y2.png", "test/y3.png"]


def test_resolve_explains_drops_linked_through_a_group():
    rng = random.Random(7)
    z, w, v = (rng.getrandbits(FINGERPRINT_BITS) for _ in range(3))
    prints = [
        Fingerprint("val/z1.png", "val", 1, "z1", z),
        Fingerprint("test/z2.png", "test", 1, "z2", _near(z, [9]), group="p3"),
        Fingerprint("train/z3.png", "train", 1, "z3", w, group="p3"),
        Fingerprint("train/z4.png", "train", 1, "z4", v, group="p3"),
    ]
    kept, dropped = resolve_leakage(prints, find_duplicates(prints))
    assert {row["path"]: row["reason"] for row in dropped} == {
        "test/z2.png": "group p3 kept in train",
        "val/z1.png": "linked to duplicates kept in train",  # via z2, whose patient is in train
    }
    assert [fp.path for fp in kept] == ["train/z3.png", "train/z4.png"]


def test_leakage_keys_cover_present_splits_with_zeros():
    rng = random.Random(1)
    prints = [
        Fingerprint(f"{split}/{i}.png", split, i % 2, f"{split}{i}", rng.getrandbits(512))
        for split in ("train", "test")
        for i in range(3)
    ]
    report = find_duplicates(prints)
    assert report.leakage == {"test-train": {"exact": 0, "near": 0}}
    assert report.exact == report.near == report.conflicting_labels == []
    assert resolve_leakage(prints, report) == (prints, [])


def _search_input(hashes: list[int], variants: list[list[int]], bits: int = FINGERPRINT_BITS):
    """``near_pairs``' arguments: original words, variant words and the owner of each."""
    owners = np.array([i for i, vs in enumerate(variants) for _ in vs], dtype=np.int64)
    flat = fingerprint_words([v for vs in variants for v in vs], bits=bits)
    return fingerprint_words(hashes, bits=bits), flat, owners


def _brute_force(hashes: list[int], variants: list[list[int]], max_distance: int) -> list:
    """``[i, j, distance]`` for i < j: the original of one to any fingerprint of the other."""
    pairs = []
    for i, j in itertools.combinations(range(len(hashes)), 2):
        one_way = [(hashes[i], f) for f in (hashes[j], *variants[j])]
        other_way = [(hashes[j], f) for f in variants[i]]
        distance = min(bin(x ^ y).count("1") for x, y in one_way + other_way)
        if distance <= max_distance:
            pairs.append([i, j, distance])
    return pairs


@pytest.mark.parametrize("bits, max_distance", [(64, 10), (64, 24), (128, 30), (512, 240)])
def test_near_pairs_matches_brute_force(monkeypatch, bits, max_distance):
    rng = random.Random(bits + max_distance)
    hashes = [rng.getrandbits(bits) for _ in range(200)]
    hashes += [_near(h, rng.sample(range(bits), rng.randint(0, 14))) for h in hashes[:60]]
    rng.shuffle(hashes)

    def variant() -> int:  # near some file's original, or unrelated
        flips = rng.sample(range(bits), rng.randint(0, 14))
        return _near(rng.choice(hashes), flips) if rng.random() < 0.3 else rng.getrandbits(bits)

    variants = [[variant() for _ in range(rng.randint(0, 3))] for _ in hashes]  # ragged
    monkeypatch.setattr(duplicates, "_BLOCK_ELEMENTS", 700)  # many blocks of 1-3 rows
    expected = [pair[:2] for pair in _brute_force(hashes, variants, max_distance)]
    direct = [pair[:2] for pair in _brute_force(hashes, [[]] * len(hashes), max_distance)]
    assert len(direct) >= 20 and len(expected) >= len(direct) + 20  # both kinds of pairs
    words, flat, owners = _search_input(hashes, variants, bits)
    assert near_pairs(words, max_distance, flat, owners).tolist() == expected
    assert near_pairs(fingerprint_words(hashes, bits=bits), max_distance).tolist() == direct


def test_content_hash_reads_in_chunks(tmp_path, monkeypatch):
    data = bytes(random.Random(0).getrandbits(8) for _ in range(10_000))
    (tmp_path / "f.bin").write_bytes(data)
    monkeypatch.setattr(hashing, "_CHUNK", 999)
    assert content_hash(tmp_path / "f.bin") == hashlib.sha256(data).hexdigest()


def test_perceptual_hash_width_and_modes():
    image = _render([2, 1], False)
    value = perceptual_hash(image)
    assert isinstance(value, int) and 0 <= value < 2**FINGERPRINT_BITS
    assert perceptual_hash(image.convert("RGB")) == value
    hashes = perceptual_hashes(image)
    assert len(hashes) == 1 + len(VARIANTS) and hashes[0] == value
    assert all(0 <= h < 2**FINGERPRINT_BITS for h in hashes) and len(set(hashes)) == len(hashes)
    with pytest.raises(ValueError, match="8-bit"):
        perceptual_hash(image.convert("I;16"))
    with pytest.raises(ValueError, match="8-bit"):
        perceptual_hashes(image.convert("I;16"))


def test_large_images_hash_like_their_shrunk_copy():
    image = _render([2, 2], True).resize((1024, 1024), Image.Resampling.LANCZOS)
    shrunk = image.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX)
    assert perceptual_hashes(image) == perceptual_hashes(shrunk)


def test_inspected_variants_survive_the_cache(root, tmp_path):
    paths = [root / "train/f.png", root / "test/f_rot4.png"]
    fresh = inspect_files(paths, tmp_path, progress=False)
    assert inspect_files(paths, tmp_path, progress=False) == fresh  # read back from JSON
    assert [[f.phash, *f.phash_variants] for f in fresh] == [
        perceptual_hashes(Image.open(path)) for path in paths
    ]


def test_invalid_fingerprints_are_rejected():
    one = Fingerprint("a.png", "train", 0, "s", 1)
    with pytest.raises(ValueError, match="unique"):
        find_duplicates([one, one])
    with pytest.raises(ValueError, match="unknown splits"):
        find_duplicates([Fingerprint("a.png", "holdout", 0, "s", 1)])
    with pytest.raises(ValueError, match="below 2"):
        find_duplicates([Fingerprint("a.png", "train", 0, "s", 2**FINGERPRINT_BITS)])
    with pytest.raises(ValueError, match="below 2"):
        find_duplicates([Fingerprint("a.png", "train", 0, "s", 1, variants=[-1])])
