"""Decoded, resized pixels on disk, so each file is decoded once, not once per epoch.

An entry is the image as the eval transform sees it after the fit's resize step
(``Preprocessing.fit_transform``): uint8 (H, W); with ``data.fit=crop`` shortest side
``resize_size``, with ``pad`` the letterboxed ``image_size`` square, with ``resize`` the
stretched one, made by the very same transform. Eval tensors from the cache therefore equal
freshly decoded ones exactly (the fit step returns its own output unchanged), and
augmentation crops the cached image, as it crops a fresh one after the same step.

Entries are named by a hash of the file's identity (absolute path, size, mtime) and of
everything that shapes the pixels (the fit and its size, ``max_pixels``, the versions below).
A changed file gets a new name and is decoded again; the stale entry is never read again
and may be deleted by hand at any time, like the whole ``pixels`` folder.

Several processes (DataLoader workers, the runs of a sweep) may build the cache at once:
each entry is written to a unique temporary file beside it and moved into place with
``os.replace``, which is atomic, so a reader sees a whole entry or none, and two builders
of one entry both write the same pixels.
"""

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.transforms import v2

from fracture.data.decode import DEFAULT_MAX_PIXELS, read_radiograph
from fracture.data.preprocessing import Preprocessing

log = logging.getLogger(__name__)

# Bump when decode's pixel conventions or the resizing here change, so entries are rebuilt.
CACHE_VERSION = 1


class PixelCache:
    """Radiographs decoded and fitted to the training resolution, cached as ``.npy`` files.

    Args:
        root: The cache directory (``data.cache_dir``); entries go under ``root/pixels``.
        preprocessing: Its fit's resize step (``fit_transform``) makes the cached image.
        max_pixels: Decompression-bomb limit of the decoder (see ``fracture.data.decode``).
    """

    def __init__(
        self, root: str | Path, preprocessing: Preprocessing, max_pixels: int = DEFAULT_MAX_PIXELS
    ):
        self.folder = Path(root).expanduser() / "pixels" / f"v{CACHE_VERSION}"
        self.max_pixels = max_pixels
        # The very step of Preprocessing.eval_transform, so cached and fresh tensors agree.
        self._resize = v2.Compose([v2.ToImage(), preprocessing.fit_transform()])
        # The resize kernels live in torch and torchvision; another release may round else.
        versions = f"{torch.__version__}|{torchvision.__version__}"
        self._settings = f"{preprocessing.fit_settings}|{max_pixels}|{versions}"
        self._write_failed = False

    def load(self, path: str | Path) -> np.ndarray:
        """The image of ``path`` as uint8 (H, W) after the fit's resize, decoded on a miss.

        Args:
            path: The image file.

        Raises:
            UnreadableImage: When the file cannot be decoded (see ``fracture.data.decode``).
        """
        try:
            entry = self.entry(path)
        except OSError:  # the file is gone or unreadable: let the decoder say so
            return self._decode(path)
        try:
            return np.load(entry)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, EOFError):  # damaged (e.g. by a crash): rebuild it
            log.debug("rebuilding damaged pixel cache entry %s", entry)
        pixels = self._decode(path)
        self._write(entry, pixels)
        return pixels

    def entry(self, path: str | Path) -> Path:
        """Where the entry of ``path`` as it is now on disk lives (it may not exist yet)."""
        path = os.path.abspath(path)
        stat = os.stat(path)
        identity = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{self._settings}"
        name = hashlib.sha256(identity.encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.npy"

    def _decode(self, path) -> np.ndarray:
        image = self._resize(read_radiograph(path, self.max_pixels))  # (1, H, W) uint8
        return image[0].numpy()

    def _write(self, entry: Path, pixels: np.ndarray) -> None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(entry, pixels)
        except OSError as error:
            # A full disk or read-only cache slows training down; it must not stop it.
            if not self._write_failed:
                log.warning("pixel cache not written (%s); decoding every epoch", error)
            self._write_failed = True


def _write_atomically(entry: Path, pixels: np.ndarray) -> None:
    # A unique name in the same folder (same file system, so os.replace is atomic).
    handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, pixels)
        os.replace(temporary, entry)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
