"""A realistically large synthetic set (1,024 px by default) for the benchmark, made once.

Rendering one 1,024 px radiograph takes about 0.35 s, so each rendering is written in its
eight flips and rotations: distinct files and pixels with the same statistics, for an
eighth of the rendering time. Renderings are spread over the usable cores.
"""

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from fracture.errors import DataError
from fracture.synth import SyntheticSpec, render_radiograph
from fracture.synth.dataset import CLASSES

MARKER = "fracture-bench.json"
VARIANTS = 8  # 4 rotations x {as is, mirrored}


def bench_dataset(root: Path, images: int, size: int, image_format: str, seed: int = 0) -> dict:
    """Split folders ``root/{train,val,test}/{class}/`` of synthetic radiographs, reused when
    ``root`` already holds the same set.

    Args:
        root: Where the set goes; must be missing, empty, or hold this very set.
        images: Train images; val and test get an eighth each (at least 16).
        size: Side of the square images.
        image_format: ``png`` or ``jpeg`` (quality 90).
        seed: Seeds the renderings.

    Returns:
        Image counts per split.
    """
    held_out = max(16, images // 8)
    spec = {"images": images, "size": size, "format": image_format, "seed": seed}
    counts = {"train": images, "val": held_out, "test": held_out}
    if (root / MARKER).is_file() and json.loads((root / MARKER).read_text()) == spec:
        return counts
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root} is not empty and holds no {MARKER}; choose a new --data folder")
    tasks = [
        (root, split_index, split, k, counts[split], size, image_format, seed)
        for split_index, split in enumerate(counts)
        for k in range(math.ceil(counts[split] / VARIANTS))
    ]
    with ProcessPoolExecutor(len(os.sched_getaffinity(0)), mp_context=get_context("fork")) as pool:
        list(pool.map(_write_rendering, tasks))
    (root / MARKER).write_text(json.dumps(spec))  # last: the set is complete
    return counts


def _write_rendering(task: tuple) -> None:
    """Rendering ``k`` of a split, written as up to ``VARIANTS`` files (even ``k``: fractured)."""
    root, split_index, split, k, count, size, image_format, seed = task
    fractured = k % 2 == 0
    rng = np.random.default_rng([seed, split_index, k])
    image = render_radiograph(rng, size, fractured, SyntheticSpec.subtle_fraction)
    folder = root / split / CLASSES[0 if fractured else 1]
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "png" if image_format == "png" else "jpg"
    for v in range(min(VARIANTS, count - k * VARIANTS)):
        variant = np.rot90(image[:, ::-1] if v >= 4 else image, v % 4)
        Image.fromarray(np.ascontiguousarray(variant)).save(
            folder / f"{split}_{k:05d}_{v}.{suffix}", quality=90
        )
