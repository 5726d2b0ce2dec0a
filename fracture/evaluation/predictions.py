"""Model outputs on a list of samples, and their ``predictions.csv``."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from fracture.data.dataset import RadiographDataset
from fracture.data.decode import DEFAULT_MAX_PIXELS
from fracture.data.samples import Sample
from fracture.evaluation.calibration import apply_temperature
from fracture.evaluation.units import resampling_units
from fracture.labels import CLASS_NAMES
from fracture.prediction_table import PredictionRow, read_prediction_table, write_prediction_table
from fracture.trained.loop import numbered, run_batches


@dataclass
class Predictions:
    """Logits of one split, aligned with its samples."""

    samples: list[Sample]
    logits: np.ndarray  # (N, 2) float64, before temperature scaling

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)

    @property
    def units(self) -> tuple[list[str], str]:
        """Resampling unit of each image and its level (:mod:`fracture.evaluation.units`)."""
        return resampling_units(
            [s.group for s in self.samples],
            [s.study for s in self.samples],
            [str(s.path) for s in self.samples],
        )

    def probabilities(self, temperature: float = 1.0) -> np.ndarray:
        """P(fractured) after dividing the logits by ``temperature``."""
        return apply_temperature(self.logits, temperature)


def predict_samples(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    batch_size: int = 64,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Predictions:
    """Run ``model`` (eval mode) over ``samples`` with the model's own preprocessing."""
    if not samples:
        return Predictions([], np.zeros((0, 2)))
    transform = model.preprocessing.eval_transform()
    loader = DataLoader(
        RadiographDataset(samples, transform, max_pixels),
        batch_size=batch_size,
        num_workers=num_workers,
    )
    model.eval().to(device)
    logits = run_batches(lambda x: model(x).double(), numbered(loader), len(samples), device)
    return Predictions(list(samples), logits.values.numpy())


def write_predictions(
    path: Path, predictions: Predictions, probabilities: np.ndarray, threshold: float
) -> None:
    """The evaluated images as a ``predictions.csv`` (:mod:`fracture.prediction_table`)."""
    rows = (
        PredictionRow(
            sample.path,
            float(p),
            CLASS_NAMES[int(p >= threshold)],
            label=CLASS_NAMES[sample.label],
            group=sample.group or "",
            study=sample.study or "",
        )
        for sample, p in zip(predictions.samples, probabilities, strict=True)
    )
    write_prediction_table(path, rows)


def read_predictions(path: Path) -> dict[str, np.ndarray | list]:
    """An evaluation's ``predictions.csv`` as columns: ``path``, ``label`` (0/1),
    ``probability``, ``prediction`` (0/1), ``group``, ``study``."""
    rows = read_prediction_table(path)
    return {
        "path": [r["path"] for r in rows],
        "label": np.array([CLASS_NAMES.index(r["label"]) for r in rows], dtype=np.int64),
        "probability": np.array([float(r["probability"]) for r in rows]),
        "prediction": np.array([CLASS_NAMES.index(r["prediction"]) for r in rows], dtype=np.int64),
        "group": [r["group"] or None for r in rows],
        "study": [r.get("study") or None for r in rows],
    }
