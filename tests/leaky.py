"""A Kaggle-like leaky fracture set, built from ``fracture.synth`` radiographs.

Public multi-region fracture sets come as ``{train,val,test}/{fractured,not fractured}``
folders whose files leak: most test files are byte copies of train files, files appear again
rotated ("12-rotated1.jpg") or renamed ("12 (2).jpg", "12 - Copy.jpg"), some are truncated,
a GIF hides behind ``.jpg``, and modes and sizes vary. ``make_leaky_set`` plants all of that,
deterministically, and returns the *family* of every readable file: the original it was
derived from, which a clean split must keep in one split.

Original ``k`` of a class lives in test when ``k % 10 == 0``, in val when ``k % 10 == 1``,
else in train (80/10/10), so the leaking clusters sit mostly in train. Both classes number
their originals from 0, as the public sets do, so equal names in different class folders are
different images. Used by tests/test_clean_split.py and scripts/make_leaky_set.py.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fracture.synth.radiograph import render_radiograph

SPLITS = ("train", "val", "test")
CLASS_FOLDERS = ("not fractured", "fractured")  # by label index, as the public set names them


@dataclass(frozen=True)
class LeakySpec:
    """``originals`` distinct radiographs per class, ``size`` px, from ``seed``."""

    originals: int = 60
    size: int = 48
    seed: int = 0


def make_leaky_set(root: Path, spec: LeakySpec = LeakySpec()) -> dict[str, str]:
    """Write the leaky set into ``root``; returns ``{path: family}`` of the readable files."""
    for split in SPLITS:
        for folder in CLASS_FOLDERS:
            (root / split / folder).mkdir(parents=True, exist_ok=True)
    families: dict[str, str] = {}
    for label in (0, 1):
        for k in range(spec.originals):
            family = f"{label}/{k}"
            for path in _family(root, spec, label, k):
                families[str(path)] = family
        _unreadable(root, spec, label)
    gif = _gif(root, spec)
    families[str(gif)] = "gif"
    return families


def _home(k: int) -> str:
    return "test" if k % 10 == 0 else "val" if k % 10 == 1 else "train"


def _folder(root: Path, split: str, label: int) -> Path:
    return root / split / CLASS_FOLDERS[label]


def _family(root: Path, spec: LeakySpec, label: int, k: int) -> list[Path]:
    """Original ``k`` and its planted copies."""
    rng = np.random.default_rng([spec.seed, label, k])
    image = Image.fromarray(render_radiograph(rng, spec.size, bool(label), 0.15))
    home = _folder(root, _home(k), label)
    original = _save_original(image, home, k)
    paths = [original]
    if k % 4 == 0:  # byte copies in all three splits, under the same name
        for split in SPLITS:
            target = _folder(root, split, label) / original.name
            if not target.exists():
                paths.append(Path(shutil.copy(original, target)))
    if k % 3 == 1:  # rotated family, next to the original
        paths.append(_save(image.rotate(90, expand=True), home / f"{k}-rotated1.jpg"))
    if k % 9 == 1:  # rotated again, in test: only the name links it
        paths.append(_save(image.rotate(180), _folder(root, "test", label) / f"{k}-rotated2.jpg"))
    if k % 5 == 1:  # renamed copy in the same split
        paths.append(Path(shutil.copy(original, home / f"{k} (2){original.suffix}")))
    if k % 15 == 6:  # "- Copy" in val
        target = _folder(root, "val", label) / f"{k} - Copy{original.suffix}"
        paths.append(Path(shutil.copy(original, target)))
    if k % 8 == 2:  # re-encoded under an unrelated name in test: a near copy
        paths.append(_save(image, _folder(root, "test", label) / f"{1000 + k}.jpg", quality=70))
    return paths


def _save_original(image: Image.Image, folder: Path, k: int) -> Path:
    """Mixed modes and sizes: RGB, RGBA and palette files next to grayscale JPEGs."""
    if k % 5 == 2:
        image = image.resize((image.width * 3 // 2, image.height))
    if k % 7 == 3:
        return _save(image.convert("RGB"), folder / f"{k}.jpg")
    if k % 7 == 5:
        return _save(image.convert("P"), folder / f"{k}.png")
    if k % 11 == 4:
        return _save(image.convert("RGBA"), folder / f"{k}.png")
    return _save(image, folder / f"{k}.jpg")


def _save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **({"quality": 95} | options) if path.suffix == ".jpg" else options)
    return path


def _unreadable(root: Path, spec: LeakySpec, label: int) -> None:
    """Truncated JPEGs: two in train, one in test."""
    rng = np.random.default_rng([spec.seed, label, 10_000])
    for index, split in enumerate(("train", "train", "test")):
        image = Image.fromarray(render_radiograph(rng, spec.size, bool(label), 0.15))
        path = _save(image, _folder(root, split, label) / f"{5000 + index}.jpg")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def _gif(root: Path, spec: LeakySpec) -> Path:
    """A readable GIF named ``.jpg``, as some public sets have."""
    rng = np.random.default_rng([spec.seed, 2, 0])
    image = Image.fromarray(render_radiograph(rng, spec.size, True, 0.15))
    path = _folder(root, "train", 1) / "9000.jpg"
    image.convert("P").save(path, format="GIF")
    return path
