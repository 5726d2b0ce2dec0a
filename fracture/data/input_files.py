"""Files to predict as a dataset in which a file that cannot be read is a reason, not an error."""

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from fracture.data.bounded import BoundedWorker
from fracture.data.decode import read_radiograph
from fracture.errors import UnreadableImage


class InputFiles(Dataset):
    """Item ``i`` is ``(model input, i, "")``, or ``(empty tensor, i, reason)`` for a file that
    cannot be read: new files are not inspected before prediction, and one bad file must not
    stop a folder.

    Files are decoded in a worker process under ``timeout_s`` (``fracture.data.bounded``),
    one per loading process: each DataLoader worker starts its own.

    Args:
        paths: The files, in output order.
        transform: Grayscale PIL image → model input (``Preprocessing.eval_transform()``).
        max_pixels: Decompression-bomb limit of the decoder.
        timeout_s: Deadline for decoding one file; a later one is unreadable.
    """

    def __init__(
        self, paths: Sequence[Path], transform: Callable, max_pixels: int, timeout_s: float
    ):
        self.paths, self.transform, self.max_pixels = list(paths), transform, max_pixels
        self.timeout_s = timeout_s
        self._decoder, self._owner = None, None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        path = self.paths[index]
        try:
            image = self.transform(
                self._worker().call(path, read_radiograph, path, self.max_pixels)
            )
        except (UnreadableImage, OSError) as error:
            reason = getattr(error, "reason", None) or f"cannot read: {error.strerror or error}"
            return torch.zeros(0), index, reason
        return image, index, ""

    def _worker(self) -> BoundedWorker:
        if self._owner != os.getpid():  # a forked DataLoader worker must not share its parent's
            self._decoder, self._owner = BoundedWorker(self.timeout_s), os.getpid()
        return self._decoder

    def close(self) -> None:
        if self._decoder is not None and self._owner == os.getpid():
            self._decoder.close()
