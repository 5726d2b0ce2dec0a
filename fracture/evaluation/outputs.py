"""Writing an evaluation: predictions.csv, figures, TensorBoard; metrics returned for JSON."""

from pathlib import Path

import numpy as np
import torch

from fracture.evaluation.calibration import reliability_curve
from fracture.evaluation.evaluate import Evaluation
from fracture.evaluation.figures import (
    OperatingPoint,
    pr_figure,
    reliability_figure,
    roc_figure,
)
from fracture.evaluation.predictions import write_predictions
from fracture.figures import confusion_matrix_figure
from fracture.labels import CLASS_NAMES
from fracture.run_files import FIGURES, PREDICTIONS_FILE


def write_evaluation(
    out_dir: Path, evaluation: Evaluation, writer=None, step: int = 0, run: str = ""
) -> dict:
    """Write the files of one evaluation into ``out_dir``; log them to a TensorBoard writer.

    Args:
        run: The run's name for the figure titles; the output directory's name by default.

    Returns:
        The evaluation's metrics (for ``metrics.json``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    probabilities = evaluation.probabilities
    labels = evaluation.predictions.labels
    write_predictions(
        out_dir / PREDICTIONS_FILE, evaluation.predictions, probabilities, evaluation.threshold
    )
    figures = _figures(evaluation, probabilities, labels, run or out_dir.name)
    for name, figure in figures.items():
        figure.savefig(out_dir / f"{name}.png", dpi=120)
    if writer is not None:
        _log(writer, evaluation, figures, step)
    return evaluation.metrics


def _figures(evaluation: Evaluation, probabilities: np.ndarray, labels: np.ndarray, run: str):
    split = evaluation.split
    matrix = np.asarray(evaluation.metrics[f"{split}/confusion_matrix"])
    point = _operating_point(matrix, evaluation.threshold)
    title = f"{run}: {split}"
    curves, points = {split: (probabilities, labels)}, {split: point}
    figures = [
        confusion_matrix_figure(matrix, CLASS_NAMES, f"{title}, {point.label}"),
        roc_figure(curves, points, title),
        pr_figure(curves, points, title),
        reliability_figure(reliability_curve(probabilities, labels), title),
    ]
    return dict(zip(FIGURES, figures, strict=True))


def _operating_point(matrix: np.ndarray, threshold: float) -> OperatingPoint:
    """The point of a [[tn, fp], [fn, tp]] matrix decided at ``threshold``."""
    (tn, fp), (fn, tp) = matrix
    return OperatingPoint(
        threshold, fp / max(tn + fp, 1), tp / max(tp + fn, 1), tp / max(tp + fp, 1)
    )


def _log(writer, evaluation: Evaluation, figures: dict, step: int) -> None:
    split = evaluation.split
    for key, value in evaluation.metrics.items():
        if isinstance(value, float) and key.startswith(f"{split}"):
            writer.add_scalar(key, value, step)
    for name, figure in figures.items():
        writer.add_figure(f"{split}/{name}", figure, step, close=False)
    writer.add_pr_curve(
        f"{split}/pr_curve",
        torch.as_tensor(evaluation.predictions.labels),
        torch.as_tensor(evaluation.probabilities),
        step,
    )
    writer.flush()
