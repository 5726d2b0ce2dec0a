"""Batch prediction: image files → P(fractured) and decisions, unreadable files reported."""

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from fracture.data.bounded import BoundedWorker
from fracture.data.decode import DEFAULT_MAX_PIXELS, read_radiograph
from fracture.data.inspection import DEFAULT_DECODE_TIMEOUT_S
from fracture.errors import UnreadableImage
from fracture.labels import CLASS_NAMES
from fracture.spreadsheet import safe_row
from fracture.trained.predictor import Predictor


@dataclass
class ImagePrediction:
    """One input: its probability (the ensemble mean) and members', or why it failed."""

    path: Path
    probability: float | None = None
    members: list[float] | None = None
    error: str | None = None
    overlay: str | None = None  # the Grad-CAM overlay, relative to the output folder

    def label(self, threshold: float) -> str:
        return "" if self.probability is None else CLASS_NAMES[int(self.probability >= threshold)]


class _InputImages(Dataset):
    """Decoded, preprocessed images; a failure becomes a reason instead of an exception.

    Files are decoded in a worker process under ``timeout_s`` (``fracture.data.bounded``),
    one per loading process: each DataLoader worker starts its own.
    """

    def __init__(self, paths: Sequence[Path], transform, max_pixels: int, timeout_s: float):
        self.paths, self.transform, self.max_pixels = list(paths), transform, max_pixels
        self.timeout_s = timeout_s
        self._decoder, self._owner = None, None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
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


def _collate(batch):
    good = [(image, index) for image, index, reason in batch if not reason]
    images = torch.stack([image for image, _ in good]) if good else torch.zeros(0)
    failed = [(index, reason) for _, index, reason in batch if reason]
    return images, [index for _, index in good], failed


@torch.inference_mode()
def predict_paths(
    predictor: Predictor,
    paths: Sequence[Path],
    batch_size: int = 32,
    tta: bool = False,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
    decode_timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
) -> list[ImagePrediction]:
    """Predict every path in order; unreadable inputs keep their place with the reason.

    Args:
        tta: Also predict the horizontally flipped image and average the probabilities.
        decode_timeout_s: Deadline for decoding one file; a later one is unreadable.
    """
    results = [ImagePrediction(Path(p)) for p in paths]
    transform = predictor.preprocessing.eval_transform()
    dataset = _InputImages(paths, transform, max_pixels, decode_timeout_s)
    loader = DataLoader(dataset, batch_size, num_workers=num_workers, collate_fn=_collate)
    model = predictor.model.to(device).eval()
    try:
        for images, indices, failed in tqdm(
            loader, desc="predicting", unit="batch", disable=not progress
        ):
            for index, reason in failed:
                results[index].error = reason
            if indices:
                _fill(results, indices, member_probabilities(model, images.to(device), tta))
    finally:
        dataset.close()
    return results


def member_probabilities(model, images: torch.Tensor, tta: bool) -> torch.Tensor:
    """P(fractured) of each ensemble member, (N, M) float64 on the CPU.

    Args:
        model: ``Predictor.model``, on the device of ``images``.
        images: Normalised model inputs (N, 3, S, S).
        tta: Average with the mirrored image (left and right limbs alike).
    """
    probabilities = model(images)
    if tta:
        probabilities = (probabilities + model(torch.flip(images, dims=[-1]))) / 2
    return probabilities.double().cpu()


def _fill(results: list[ImagePrediction], indices: list[int], members: torch.Tensor) -> None:
    for index, row in zip(indices, members.tolist(), strict=True):
        results[index].members = row
        results[index].probability = sum(row) / len(row)


def write_predictions_csv(
    path: Path, results: Sequence[ImagePrediction], predictor: Predictor
) -> None:
    """``path,probability,prediction,error`` (+ ``overlay`` with explanations, + ``member_<i>``
    columns for an ensemble)."""
    member_count = len(predictor.sources) if predictor.is_ensemble else 0
    overlays = any(r.overlay for r in results)
    header = ["path", "probability", "prediction", "error", *(["overlay"] * overlays)]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*header, *(f"member_{i}" for i in range(member_count))])
        for r in results:
            row = [*_row(r, predictor.threshold, overlays), *_members(r, member_count)]
            writer.writerow(safe_row(row))


def _row(result: ImagePrediction, threshold: float, overlays: bool) -> list:
    probability = f"{result.probability:.6f}" if result.probability is not None else ""
    row = [result.path, probability, result.label(threshold), result.error or ""]
    return [*row, result.overlay or ""] if overlays else row


def _members(result: ImagePrediction, count: int) -> list[str]:
    if not count:
        return []
    return [f"{p:.6f}" for p in result.members] if result.members else [""] * count


def summary_line(results: Sequence[ImagePrediction], predictor: Predictor) -> str:
    counts = {name: 0 for name in (*CLASS_NAMES, "unreadable")}
    for r in results:
        counts[r.label(predictor.threshold) or "unreadable"] += 1
    parts = ", ".join(f"{count} {name}" for name, count in counts.items())
    return f"{len(results)} images: {parts} (threshold {predictor.threshold:.3f})"
