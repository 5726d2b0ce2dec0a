"""What users pass as prediction inputs: files, folders and globs, expanded to image files."""

import glob
from pathlib import Path

from fracture.data.sources.scanning import images_in
from fracture.errors import DataError


def expand_inputs(inputs: str | list[str]) -> list[Path]:
    """Files as given (kept even when unreadable, so they are reported), folders searched
    recursively for images, globs expanded; duplicates removed, order kept."""
    items = [inputs] if isinstance(inputs, str) else list(inputs)
    found: dict[Path, None] = {}
    for item in items:
        for path in _expand(str(item)):
            found.setdefault(path, None)
    if not found:
        raise DataError(f"no images in inputs={items}; pass image files, folders or globs")
    return list(found)


def _expand(item: str) -> list[Path]:
    path = Path(item).expanduser()
    if path.is_dir():
        return images_in(path)
    if glob.has_magic(item) and not path.exists():  # a file may have "[" in its name
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        return [p for p in matches if p.is_file()]
    return [path]  # a missing file is reported in the CSV, not fatal for the batch
