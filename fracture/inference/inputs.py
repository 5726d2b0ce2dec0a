"""What users pass as prediction inputs: files, folders and globs, expanded to image files."""

import glob
import os
from pathlib import Path

from fracture.data.sources.scanning import is_image_file
from fracture.errors import DataError
from fracture.inference.walk import files_below, glob_files


def expand_inputs(inputs: str | list[str], follow_symlinks: bool = False) -> list[Path]:
    """Files as given (kept even when unreadable, so they are reported), folders searched
    recursively for images, globs expanded; order kept.

    Each real file is listed once, under the first path that reached it (links and ``..``
    make several names for one file). Directory symlinks are entered only with
    ``follow_symlinks``.
    """
    items = [inputs] if isinstance(inputs, str) else list(inputs)
    found: dict[str, Path] = {}
    for item in items:
        for path in _expand(str(item), follow_symlinks):
            found.setdefault(os.path.realpath(path), path)
    if not found:
        raise DataError(f"no images in inputs={items}; pass image files, folders or globs")
    return list(found.values())


def _expand(item: str, follow_symlinks: bool) -> list[Path]:
    path = Path(item).expanduser()
    if path.is_dir():
        return [p for p in files_below(path, follow_symlinks) if is_image_file(p)]
    if glob.has_magic(item) and not path.exists():  # a file may have "[" in its name
        return glob_files(str(path), follow_symlinks)
    return [path]  # a missing file is reported in the CSV, not fatal for the batch
