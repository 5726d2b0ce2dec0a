"""Writes the synthetic set as ``root/{split}/{class}/*.png`` and reuses it when it exists.

A marker file, written last, records the spec, so its presence means the set is
complete, and a later run with the same spec can trust it without looking further.
Nothing outside a directory this module created itself is ever changed or deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from fracture.errors import DataError
from fracture.synth.radiograph import render_radiograph
from fracture.synth.spec import SyntheticSpec

MARKER = "fracture-synth.json"
FORMAT = 1  # bump whenever the same spec would render different images
SPLITS = ("train", "val", "test")
CLASSES = ("fractured", "not_fractured")


def generate_dataset(root: str | os.PathLike, spec: SyntheticSpec) -> dict:
    """Renders every image of ``spec`` into ``root``, which must be missing or empty.

    Image ``i`` of a split uses the stream ``default_rng([seed, split_index, i])``, so it
    does not depend on the other split sizes. The first ``round(n * fractured_fraction)``
    images of a split are fractured.

    Args:
        root: Directory to fill; created if missing.
        spec: What to generate.

    Returns:
        Image counts as ``{split: {class: n}}``.

    Raises:
        DataError: ``root`` is a file or a non-empty directory.
    """
    root = Path(root)
    _require_empty(root)
    counts = {split: _write_split(root, spec, i, split) for i, split in enumerate(SPLITS)}
    # Written last: a marker means every image is on disk.
    payload = {"format": FORMAT, "spec": spec.to_dict(), "counts": counts}
    (root / MARKER).write_text(json.dumps(payload, indent=2) + "\n")
    return counts


def _write_split(root: Path, spec: SyntheticSpec, split_index: int, split: str) -> dict:
    n = getattr(spec, split)
    n_fractured = round(n * spec.fractured_fraction)
    for name in CLASSES:
        (root / split / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        fractured = i < n_fractured
        rng = np.random.default_rng([spec.seed, split_index, i])
        image = render_radiograph(rng, spec.size, fractured, spec.subtle_fraction)
        folder = root / split / CLASSES[0 if fractured else 1]
        Image.fromarray(image).save(folder / f"{split}_{i:05d}.png")
    return {CLASSES[0]: n_fractured, CLASSES[1]: n - n_fractured}


def ensure_dataset(root: str | os.PathLike, spec: SyntheticSpec) -> Path:
    """Returns ``root`` holding the synthetic set of ``spec``, generating it only if absent.

    Generation goes to a temporary sibling directory that is renamed into place, so
    concurrent callers (e.g. DDP ranks) end up sharing one complete set.

    Args:
        root: Where the set lives.
        spec: What it must contain.

    Returns:
        ``root`` as a ``Path``.

    Raises:
        DataError: ``root`` holds other files, or a synthetic set made from another spec.
    """
    root = Path(root)
    if _is_complete(root, spec):
        return root
    _require_empty(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        generate_dataset(staging, spec)
        # Atomic; fails when another process has meanwhile filled root.
        os.rename(staging, root)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if _is_complete(root, spec):
            return root
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def read_marker(root: str | os.PathLike) -> dict | None:
    """The marker of a synthetic set in ``root`` (format, spec, counts), or None without one.

    Raises:
        DataError: The marker exists but is not readable JSON.
    """
    path = Path(root) / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {path} ({err}); delete {root} to regenerate it") from None


def _is_complete(root: Path, spec: SyntheticSpec) -> bool:
    """True when ``root`` holds the set of ``spec``; raises when it holds another one."""
    marker = read_marker(root)
    if marker is None:
        return False
    if marker.get("format") == FORMAT and marker.get("spec") == spec.to_dict():
        return True
    raise DataError(
        f"{root} holds a synthetic set made with {_mismatch(marker, spec)}; "
        "choose another data root or delete that directory"
    )


def _mismatch(marker: dict, spec: SyntheticSpec) -> str:
    """The settings that differ, e.g. ``size=64 (wanted 128)``."""
    wanted = {"format": FORMAT, **spec.to_dict()}
    found = {"format": marker.get("format"), **(marker.get("spec") or {})}
    diffs = [f"{k}={found.get(k)!r} (wanted {v!r})" for k, v in wanted.items() if found.get(k) != v]
    return ", ".join(diffs) or "a different spec"


def _require_empty(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} is a file, not a directory; choose another data root")
    if root.is_dir() and any(root.iterdir()):
        raise DataError(
            f"{root} is not empty and holds no {MARKER}; refusing to write the synthetic set "
            "there: choose another (new or empty) data root"
        )
