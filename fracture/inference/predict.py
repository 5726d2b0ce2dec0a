"""Batch prediction: image files → P(fractured) and decisions, unreadable files reported."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from fracture.data.decode import DEFAULT_MAX_PIXELS
from fracture.data.input_files import InputFiles
from fracture.data.inspection import DEFAULT_DECODE_TIMEOUT_S
from fracture.labels import CLASS_NAMES
from fracture.prediction_table import PredictionRow, write_prediction_table
from fracture.trained.backends import TorchBackend
from fracture.trained.loop import LoopOutputs, collate_inputs, run_batches
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
    backend=None,
) -> list[ImagePrediction]:
    """Predict every path in order; unreadable inputs keep their place with the reason.

    Args:
        tta: Also predict the horizontally flipped image and average the probabilities.
        decode_timeout_s: Deadline for decoding one file; a later one is unreadable.
        backend: What runs the model (:mod:`fracture.trained.backends`); ``None`` is PyTorch
            on ``device`` with ``tta``.
    """
    backend = backend or TorchBackend(predictor.model, device, tta)
    transform = predictor.preprocessing.eval_transform()
    dataset = InputFiles(paths, transform, max_pixels, decode_timeout_s)
    loader = DataLoader(dataset, batch_size, num_workers=num_workers, collate_fn=collate_inputs)
    try:
        outputs = run_batches(
            backend, loader, len(dataset), backend.device, "predicting" if progress else None
        )
    finally:
        dataset.close()
    return [_result(Path(path), outputs, index) for index, path in enumerate(paths)]


def _result(path: Path, outputs: LoopOutputs, index: int) -> ImagePrediction:
    members = outputs.row(index)
    if members is None:
        return ImagePrediction(path, error=outputs.errors[index])
    row = members.tolist()
    return ImagePrediction(path, sum(row) / len(row), row)


def write_predictions_csv(
    path: Path, results: Sequence[ImagePrediction], predictor: Predictor
) -> None:
    """The predictions as a ``predictions.csv`` (:mod:`fracture.prediction_table`): no labels,
    ``error`` for unreadable files, ``overlay`` with explanations, members of an ensemble."""
    rows = (
        PredictionRow(
            r.path,
            r.probability,
            r.label(predictor.threshold),
            error=r.error or "",
            overlay=r.overlay or "",
            members=r.members,
        )
        for r in results
    )
    members = len(predictor.sources) if predictor.is_ensemble else 0
    write_prediction_table(path, rows, members, overlays=any(r.overlay for r in results))


def summary_line(results: Sequence[ImagePrediction], predictor: Predictor) -> str:
    counts = {name: 0 for name in (*CLASS_NAMES, "unreadable")}
    for r in results:
        counts[r.label(predictor.threshold) or "unreadable"] += 1
    parts = ", ".join(f"{count} {name}" for name, count in counts.items())
    return f"{len(results)} images: {parts} (threshold {predictor.threshold:.3f})"
